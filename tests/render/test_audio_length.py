"""header_seconds must agree with what ffmpeg's narration decode actually produces, or say None.

Every file is made by the same ffmpeg the renderer runs, and every positive answer is checked
against a real ``decode_audio_args`` decode (s16le 48 kHz stereo): the encoder's frame count
is built from this number, so "close" is not good enough.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from cloudburst_worker.render.audio_length import header_seconds
from cloudburst_worker.render.commands import PCM_BYTES_PER_SECOND, SAMPLE_RATE, decode_audio_args
from cloudburst_worker.render.ffmpeg import run_ffmpeg
from render_media import ffmpeg

Maker = Callable[[Path], Path]


def decoded_seconds(audio: Path, tmp_path: Path) -> float:
    pcm = tmp_path / "decoded.pcm"
    run_ffmpeg(decode_audio_args(audio, pcm), timeout=60)
    return pcm.stat().st_size / PCM_BYTES_PER_SECOND


def sine(rate: int, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}"]


def encode(name: str, *args: str) -> Maker:
    """A maker that runs ``ffmpeg args… tmp/name`` and returns the file."""

    def make(tmp_path: Path) -> Path:
        out = tmp_path / name
        ffmpeg(*args, str(out))
        return out

    return make


def patched(maker: Maker, patch: Callable[[bytearray], bytearray]) -> Maker:
    def make(tmp_path: Path) -> Path:
        path = maker(tmp_path)
        path.write_bytes(patch(bytearray(path.read_bytes())))
        return path

    return make


def wav_data_size(value: int) -> Callable[[bytearray], bytearray]:
    """Overwrite the data chunk's size, as streaming writers (or damage) leave it."""

    def patch(b: bytearray) -> bytearray:
        at = b.index(b"data") + 4
        b[at : at + 4] = struct.pack("<I", value)
        return b

    return patch


def chop(n: int) -> Callable[[bytearray], bytearray]:
    return lambda b: b[:-n]


