"""A JPEG damaged in the middle fails its scene: libjpeg's own word, read from its stderr.

libjpeg decodes past a zeroed, cut or overwritten stretch of entropy-coded data as if it were
whole (a smeared band, the rest shifted) and says so only in a warning printed to stderr.
Every valid encoding must still decode without a false alarm, whatever its options.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, damage, native_stderr, render_scene
from cloudburst_worker.render.frames import MAX_FULL_DECODE_PIXELS, decode_picture
from hypothesis import given, settings
from hypothesis import strategies as st

ENCODINGS = {
    "baseline": [cv2.IMWRITE_JPEG_QUALITY, 95],
    "restart intervals": [cv2.IMWRITE_JPEG_QUALITY, 75, cv2.IMWRITE_JPEG_RST_INTERVAL, 4],
    "progressive": [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
}


def photo(height: int, width: int, seed: int = 7) -> np.ndarray:
    """Blurred noise: detail everywhere, so every stretch of the scan carries pixels."""
    rng = np.random.default_rng(seed)
    noise = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 4)


def encode(image: np.ndarray, params: list[int]) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, params)
    assert ok
    return encoded.tobytes()


def damaged(data: bytes, how: str, at: float, length: int) -> bytes:
    """``data`` with ``length`` bytes zeroed, removed or overwritten ``at`` a share of its scan."""
    scan = data.index(b"\xff\xda") + 200
    pos = scan + int((len(data) - 10 - length - scan) * at)
    tail = data[pos + length :]
    if how == "zeroed":
        return data[:pos] + bytes(length) + tail
    if how == "removed":
        return data[:pos] + tail
    garbage = random.Random(pos).randbytes(length)
    return data[:pos] + garbage + tail


@pytest.fixture(scope="module")
def jpegs() -> dict[str, bytes]:
    image = photo(360, 640)
    return {name: encode(image, params) for name, params in ENCODINGS.items()}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("how", ["zeroed", "removed", "overwritten"])
@pytest.mark.parametrize("at", [0.25, 0.5, 0.75])
def test_a_stretch_lost_in_the_middle_is_named(
    tmp_path: Path, jpegs: dict[str, bytes], encoding: str, how: str, at: float
) -> None:
    path = tmp_path / "slide.jpg"
    path.write_bytes(damaged(jpegs[encoding], how, at, 1024))
    if how != "overwritten":  # random bytes may also break a marker; these never do
        assert damage.picture_damage(path.read_bytes()) is None

    with pytest.raises(ValueError, match=r"^the JPEG file is damaged \(.+\)$"):
        decode_picture(path, timeout=30)


def test_the_scene_fails_naming_the_picture_and_the_damage(tmp_path: Path, tone: Path) -> None:
    path = tmp_path / "slide.jpg"
    path.write_bytes(damaged(encode(photo(360, 640), ENCODINGS["baseline"]), "zeroed", 0.5, 2048))

    result = render_scene(
        SceneInput("s", path, tone), RenderSettings(enable_zoom=False), tmp_path / "s.mp4"
    )

    assert not result.ok
    assert "image 'slide.jpg'" in (result.error or "")
    assert "the JPEG file is damaged" in (result.error or "")
    assert not (tmp_path / "s.mp4").exists()


def test_a_picture_too_large_to_decode_whole_is_checked_too(tmp_path: Path) -> None:
    """The reduced decode (libjpeg's scaled IDCT) reads the whole scan and warns the same."""
    side = int(MAX_FULL_DECODE_PIXELS**0.5) + 64
    image = cv2.resize(photo(side // 8, side // 8), (side, side))
    whole = encode(image, ENCODINGS["baseline"])
    path = tmp_path / "poster.jpg"
    path.write_bytes(whole)
    assert decode_picture(path, timeout=60).shape[0] <= 4096

    path.write_bytes(damaged(whole, "removed", 0.5, 4096))
    with pytest.raises(ValueError, match="the JPEG file is damaged"):
        decode_picture(path, timeout=60)


@given(
    quality=st.integers(10, 100),
    progressive=st.booleans(),
    optimize=st.booleans(),
    restart=st.sampled_from([0, 1, 7, 64]),
    grey=st.booleans(),
    size=st.tuples(st.integers(8, 300), st.integers(8, 300)),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60, deadline=None)
def test_every_valid_encoding_decodes_without_a_false_alarm(
    tmp_path_factory: pytest.TempPathFactory,
    quality: int,
    progressive: bool,
    optimize: bool,
    restart: int,
    grey: bool,
    size: tuple[int, int],
    seed: int,
) -> None:
    image = photo(*size, seed=seed)
    params = [
        cv2.IMWRITE_JPEG_QUALITY, quality,
        cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive),
        cv2.IMWRITE_JPEG_OPTIMIZE, int(optimize),
        cv2.IMWRITE_JPEG_RST_INTERVAL, restart,
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("jpeg") / "slide.jpg"
    path.write_bytes(encode(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if grey else image, params))

    assert decode_picture(path, timeout=30).shape[:2] == size


@pytest.mark.parametrize(
    ("warning", "damaged_by_it"),
    [
        ("Corrupt JPEG data: 1 extraneous bytes before marker 0xd9", False),  # encoder slop
        ("Corrupt JPEG data: 8 extraneous bytes before marker 0xda", False),
        ("Corrupt JPEG data: 9 extraneous bytes before marker 0xd9", True),
        ("Corrupt JPEG data: 2 extraneous bytes before marker 0xd3", True),  # restart out of step
        ("Corrupt JPEG data: premature end of data segment", True),
        ("Corrupt JPEG data: bad Huffman code", True),
        ("Corrupt JPEG data: found marker 0xd9 instead of RST5", True),
        ("Premature end of JPEG file", True),
        ("Invalid SOS parameters for sequential JPEG", False),
    ],
)
def test_which_libjpeg_warnings_mean_lost_pixels(warning: str, damaged_by_it: bool) -> None:
    assert (damage.libjpeg_damage([warning]) is not None) is damaged_by_it


def test_other_writes_to_stderr_meanwhile_pass_through(capfd: pytest.CaptureFixture[str]) -> None:
    with native_stderr.captured(damage.is_libjpeg_warning) as kept:
        os.write(2, b"Corrupt JPEG data: bad Huffman code\nsomething else\n")
    assert kept == ["Corrupt JPEG data: bad Huffman code"]
    assert capfd.readouterr().err == "something else\n"
