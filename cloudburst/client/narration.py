"""How long a narration lasts, read locally with PyAV (the video lasts exactly as long);
narrations already in S3 are downloaded to read it."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_PARALLEL_DOWNLOADS = 8


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


def download_narrations(
    s3: Any, uris: Iterable[str], directory: Path
) -> tuple[dict[str, Path], list[str]]:
    """Each ``s3://`` narration in ``directory`` ({uri: path}), and a reason for each that
    could not be downloaded. Narrations are small (a few MB a minute), so the whole file
    is read rather than guessing a duration from its first bytes."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.contracts import is_s3_not_found, split_s3_uri

    def fetch(item: tuple[int, str]) -> tuple[str, Path | None, str | None]:
        index, uri = item
        try:
            bucket, key = split_s3_uri(uri)
        except ValueError as exc:
            return uri, None, str(exc)
        target = directory / str(index) / (key.rsplit("/", 1)[-1] or "narration")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(bucket, key, str(target))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            missing = is_s3_not_found(code) or code == "NoSuchBucket"
            return uri, None, f"{uri} does not exist" if missing else f"{uri}: S3 error {code}"
        except BotoCoreError as exc:
            return uri, None, f"{uri} could not be downloaded: {exc}"
        return uri, target, None

    with ThreadPoolExecutor(max_workers=_PARALLEL_DOWNLOADS) as pool:
        results = list(pool.map(fetch, enumerate(dict.fromkeys(uris))))
    paths = {uri: path for uri, path, _ in results if path is not None}
    return paths, [error for _, _, error in results if error]
