"""How long a narration lasts, read locally with PyAV (the video lasts exactly as long)."""

from __future__ import annotations

from pathlib import Path


class NarrationError(ValueError):
    """The file has no readable audio duration."""


def narration_seconds(path: Path) -> float:
    """The audio's duration in seconds: the container's, else its first audio stream's."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None and container.duration > 0:
                return float(container.duration) / av.time_base
            for stream in container.streams.audio:
                if stream.duration is not None and stream.time_base is not None:
                    return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, OSError) as exc:
        raise NarrationError(f"{path}: cannot read the narration ({exc})") from None
    raise NarrationError(f"{path}: the narration has no duration")
