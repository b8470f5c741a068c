"""Scene renderer: one still image + narration (+ SRT, watermark, camera move) → one MP4.

The worker, the bench and the tests all call :func:`render_scene`; everything else in this
package is an implementation detail.
"""

from cloudburst_worker.render.pipeline import render_scene
from cloudburst_worker.render.scene import RenderResult, RenderSettings, SceneInput

__all__ = ["RenderResult", "RenderSettings", "SceneInput", "render_scene"]
