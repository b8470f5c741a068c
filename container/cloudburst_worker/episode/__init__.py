"""Episode assembler: a job's scenes → one finished video (issue 20, DESIGN.md "Episodes").

The batch runner calls :func:`assemble_episode` with local files; everything else in this
package is an implementation detail.
"""

from cloudburst_worker.episode.assemble import (
    EpisodeFailed,
    EpisodeResult,
    SceneInput,
    assemble_episode,
)
from cloudburst_worker.episode.posters import contact_sheet, poster

__all__ = [
    "EpisodeFailed",
    "EpisodeResult",
    "SceneInput",
    "assemble_episode",
    "contact_sheet",
    "poster",
]
