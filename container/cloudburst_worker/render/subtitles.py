"""SRT → one ASS file in the seed's look, burned in by libass inside the single encode.

Look (sizes scale with the frame so landscape and portrait match): white text centred at
the bottom; with ``background_box`` one black box behind each cue (libass BorderStyle 4)
whose ASS alpha is ``background_opacity x 255`` — the seed's meaning, 0 solid .. 1
invisible; without it, black-outlined text. Chinese is bold, like the seed.

We wrap lines ourselves (libass only breaks at spaces, so Chinese would never wrap) using
conservative advance widths, and route characters the main font lacks to a fallback font
with ``\\fn`` overrides; a character no installed font has fails the scene with a reason.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cloudburst_worker.render.fonts import Font, FontError, subtitle_fonts
from cloudburst_worker.render.scene import RenderSettings

FONT_SIZE_FRACTION = 0.05  # of the frame's short side: 54 px on 1080p and 1080x1920
SIDE_MARGIN_FRACTION = 0.06  # of the frame width
BOTTOM_MARGIN_FRACTION = 0.07  # of the frame height
BOX_PADDING_FRACTION = 0.25  # of the font size (ASS Outline in BorderStyle 4)
OUTLINE_FRACTION = 0.06  # of the font size, outlined-text mode
# Conservative advance widths in em for our own wrapping (real glyphs are narrower).
WIDE_EM, NARROW_EM, SPACE_EM = 1.0, 0.56, 0.28

_TIME = r"(\d+):(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-+>\s*{_TIME}")
_TAG = re.compile(r"<[^>]*>|\{[^}]*\}")


class SubtitleError(Exception):
    """The SRT cannot be used; the message is for the user."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class AssDocument:
    text: str
    font_files: tuple[Path, ...]


def build_ass(
    srt: Path, settings: RenderSettings, width: int, height: int, audio_seconds: float
) -> AssDocument:
    """Read ``srt`` and return the ASS document (raises SceneError-worthy SubtitleError)."""
    try:
        fonts = subtitle_fonts(settings.language)
    except FontError as exc:
        raise SubtitleError(f"subtitle '{srt.name}' cannot be drawn: {exc}") from exc
    cues = parse_srt(read_srt(srt), srt.name)
    cues = clip_to(cues, audio_seconds)
    text = ass_document(cues, fonts, settings, width, height, srt.name)
    return AssDocument(text=text, font_files=tuple(dict.fromkeys(f.path for f in fonts)))


def read_srt(path: Path) -> str:
    if not path.is_file():
        raise SubtitleError(f"subtitle '{path.name}' does not exist")
    raw = path.read_bytes()
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubtitleError(
            f"subtitle '{path.name}' is not UTF-8 text (undecodable at byte offset {exc.start}); "
            "save it as UTF-8"
        ) from exc