def with_itunsmpb(b: bytearray) -> bytearray:
    """Add an iTunes gapless tag to moov/udta/meta/ilst (moov is the last box here)."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    smpb = b" 00000000 00000800 000000AC 000000000000D000"
    item = box(
        b"----",
        box(b"mean", bytes(4) + b"com.apple.iTunes")
        + box(b"name", bytes(4) + b"iTunSMPB")
        + box(b"data", struct.pack(">II", 1, 0) + smpb),
    )

    def find(start: int, end: int, kind: bytes) -> int:
        pos = start
        while pos < end:
            size, found = struct.unpack_from(">I4s", b, pos)
            if found == kind:
                return pos
            pos += size
        raise AssertionError(kind)

    moov = find(0, len(b), b"moov")
    udta = find(moov + 8, len(b), b"udta")
    meta = find(udta + 8, len(b), b"meta")
    ilst = find(meta + 12, len(b), b"ilst")
    end = ilst + struct.unpack_from(">I", b, ilst)[0]
    b[end:end] = item
    for at in (moov, udta, meta, ilst):
        struct.pack_into(">I", b, at, struct.unpack_from(">I", b, at)[0] + len(item))
    return b


MONO_441 = [*sine(44_100, 1.234), "-ac", "1"]
STEREO_48 = [*sine(48_000, 0.9), "-ac", "2"]
TAGS = ["-id3v2_version", "3", "-metadata", "title=x", "-write_id3v1", "1"]
VIDEO = ["-f", "lavfi", "-i", "testsrc=size=64x64:rate=30:duration=1.5"]

EXACT: dict[str, Maker] = {
    "wav s16 mono 22.05k": encode("a.wav", *sine(22_050, 1.1), "-ac", "1", "-c:a", "pcm_s16le"),
    "wav s16 stereo 48k, no LIST": encode(
        "a.wav", *STEREO_48, "-c:a", "pcm_s16le", "-fflags", "+bitexact"
    ),
    "wav f32 stereo (fact chunk)": encode("a.wav", *STEREO_48, "-c:a", "pcm_f32le"),
    "wav s24 extensible": encode("a.wav", *sine(44_100, 0.7), "-ac", "2", "-c:a", "pcm_s24le"),
    "wav bigger LIST before data": encode(
        "a.wav", *sine(16_000, 0.5), "-c:a", "pcm_s16le", "-metadata", "title=narration x"
    ),
    "wav data size 0xFFFFFFFF": patched(
        encode("a.wav", *sine(22_050, 0.6), "-c:a", "pcm_s16le"), wav_data_size(0xFFFFFFFF)
    ),
    "wav data size 0": patched(
        encode("a.wav", *sine(22_050, 0.6), "-c:a", "pcm_s16le"), wav_data_size(0)
    ),
    "wav truncated (odd byte left)": patched(
        encode("a.wav", *sine(22_050, 0.6), "-c:a", "pcm_s16le"), chop(1001)
    ),
    "m4a aac mono 44.1k moov at end": encode("a.m4a", *MONO_441, "-c:a", "aac"),
    "m4a aac mono 44.1k faststart": encode(
        "a.m4a", *MONO_441, "-c:a", "aac", "-movflags", "+faststart"
    ),
    "m4a aac stereo 48k moov at end": encode("a.m4a", *STEREO_48, "-c:a", "aac"),
    "m4a aac stereo 48k faststart": encode(
        "a.m4a", *STEREO_48, "-c:a", "aac", "-movflags", "+faststart"
    ),
    "m4a without edit list": encode("a.m4a", *MONO_441, "-c:a", "aac", "-use_editlist", "0"),
    "m4a movie timescale 1000": encode(
        "a.m4a", *sine(44_100, 1.2345), "-c:a", "aac", "-movie_timescale", "1000"
    ),
    "mov aac": encode("a.mov", *MONO_441, "-c:a", "aac"),
    "mp4 video track first": encode(
        "a.mp4", *VIDEO, *MONO_441, "-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-c:a", "aac"
    ),
    "mp3 lame 44.1k": encode("a.mp3", *MONO_441, "-c:a", "libmp3lame"),
    "mp3 lame 22.05k (MPEG-2)": encode("a.mp3", *sine(22_050, 1.3), "-c:a", "libmp3lame"),
    "mp3 lame 11.025k (MPEG-2.5) stereo": encode(
        "a.mp3", *sine(11_025, 0.8), "-ac", "2", "-c:a", "libmp3lame"
    ),
    "mp3 lame 48k stereo vbr": encode("a.mp3", *STEREO_48, "-c:a", "libmp3lame", "-q:a", "4"),
    "mp3 id3v2.3 + id3v1": encode("a.mp3", *MONO_441, "-c:a", "libmp3lame", *TAGS),
}

UNSURE: dict[str, Maker] = {
    "mp3 without xing (-write_xing 0)": encode(
        "a.mp3", *MONO_441, "-c:a", "libmp3lame", "-write_xing", "0"
    ),
    "mp3 truncated": patched(encode("a.mp3", *MONO_441, "-c:a", "libmp3lame"), chop(3000)),
    "aac adts": encode("a.aac", *MONO_441, "-c:a", "aac"),
    "flac": encode("a.flac", *MONO_441),
    "ogg": encode("a.ogg", *MONO_441),
    "wav adpcm": encode("a.wav", *MONO_441, "-c:a", "adpcm_ima_wav"),
    "wav rf64": encode("a.wav", *MONO_441, "-c:a", "pcm_s16le", "-rf64", "always"),
    "m4a faststart, media truncated": patched(
        encode("a.m4a", *MONO_441, "-c:a", "aac", "-movflags", "+faststart"), chop(500)
    ),
    "m4a moov cut off": patched(encode("a.m4a", *MONO_441, "-c:a", "aac"), chop(100)),
    "m4a leading empty edit": encode("a.m4a", "-itsoffset", "0.5", *MONO_441, "-c:a", "aac"),
    "m4a iTunSMPB": patched(encode("a.m4a", *MONO_441, "-c:a", "aac"), with_itunsmpb),
    "m4a fragmented": encode(
        "a.m4a", *MONO_441, "-c:a", "aac", "-movflags", "+frag_keyframe+empty_moov"
    ),
    "mp4 without audio": encode("a.mp4", *VIDEO, "-c:v", "mpeg4"),
}


@pytest.mark.parametrize("make", EXACT.values(), ids=EXACT.keys())
def test_header_length_is_the_decoded_length(make: Maker, tmp_path: Path) -> None:
    # given a narration file written by ffmpeg
    audio = make(tmp_path)
    # when its length is read from the header alone
    seconds = header_seconds(audio)
    # then it matches the real decode to within one 48 kHz output sample (the resampler
    # rounds its last partial sample up), far inside the 1 ms the frame count can absorb
    decoded = decoded_seconds(audio, tmp_path)
    assert seconds is not None
    assert abs(seconds - decoded) * SAMPLE_RATE <= 1.0, (seconds, decoded)


@pytest.mark.parametrize("make", UNSURE.values(), ids=UNSURE.keys())
def test_header_that_cannot_say_exactly_gives_none(make: Maker, tmp_path: Path) -> None:
    assert header_seconds(make(tmp_path)) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"RIFF",
        b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\xff" * 40,
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 8,
        b"\x00\x00\x00\x18ftypisom" + bytes(200),
        b"\x00\x00\x00\x01moov" + b"\xff" * 100,
        bytes(range(256)) * 40,
    ],
    ids=[
        "empty",
        "riff only",
        "id3 then junk",
        "short fmt",
        "ftyp then zeros",
        "bad 64-bit",
        "junk",
    ],
)
def test_malformed_files_give_none_without_raising(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    assert header_seconds(path) is None


def test_missing_file_gives_none(tmp_path: Path) -> None:
    # the caller's decode then reports the real error
    assert header_seconds(tmp_path / "nope.mp3") is None


def test_huge_file_is_answered_from_its_header(tmp_path: Path) -> None:
    # given a sparse 300 MB WAV (s16 mono 8 kHz) whose writer left the data size unknown
    path = tmp_path / "long.wav"
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16_000, 2, 16)
    header = b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", 16) + fmt + b"data\xff\xff\xff\xff"
    with path.open("wb") as f:
        f.write(header)
        f.truncate(300_000_000)
    # then the length comes from the header and the file size, without reading the data
    assert header_seconds(path) == (300_000_000 - len(header)) // 2 / 8000
