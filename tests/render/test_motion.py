"""Camera moves: deterministic choice, centred sub-pixel zoom, pans that visibly move."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from cloudburst_worker.render.frames import fit_to_frame, rgb_to_yuv420
from cloudburst_worker.render.motion import camera, choose_effect, moving_frames
from render_media import luma_frames, make_noise_picture


def test_effect_is_chosen_from_the_scene_name_so_rerenders_match() -> None:
    names = [f"scene-{i}" for i in range(40)]
    first = [choose_effect(n, None, enable_zoom=True) for n in names]
    again = [choose_effect(n, None, enable_zoom=True) for n in names]
    assert first == again
    assert set(first) == {"zoom_in", "zoom_out"}


def test_scene_effect_wins_and_disabled_zoom_means_still() -> None:
    assert choose_effect("a", "pan_left", enable_zoom=False) == "pan_left"
    assert choose_effect("a", None, enable_zoom=False) == "none"


def test_zoom_in_goes_from_the_whole_picture_to_ten_percent_closer_about_the_centre() -> None:
    # base is 1.1x the 1920x1080 frame
    first = camera("zoom_in", 0, 300, 2112, 1188, 1920, 1080)
    last = camera("zoom_in", 299, 300, 2112, 1188, 1920, 1080)
    assert first[0] == pytest.approx(1.1)  # whole base squeezed into the frame: zoom 1.0
    assert last[0] == pytest.approx(1.0)  # base 1:1: zoom 1.1
    for scale, dx, dy in (first, last):  # the frame centre always samples the base centre
        assert scale * 959.5 + dx == pytest.approx(1055.5)
        assert scale * 539.5 + dy == pytest.approx(593.5)


def _texture(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + 40 * np.sin((x + y) / 11.0)


def test_pan_follows_its_ideal_path_to_a_hundredth_of_a_pixel() -> None:
    # given an analytic texture as the 352x198 base of a 320x180 frame
    yy, xx = np.mgrid[0:198, 0:352].astype(np.float64)
    grey = _texture(xx, yy).clip(0, 255).astype(np.uint8)
    base = rgb_to_yuv420(np.repeat(grey[..., None], 3, axis=2))
    # when a 45-frame pan_right is drawn
    frames = [bytes(f) for f in moving_frames(base, 320, 180, "pan_right", 45, None)]
    # then each frame matches the texture sampled on the ideal path: the residual,
    # projected on the texture's x-gradient, is a position error well under 0.05 px
    oy, ox = np.mgrid[0:180, 0:320].astype(np.float64)
    errors = []
    for index, raw in enumerate(frames):
        scale, dx, dy = camera("pan_right", index, 45, 352, 198, 320, 180)
        sx, sy = scale * ox + dx, scale * oy + dy
        ideal = 16 + 219 * _texture(sx, sy).clip(0, 255) / 255
        grad = (_texture(sx + 0.5, sy) - _texture(sx - 0.5, sy)) * 219 / 255
        got = np.frombuffer(raw, np.uint8)[: 320 * 180].reshape(180, 320).astype(np.float64)
        inner = np.s_[4:-4, 4:-4]
        errors.append(np.sum((got - ideal)[inner] * grad[inner]) / np.sum(grad[inner] ** 2))
    assert np.sqrt(np.mean(np.square(errors))) < 0.05
    assert camera("pan_right", 44, 45, 352, 198, 320, 180)[1] - camera(
        "pan_right", 0, 45, 352, 198, 320, 180
    )[1] == pytest.approx(32)


def test_zoomed_scene_changes_over_time_and_pans_move(tmp_path: Path, tone: Path) -> None:
    # given a textured (non-periodic) 1280x720 slide
    image = make_noise_picture(tmp_path / "slide.png", 1280, 720)
    # when rendered with zoom (default settings) and with pan_left
    zoom = render_scene(SceneInput("z", image, tone), RenderSettings(), tmp_path / "z.mp4")
    pan = render_scene(
        SceneInput("p", image, tone, effect="pan_left"),
        RenderSettings(),
        tmp_path / "p.mp4",
    )
    assert zoom.ok, zoom.error
    assert pan.ok, pan.error
    # then the zoom's first and last frames differ clearly
    z = luma_frames(zoom.output)
    assert np.abs(z[0] - z[-1]).mean() > 5
    # and the pan's content moved right (camera left) by ~192 px = the 10 % spare width
    p = luma_frames(pan.output)
    (dx, dy), _ = cv2.phaseCorrelate(p[0], p[-1])
    assert dx == pytest.approx(192, abs=3)
    assert abs(dy) < 1


def test_fit_rule_keeps_the_whole_picture_over_a_blurred_backdrop() -> None:
    # given a small white square picture
    rgb = np.full((100, 100, 3), 255, np.uint8)
    # when fitted to a 320x180 frame
    fitted = fit_to_frame(rgb, 320, 180)
    # then it fills the full height, centred, and the sides are a dimmed backdrop
    assert fitted.shape == (180, 320, 3)
    assert (fitted[:, 70:250] == 255).all()
    assert 0 < fitted[90, 5, 0] < 255