def parse_srt(text: str, name: str) -> list[Cue]:
    """Lenient SRT: optional indices, CRLF, BOM, ``.`` or ``,`` millis, extra blank lines.

    A block without a timing line is an error naming its line number, since silently
    dropping narration text is worse than failing the scene.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues: list[Cue] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if lines[i].strip().isdigit() and i + 1 < len(lines):
            i += 1  # the cue number
        match = _TIMING.match(lines[i])
        if match is None:
            raise SubtitleError(
                f"subtitle '{name}' line {i + 1}: expected a timing line like "
                f"'00:00:01,000 --> 00:00:02,500', got {lines[i].strip()[:60]!r}"
            )
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip():
            body.append(lines[i])
            i += 1
        cleaned = tuple(c for c in (_clean(line) for line in body) if c)
        if cleaned and end > start:
            cues.append(Cue(start, end, cleaned))
    return cues


def clip_to(cues: list[Cue], seconds: float) -> list[Cue]:
    """Drop cues starting after the narration ends; cut the rest at its end."""
    return [Cue(c.start, min(c.end, seconds), c.lines) for c in cues if c.start < seconds]


def ass_document(
    cues: list[Cue],
    fonts: list[Font],
    settings: RenderSettings,
    width: int,
    height: int,
    name: str,
) -> str:
    size = round(min(width, height) * FONT_SIZE_FRACTION)
    side = round(width * SIDE_MARGIN_FRACTION)
    bottom = round(height * BOTTOM_MARGIN_FRACTION)
    bold = -1 if settings.language == "chinese" else 0
    alpha = round(min(max(settings.background_opacity, 0.0), 1.0) * 255)
    if settings.background_box:
        border_style, border = 4, size * BOX_PADDING_FRACTION
        outline_colour, back_colour = "&HFF000000", f"&H{alpha:02X}000000"
    else:
        border_style, border = 1, size * OUTLINE_FRACTION
        outline_colour, back_colour = "&H00000000", "&HFF000000"
    max_em = (width - 2 * side - 2 * border) / size
    primary = fonts[0]
    events = []
    for number, cue in enumerate(cues, start=1):
        wrapped = [w for line in cue.lines for w in wrap(line, max_em)]
        body = r"\N".join(_with_fallback(line, fonts, name, number) for line in wrapped)
        events.append(
            f"Dialogue: 0,{_ass_time(cue.start)},{_ass_time(cue.end)},Default,,0,0,0,,{body}"
        )
    return "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {width}",
            f"PlayResY: {height}",
            "WrapStyle: 0",
            "ScaledBorderAndShadow: yes",
            "YCbCr Matrix: TV.709",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour,"
            " BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle,"
            " BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
            f"Style: Default,{primary.family},{size},&H00FFFFFF,&H00FFFFFF,{outline_colour},"
            f"{back_colour},{bold},0,0,0,100,100,0,0,{border_style},{border:.1f},0,2,"
            f"{side},{side},{bottom},1",
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
            *events,
            "",
        ]
    )


def wrap(line: str, max_em: float) -> list[str]:
    """Greedy wrap by estimated width: at spaces for spaced scripts, anywhere between
    wide (CJK) characters, and hard-split any single word longer than a line."""
    out: list[str] = []
    current, width = "", 0.0
    for token in re.findall(r"\s+|[^\s\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]+|.", line):
        token_em = sum(_em(ch) for ch in token)
        if token.isspace():
            if current:
                current, width = current + " ", width + SPACE_EM
            continue
        if width + token_em > max_em and current.strip():
            out.append(current.rstrip())
            current, width = "", 0.0
        while token_em > max_em:  # one over-long word: cut it where it overflows
            cut, used = 0, 0.0
            while cut < len(token) and used + _em(token[cut]) <= max_em:
                used += _em(token[cut])
                cut += 1
            cut = max(cut, 1)
            out.append(token[:cut])
            token = token[cut:]
            token_em = sum(_em(ch) for ch in token)
        current, width = current + token, width + token_em
    if current.strip():
        out.append(current.rstrip())
    return out


def _em(char: str) -> float:
    if char.isspace():
        return SPACE_EM
    return WIDE_EM if unicodedata.east_asian_width(char) in ("W", "F") else NARROW_EM


def _with_fallback(line: str, fonts: list[Font], name: str, number: int) -> str:
    primary = fonts[0]
    out: list[str] = []
    current: Font | None = primary
    for char in line:
        if char.isspace() or unicodedata.category(char) in ("Cf", "Cc"):
            font = current
        elif primary.draws(char):
            font = primary
        else:
            font = next((f for f in fonts[1:] if f.draws(char)), None)
            if font is None:
                raise SubtitleError(
                    f"subtitle '{name}' cue {number}: no installed font can draw "
                    f"{char!r} (U+{ord(char):04X})"
                )
        if font is not current and font is not None:
            out.append(r"{\fn" + font.family + "}" if font is not primary else r"{\fn}")
            current = font
        out.append(char)
    return "".join(out)


def _clean(line: str) -> str:
    """Strip HTML-ish and ASS override tags; neutralise backslash escapes like ``\\N``."""
    text = _TAG.sub("", line).replace("{", "(").replace("}", ")")
    text = text.replace("\\", "\\\u2060")  # word joiner: shows the backslash, breaks \N
    return " ".join(text.split())


def _seconds(parts: tuple[str | None, ...]) -> float:
    hours, minutes, secs, millis = parts
    frac = int((millis or "0").ljust(3, "0"))
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0) + frac / 1000


def _ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"
