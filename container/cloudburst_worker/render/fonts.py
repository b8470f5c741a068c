"""Which font files draw subtitles, and which characters each can draw.

Lookup order, per language: ``CLOUDBURST_FONTS_DIR`` (if set, the only place searched),
then fonts shipped as Python wheels (``noto-cjk-sans-otc``, ``fontpkg-noto-sans``), then the
system's font directories (the container image installs Debian ``fonts-noto-cjk`` and
``fonts-noto-core``). Families are matched by the names inside the files, read with the
tiny OpenType reader below, so no fontconfig query is needed and libass gets exactly the
files we checked coverage against.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from chalicelib.contracts import Language

# Preferred families, best first. The seed's Chinese face was LXGW WenKai (Bold); Noto
# Sans CJK SC is what the wheel and Debian's fonts-noto-cjk carry.
FAMILIES: dict[Language, tuple[str, ...]] = {
    "chinese": ("Noto Sans CJK SC", "LXGW WenKai", "Source Han Sans SC", "WenQuanYi Zen Hei"),
    "english": ("Noto Sans", "DejaVu Sans", "Liberation Sans", "Noto Sans CJK SC"),
}
SYSTEM_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")


@dataclass(frozen=True)
class Font:
    family: str
    path: Path
    codepoints: frozenset[int] = field(repr=False)

    def draws(self, char: str) -> bool:
        return ord(char) in self.codepoints


class FontError(Exception):
    """No usable font: the message names what to install."""


def subtitle_fonts(language: Language) -> list[Font]:
    """The language's font first, then the other language's as glyph fallback."""
    other: Language = "english" if language == "chinese" else "chinese"
    fonts: list[Font] = []
    for lang in (language, other):
        font = _find_family(FAMILIES[lang])
        if font is not None and font not in fonts:
            fonts.append(font)
    if not fonts or fonts[0].family not in FAMILIES[language]:
        raise FontError(
            f"no {language} subtitle font installed (wanted one of {', '.join(FAMILIES[language])})"
        )
    return fonts


def _find_family(families: tuple[str, ...]) -> Font | None:
    """First family (in preference order) found in the first place that has it; places
    are scanned only as far as needed, so the wheels usually spare the system scan."""
    override = os.environ.get("CLOUDBURST_FONTS_DIR")
    roots = [Path(override)] if override else [*_wheel_dirs(), *SYSTEM_DIRS]
    for family in families:
        for root in roots:
            for face_family, path in _faces_in(root):
                if face_family == family:
                    return Font(family, path, _codepoints(path, family))
    return None


@cache
def _faces_in(root: Path) -> list[tuple[str, Path]]:
    """(family, file) for every face under ``root``, upright regular files first."""
    if not root.is_dir():
        return []
    faces: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in FONT_SUFFIXES or not path.is_file():
            continue
        try:
            faces.extend((family, path) for family in font_families(path))
        except (OSError, ValueError, struct.error):
            continue  # unreadable or not an OpenType file: skip it
    faces.sort(key=lambda face: _style_rank(face[1].name))
    return faces


def _style_rank(filename: str) -> int:
    lowered = filename.lower()
    return sum(word in lowered for word in ("italic", "oblique", "bold", "light", "thin", "mono"))


def _wheel_dirs() -> list[Path]:
    dirs: list[Path] = []
    for module in ("noto_cjk_sans_otc", "fontpkg_noto_sans"):
        try:
            imported = __import__(module)
        except ImportError:
            continue
        if imported.__file__:
            dirs.append(Path(imported.__file__).parent)
    return dirs


# --- minimal OpenType reading: the name and cmap tables, TTC collections included ---


def font_families(path: Path) -> list[str]:
    """Family names of every face in ``path`` (typographic family, else family)."""
    with _mapped(path) as data:
        return [_family(data, offset) for offset in _face_offsets(data)]


@cache
def _codepoints(path: Path, family: str) -> frozenset[int]:
    with _mapped(path) as data:
        for offset in _face_offsets(data):
            if _family(data, offset) == family:
                return frozenset(_cmap(data, offset))
    return frozenset()


def _mapped(path: Path) -> mmap.mmap:
    """Memory-map a font: only the few tables we read are paged in, not 20 MB CJK files."""
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _face_offsets(data: mmap.mmap) -> list[int]:
    if data[:4] == b"ttcf":
        (count,) = struct.unpack(">I", data[8:12])
        return list(struct.unpack(f">{count}I", data[12 : 12 + 4 * count]))
    return [0]


def _tables(data: mmap.mmap, offset: int) -> dict[bytes, tuple[int, int]]:
    (count,) = struct.unpack(">H", data[offset + 4 : offset + 6])
    tables = {}
    for i in range(count):
        tag, _, start, length = struct.unpack(
            ">4sIII", data[offset + 12 + 16 * i : offset + 28 + 16 * i]
        )
        tables[tag] = (start, length)
    return tables


def _family(data: mmap.mmap, offset: int) -> str:
    start, _ = _tables(data, offset)[b"name"]
    _, count, strings = struct.unpack(">HHH", data[start : start + 6])
    found: dict[int, str] = {}
    for i in range(count):
        platform, encoding, language, name_id, length, at = struct.unpack(
            ">HHHHHH", data[start + 6 + 12 * i : start + 18 + 12 * i]
        )
        if platform == 3 and encoding in (1, 10) and language == 0x409 and name_id in (1, 16):
            raw = data[start + strings + at : start + strings + at + length]
            found[name_id] = raw.decode("utf-16-be", "replace")
    family = found.get(16) or found.get(1)
    if family is None:
        raise ValueError("no English family name")
    return family


def _cmap(data: mmap.mmap, offset: int) -> set[int]:
    start, _ = _tables(data, offset)[b"cmap"]
    _, count = struct.unpack(">HH", data[start : start + 4])
    subtables: dict[int, int] = {}
    for i in range(count):
        platform, encoding, sub = struct.unpack(
            ">HHI", data[start + 4 + 8 * i : start + 12 + 8 * i]
        )
        if (platform, encoding) in ((3, 10), (0, 4), (0, 6)):
            subtables.setdefault(12, start + sub)
        elif (platform, encoding) in ((3, 1), (0, 3), (0, 1), (0, 0)):
            subtables.setdefault(4, start + sub)
    if 12 in subtables and struct.unpack(">H", data[subtables[12] : subtables[12] + 2])[0] == 12:
        return _cmap12(data, subtables[12])
    if 4 in subtables and struct.unpack(">H", data[subtables[4] : subtables[4] + 2])[0] == 4:
        return _cmap4(data, subtables[4])
    raise ValueError("no Unicode cmap")


def _cmap12(data: mmap.mmap, at: int) -> set[int]:
    (groups,) = struct.unpack(">I", data[at + 12 : at + 16])
    points: set[int] = set()
    for i in range(groups):
        first, last, _ = struct.unpack(">III", data[at + 16 + 12 * i : at + 28 + 12 * i])
        points.update(range(first, last + 1))
    return points


def _cmap4(data: mmap.mmap, at: int) -> set[int]:
    (seg_x2,) = struct.unpack(">H", data[at + 6 : at + 8])
    segs = seg_x2 // 2
    ends = struct.unpack(f">{segs}H", data[at + 14 : at + 14 + seg_x2])
    starts_at = at + 16 + seg_x2
    starts = struct.unpack(f">{segs}H", data[starts_at : starts_at + seg_x2])
    deltas = struct.unpack(f">{segs}h", data[starts_at + seg_x2 : starts_at + 2 * seg_x2])
    range_at = starts_at + 2 * seg_x2
    offsets = struct.unpack(f">{segs}H", data[range_at : range_at + seg_x2])
    points: set[int] = set()
    for i in range(segs):
        for code in range(starts[i], ends[i] + 1):
            if code == 0xFFFF:
                continue
            if offsets[i] == 0:
                glyph = (code + deltas[i]) & 0xFFFF
            else:
                where = range_at + 2 * i + offsets[i] + 2 * (code - starts[i])
                (glyph,) = struct.unpack(">H", data[where : where + 2])
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                points.add(code)
    return points
