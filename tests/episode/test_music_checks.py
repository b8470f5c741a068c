"""The music bed is checked like a narration: what the episode plays is what was sent.

A cut music file used to loop quietly at its shorter length and a picture given as music
failed with ffmpeg's ``Stream map '' matches no streams``; both now name the file and why.
Every whole file of each kind, looped several times, passes without a false alarm.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cloudburst_worker.episode.commands import music_args
from cloudburst_worker.render.pipeline import SceneError, decode_audio_checked
from episode_media import music, picture

KINDS = [".mp3", ".m4a", ".ogg", ".wav", ".flac"]
SAMPLES = 48_000 * 7  # the 1.5-s bed is looped almost five times


def decode(path: Path, tmp_path: Path) -> None:
    args = music_args(path, tmp_path / "music.pcm", samples=SAMPLES, volume=0.3,
                      fade_in=1.0, fade_out=1.0)  # fmt: skip
    decode_audio_checked(path, "music", args, timeout=60)


@pytest.fixture(scope="module")
def beds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("beds")
    return {kind: music(folder / f"bed{kind}", 1.5) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_a_whole_bed_of_each_kind_loops_without_a_false_alarm(
    tmp_path: Path, beds: dict[str, Path], kind: str
) -> None:
    decode(beds[kind], tmp_path)

    assert (tmp_path / "music.pcm").stat().st_size == SAMPLES * 2 * 2  # s16 stereo


@pytest.mark.parametrize("kind", KINDS)
def test_a_bed_cut_short_is_named(tmp_path: Path, beds: dict[str, Path], kind: str) -> None:
    data = beds[kind].read_bytes()
    cut = tmp_path / f"cut{kind}"
    cut.write_bytes(data[: len(data) // 2])

    with pytest.raises(SceneError, match=rf"^music 'cut\{kind}' (is damaged|could not be decoded)"):
        decode(cut, tmp_path)


def test_a_picture_given_as_music_says_it_holds_no_audio(tmp_path: Path) -> None:
    image = picture(tmp_path / "cover.png", (200, 40, 40))
    renamed = image.rename(tmp_path / "cover.mp3")

    with pytest.raises(SceneError, match=r"^music 'cover.mp3' has no audio stream$"):
        decode(renamed, tmp_path)
