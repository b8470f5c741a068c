"""Media the worker renders is what the user sent: a file cut short fails its scene, named.

Each file is encoded here, then cut; the same file whole still renders (no false alarm).
A picture far larger than the frame is decoded at reduced size, within the smallest
profile's memory, measured in a subprocess.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, bigpng, render_scene
from render_media import make_tone

from chalicelib.pricing import PROFILES

STILL = RenderSettings(enable_zoom=False)
CODECS = {
    ".mp3": "libmp3lame",
    ".m4a": "aac",
    ".wav": "pcm_s16le",
    ".ogg": "libopus",
    ".flac": "flac",
}
SMALLEST_PROFILE_MIB = min(p.memory_gb for p in PROFILES.values()) * 1024


def cut(path: Path, keep: float = 0.5) -> Path:
    """A copy of ``path`` with only its first ``keep`` share of bytes."""
    data = path.read_bytes()
    target = path.with_name(f"cut-{path.name}")
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(7)
    image = cv2.GaussianBlur((rng.random((360, 640, 3)) * 255).astype(np.uint8), (0, 0), 4)
    made = {}
    for suffix in (".jpg", ".png", ".webp"):
        ok, encoded = cv2.imencode(suffix, image)
        assert ok
        made[suffix] = folder / f"slide{suffix}"
        made[suffix].write_bytes(encoded.tobytes())
    return made


@pytest.fixture(scope="module")
def narrations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("narrations")
    made = {}
    for suffix, codec in CODECS.items():
        target = folder / f"voice{suffix}"
        faststart = ["-movflags", "+faststart"] if suffix == ".m4a" else []
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "sine=f=330:d=1.2", "-ac", "2", "-ar", "48000",
             "-c:a", codec, *faststart, str(target)],
            check=True, timeout=60,
        )  # fmt: skip
        made[suffix] = target
    return made


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_a_picture_cut_short_fails_its_scene_naming_the_file(
    tmp_path: Path, pictures: dict[str, Path], tone: Path, suffix: str
) -> None:
    damaged = cut(pictures[suffix])

    result = render_scene(SceneInput("s", damaged, tone), STILL, tmp_path / "s.mp4")

    assert not result.ok
    assert f"image '{damaged.name}'" in (result.error or "")
    assert not (tmp_path / "s.mp4").exists()


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_a_whole_picture_of_each_kind_renders(
    tmp_path: Path, pictures: dict[str, Path], tone: Path, suffix: str
) -> None:
    result = render_scene(SceneInput("s", pictures[suffix], tone), STILL, tmp_path / "s.mp4")

    assert result.ok, result.error


@pytest.mark.parametrize("suffix", list(CODECS))
def test_a_narration_cut_short_fails_its_scene_naming_the_file(
    tmp_path: Path, narrations: dict[str, Path], picture: Path, suffix: str
) -> None:
    damaged = cut(narrations[suffix], 0.6)

    result = render_scene(SceneInput("s", picture, damaged), STILL, tmp_path / "s.mp4")

    assert not result.ok
    assert f"audio '{damaged.name}'" in (result.error or "")


@pytest.mark.parametrize("suffix", list(CODECS))
def test_a_whole_narration_of_each_kind_renders(
    tmp_path: Path, narrations: dict[str, Path], picture: Path, suffix: str
) -> None:
    result = render_scene(SceneInput("s", picture, narrations[suffix]), STILL, tmp_path / "s.mp4")

    assert result.ok, result.error
    assert result.duration_seconds == pytest.approx(1.2, abs=0.1)


def test_a_png_failing_its_checksum_fails_its_scene(
    tmp_path: Path, pictures: dict[str, Path], tone: Path
) -> None:
    data = bytearray(pictures[".png"].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside IDAT
    damaged = tmp_path / "flipped.png"
    damaged.write_bytes(bytes(data))

    result = render_scene(SceneInput("s", damaged, tone), STILL, tmp_path / "s.mp4")

    assert not result.ok
    assert "image 'flipped.png'" in (result.error or "")
    assert "CRC" in (result.error or "")


def huge_png(path: Path, side: int) -> Path:
    """A ``side``×``side`` RGB PNG of coloured bands, written row by row: never whole in
    memory here either (decoded whole, it is ``side``² × 3 bytes)."""
    rows = zlib.compressobj(1)
    body = bytearray()
    row = b""
    for y in range(side):
        if y % 256 == 0:
            band = y // 256
            row = b"\x00" + bytes(((band * 40) % 256, (band * 90) % 256, 200)) * side
        body += rows.compress(row)
    body += rows.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", bytes(body))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    return path


_MEASURE = """
import json, resource, sys
from pathlib import Path
from cloudburst_worker.render import RenderSettings, SceneInput, bigpng, render_scene
image, audio, out = map(Path, sys.argv[1:4])
result = render_scene(SceneInput("huge", image, audio), RenderSettings(), out)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"ok": result.ok, "error": result.error,
                  "self_kib": peak, "ffmpeg_kib": children}))
