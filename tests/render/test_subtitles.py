"""Subtitles: lenient SRT parsing, wrapping, the seed's box look, fonts and fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from cloudburst_worker.render.fonts import Font, subtitle_fonts
from cloudburst_worker.render.subtitles import (
    SubtitleError,
    ass_document,
    clip_to,
    parse_srt,
    wrap,
)
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from render_media import frame_at, make_tone

GREY = 200


@pytest.fixture(scope="module")
def grey_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("subs") / "grey.png"
    Image.new("RGB", (320, 180), (GREY, GREY, GREY)).save(path)
    return path


@pytest.fixture(scope="module")
def two_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tone(tmp_path_factory.mktemp("subs-audio") / "two.wav", 2.0)


def write_srt(path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


# --- parsing -------------------------------------------------------------------------


def test_srt_with_bom_crlf_tags_multiline_and_no_index_parses() -> None:
    text = (
        "\ufeff1\r\n00:00:00,500 --> 00:00:01,250\r\n<i>first</i> line\r\n<b>second</b>\r\n\r\n"
        "00:00:02.000 --> 00:00:03.000\r\n{\\an8}no index, dot millis\r\n\r\n\r\n"
    )
    cues = parse_srt(text.lstrip("\ufeff"), "a.srt")
    assert [(c.start, c.end, c.lines) for c in cues] == [
        (0.5, 1.25, ("first line", "second")),
        (2.0, 3.0, ("no index, dot millis",)),
    ]


def test_overlapping_cues_are_all_kept_for_libass_to_stack() -> None:
    srt = "1\n00:00:00,000 --> 00:00:02,000\na\n\n2\n00:00:01,000 --> 00:00:03,000\nb\n"
    assert [c.lines for c in parse_srt(srt, "x")] == [("a",), ("b",)]


@given(st.text(alphabet="ab 你好世界,.", max_size=80), st.floats(min_value=1.0, max_value=40.0))
def test_wrapping_never_loses_text_and_lines_fit(text: str, max_em: float) -> None:
    lines = wrap(text, max_em)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    ems = {" ": 0.28, "a": 0.56, "b": 0.56, ",": 0.56, ".": 0.56}  # wide CJK: 1 em
    for line in lines:
        assert len(line) == 1 or sum(ems.get(c, 1.0) for c in line) <= max_em + 1e-9


def test_cues_past_the_audio_are_dropped_or_cut_at_its_end() -> None:
    cues = parse_srt(
        "1\n00:00:01,000 --> 00:00:05,000\na\n\n2\n00:00:06,000 --> 00:00:07,000\nb\n", "x"
    )
    assert [(c.start, c.end) for c in clip_to(cues, 4.0)] == [(1.0, 4.0)]


def test_a_block_without_timing_fails_with_its_line_number() -> None:
    with pytest.raises(SubtitleError, match=r"'bad\.srt' line 6: expected a timing line"):
        parse_srt("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nnot a time\ntext\n", "bad.srt")


def test_backslash_escapes_in_text_cannot_inject_ass_line_breaks() -> None:
    (cue,) = parse_srt("1\n00:00:00,000 --> 00:00:01,000\nC:\\New folder\n", "x")
    assert "\\N" not in cue.lines[0]


# --- wrapping and style ----------------------------------------------------------------


def test_long_chinese_lines_wrap_between_characters_and_latin_at_spaces() -> None:
    chinese = wrap("这是一个很长很长的中文字幕用来测试自动换行是否正常工作", 10)
    assert [len(line) for line in chinese] == [10, 10, 7]
    english = wrap("the quick brown fox jumps over the lazy dog", 10)
    assert all(" " not in (line[0], line[-1]) for line in english)
    assert " ".join(english) == "the quick brown fox jumps over the lazy dog"
    assert len(english) > 1


@pytest.mark.parametrize(("opacity", "alpha_hex"), [(0.0, "00"), (0.2, "33"), (1.0, "FF")])
def test_box_transparency_uses_the_seed_meaning(opacity: float, alpha_hex: str) -> None:
    settings = RenderSettings(background_opacity=opacity)
    doc = ass_document([], subtitle_fonts("chinese"), settings, 1920, 1080, "x")
    style = next(line for line in doc.splitlines() if line.startswith("Style:")).split(",")
    assert style[6] == f"&H{alpha_hex}000000"  # BackColour: the box
    assert style[15] == "4"  # BorderStyle 4: one box behind the cue


def test_without_box_text_is_outlined_and_sizes_follow_the_frame() -> None:
    settings = RenderSettings(background_box=False, language="english")
    land = ass_document([], subtitle_fonts("english"), settings, 1920, 1080, "x")
    port = ass_document([], subtitle_fonts("english"), settings, 1080, 1920, "x")
    land_style = next(x for x in land.splitlines() if x.startswith("Style:")).split(",")
    port_style = next(x for x in port.splitlines() if x.startswith("Style:")).split(",")
    assert land_style[15] == "1"
    assert float(land_style[16]) > 0
    assert land_style[2] == port_style[2] == "54"
    assert int(port_style[21]) > int(land_style[21])  # bottom margin scales with height


def test_english_text_with_chinese_words_falls_back_to_the_cjk_font() -> None:
    cues = parse_srt("1\n00:00:00,000 --> 00:00:01,000\nsay 你好 please\n", "x")
    doc = ass_document(cues, subtitle_fonts("english"), RenderSettings(), 1920, 1080, "x")
    assert r"say {\fnNoto Sans CJK SC}你好 {\fn}please" in doc


def test_a_script_no_installed_font_draws_fails_with_the_character_named() -> None:
    cues = parse_srt("1\n00:00:00,000 --> 00:00:01,000\n\U00013000\n", "x")
    with pytest.raises(SubtitleError, match=r"cue 1: no installed font can draw .*U\+13000"):
        ass_document(cues, subtitle_fonts("chinese"), RenderSettings(), 1920, 1080, "x")


# --- rendered pixels -------------------------------------------------------------------


def _bottom_centre(frame: np.ndarray) -> float:
    """Lower quartile of a patch where the box sits: the box's black, not the glyphs' white."""
    h, w = frame.shape[:2]
    patch = frame[int(h * 0.87) : int(h * 0.91), int(w * 0.46) : int(w * 0.54)]
    return float(np.percentile(patch, 25))


def test_box_is_drawn_during_a_cue_and_gone_between_cues(
    grey_slide: Path, two_seconds: Path, tmp_path: Path
) -> None:
    # given a plain grey slide and two cues with a gap between them
    srt = write_srt(
        tmp_path / "cues.srt",
        "1\n00:00:00,100 --> 00:00:00,600\n第一句字幕\n\n"
        "2\n00:00:01,300 --> 00:00:01,800\nsecond\nline\n",
        bom=True,
        crlf=True,
    )
    # when rendered with the default box (transparency 0.2)
    result = render_scene(
        SceneInput("s", grey_slide, two_seconds, subtitle=srt),
        RenderSettings(enable_zoom=False),
        tmp_path / "s.mp4",
    )
    assert result.ok, result.error
    # then the bottom centre is dark under a cue and the plain grey between cues
    assert _bottom_centre(frame_at(result.output, 0.3)) < GREY * 0.5
    assert _bottom_centre(frame_at(result.output, 1.0)) == pytest.approx(GREY, abs=4)
    assert _bottom_centre(frame_at(result.output, 1.5)) < GREY * 0.5


def test_chinese_glyphs_are_drawn_not_tofu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A font without CJK draws every Chinese character as the same box (or nothing), so two
    different sentences look identical; with the CJK font they must differ."""
    from cloudburst_worker.render.commands import FPS
    from cloudburst_worker.render.ffmpeg import run_ffmpeg

    # an empty fontconfig: libass must not rescue the Latin face with a system CJK font
    empty_conf = tmp_path / "fonts.conf"
    empty_conf.write_text('<?xml version="1.0"?>\n<fontconfig></fontconfig>\n')
    monkeypatch.setenv("FONTCONFIG_FILE", str(empty_conf))

    cjk, latin = subtitle_fonts("chinese")
    assert not latin.draws("你")
    settings = RenderSettings(enable_zoom=False)

    def draw(text: str, font: Font) -> np.ndarray:
        work = tmp_path / f"{font.family}-{text}".replace(" ", "_")
        (work / "fonts").mkdir(parents=True)
        shutil.copy(font.path, work / "fonts" / font.path.name.replace("[", "").replace("]", ""))
        cues = parse_srt(f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n", "x")
        # a font that claims every codepoint, to force drawing with exactly this face
        forced = Font(font.family, font.path, frozenset(range(0x110000)))
        (work / "s.ass").write_text(ass_document(cues, [forced], settings, 640, 360, "x"))
        run_ffmpeg(
            ["-hide_banner", "-loglevel", "error", "-f", "lavfi",
             "-i", f"color=c=gray:s=640x360:r={FPS}:d=0.2",
             "-vf", "subtitles=filename=s.ass:fontsdir=fonts", "-frames:v", "1",
             "-y", "out.png"],
            timeout=60, cwd=str(work),
        )  # fmt: skip
        return np.asarray(Image.open(work / "out.png").convert("L"), np.float32)[250:, :]

    tofu_a, tofu_b = draw("你好朋友", latin), draw("世界和平", latin)
    real_a, real_b = draw("你好朋友", cjk), draw("世界和平", cjk)

    def differing(a: np.ndarray, b: np.ndarray) -> int:
        return int((np.abs(a - b) > 60).sum())

    assert differing(real_a, tofu_a) > 200  # something other than the tofu was drawn
    assert differing(tofu_a, tofu_b) < 20  # the tofu boxes are indistinguishable
    assert differing(real_a, real_b) > 200  # real, different glyphs


def test_english_scene_with_an_undrawable_script_fails_with_a_reason(
    grey_slide: Path, two_seconds: Path, tmp_path: Path
) -> None:
    srt = write_srt(tmp_path / "x.srt", "1\n00:00:00,000 --> 00:00:01,000\nhi \U00013000\n")
    result = render_scene(
        SceneInput("s", grey_slide, two_seconds, subtitle=srt),
        RenderSettings(language="english", enable_zoom=False),
        tmp_path / "x.mp4",
    )
    assert not result.ok
    assert result.error is not None
    assert "'x.srt' cue 1" in result.error
    assert "U+13000" in result.error
    assert not (tmp_path / "x.mp4").exists()


def test_fonts_dir_override_is_the_only_place_searched(
    grey_slide: Path, two_seconds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given CLOUDBURST_FONTS_DIR holding only a Latin font
    fonts_dir = tmp_path / "fonts"
    fonts_dir.mkdir()
    latin = subtitle_fonts("english")[0]
    shutil.copy(latin.path, fonts_dir / "latin.ttf")
    monkeypatch.setenv("CLOUDBURST_FONTS_DIR", str(fonts_dir))
    srt = write_srt(tmp_path / "zh.srt", "1\n00:00:00,000 --> 00:00:01,000\n你好\n")
    # when a Chinese scene with subtitles is rendered
    result = render_scene(
        SceneInput("zh", grey_slide, two_seconds, subtitle=srt),
        RenderSettings(enable_zoom=False),
        tmp_path / "zh.mp4",
    )
    # then it fails, naming the missing font rather than drawing tofu
    assert not result.ok
    assert result.error is not None
    assert "no chinese subtitle font installed" in result.error
    assert latin.family == subtitle_fonts("english")[0].family  # the Latin face is found there