"""


def test_a_20000_pixel_square_png_renders_within_the_smallest_profiles_memory(
    tmp_path: Path,
) -> None:
    # given a 20000×20000 PNG (1.2 GB as RGB pixels: decoded whole, then converted, it
    # took 2.5 GB) and a short narration
    image = huge_png(tmp_path / "poster.png", 20_000)
    audio = make_tone(tmp_path / "voice.mp3", 0.5)
    worker = Path(__file__).resolve().parents[2] / "container"

    # when one scene is rendered from it in a process of its own (zoom on: the big path)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(image), str(audio), str(tmp_path / "out.mp4")],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PYTHONPATH": f"{worker}{':'}{Path(__file__).resolve().parents[2]}",
             "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])

    # then it rendered, and the worker plus its largest ffmpeg stayed under 2 GB
    assert measured["ok"], measured["error"]
    peak_mib = (measured["self_kib"] + measured["ffmpeg_kib"]) / 1024
    assert peak_mib < SMALLEST_PROFILE_MIB, peak_mib


@pytest.mark.parametrize("channels", [3, 4, 1])
def test_a_large_png_shrunk_strip_by_strip_matches_the_whole_picture_shrunk(
    channels: int,
) -> None:
    # given a 3000×1998 PNG (several 8 MB strips; OpenCV's encoder picks Paeth/Up/Sub rows)
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur((rng.random((1998, 3000, channels)) * 255).astype(np.uint8), (0, 0), 2)
    ok, encoded = cv2.imencode(".png", image)
    assert ok

    # when it is decoded to at most 500 px a side without ever being whole
    shrunk = bigpng.decode_png_shrunk(encoded.tobytes(), 500)

    # then it is the whole picture area-averaged by 6, in RGB(A)
    whole = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)).reshape(1998, 3000, channels)
    expected = cv2.resize(whole, (500, 333), interpolation=cv2.INTER_AREA)
    expected = expected.reshape(333, 500, channels)
    if channels >= 3:
        expected = expected[:, :, [2, 1, 0, 3][:channels]]  # OpenCV's BGR(A) → RGB(A)
    else:
        expected = np.repeat(expected, 3, axis=2)
    assert shrunk.shape == expected.shape
    assert np.abs(shrunk.astype(int) - expected.astype(int)).max() <= 1


def test_a_large_16_bit_png_is_shrunk_to_8_bits() -> None:
    rng = np.random.default_rng(4)
    image = cv2.GaussianBlur((rng.random((1200, 1800, 3)) * 65535).astype(np.uint16), (0, 0), 2)
    ok, encoded = cv2.imencode(".png", image)
    assert ok

    shrunk = bigpng.decode_png_shrunk(encoded.tobytes(), 300)

    expected = cv2.resize(image >> 8, (300, 200), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    assert shrunk.dtype == np.uint8
    assert shrunk.shape == expected.shape
    assert np.abs(shrunk.astype(int) - expected.astype(int)).max() <= 1
