"""Where ffmpeg is, and the one place that runs it (timeout, stderr tail, no shell)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

STDERR_TAIL_LINES = 40


class FfmpegError(Exception):
    """ffmpeg exited non-zero or timed out; ``tail`` is the last meaningful stderr line."""

    def __init__(self, tail: str, *, timed_out: bool = False, lines: tuple[str, ...] = ()) -> None:
        super().__init__(tail)
        self.tail = tail
        self.timed_out = timed_out
        self.lines = lines

    def mentions(self, text: str) -> bool:
        return any(text in line for line in self.lines)


@dataclass(frozen=True)
class FfmpegRun:
    stdout: bytes
    stderr_tail: list[str]


@cache
def ffmpeg_exe() -> str:
    """``CLOUDBURST_FFMPEG``, else the imageio-ffmpeg static build, else ffmpeg on PATH."""
    override = os.environ.get("CLOUDBURST_FFMPEG")
    if override:
        return override
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("ffmpeg")
    if found is None:
        raise FileNotFoundError("ffmpeg not found: set CLOUDBURST_FFMPEG or install imageio-ffmpeg")
    return found


def run_ffmpeg(
    args: list[str],
    *,
    timeout: float,
    stdin_chunks: Iterable[bytes | memoryview] | None = None,
    capture_stdout: bool = False,
    cwd: str | None = None,
) -> FfmpegRun:
    """Run ``ffmpeg args`` to completion, feeding ``stdin_chunks`` if given.

    Raises :class:`FfmpegError` with the stderr tail on a non-zero exit or after ``timeout``
    seconds (the process is killed). stderr is drained on a thread so a chatty ffmpeg never
    blocks while we are writing frames to it.
    """
    proc = subprocess.Popen(
        [ffmpeg_exe(), *args],
        stdin=subprocess.PIPE if stdin_chunks is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    out: list[bytes] = []
    timed_out = threading.Event()

    def kill_on_deadline() -> None:
        timed_out.set()
        proc.kill()

    def drain_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                tail.append(line)

    def drain_stdout() -> None:
        assert proc.stdout is not None
        out.append(proc.stdout.read())

    timer = threading.Timer(timeout, kill_on_deadline)
    timer.daemon = True
    readers = [threading.Thread(target=drain_stderr, daemon=True)]
    if capture_stdout:
        readers.append(threading.Thread(target=drain_stdout, daemon=True))
    for reader in readers:
        reader.start()
    timer.start()
    try:
        if stdin_chunks is not None:
            assert proc.stdin is not None
            _enlarge_pipe(proc.stdin.fileno())
            try:
                for chunk in stdin_chunks:
                    proc.stdin.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # ffmpeg stopped reading: its exit status and stderr say why
            finally:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    proc.stdin.close()
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        for reader in readers:
            reader.join()
    if timed_out.is_set():
        raise FfmpegError(f"ffmpeg did not finish within {timeout:g} s", timed_out=True)
    if proc.returncode != 0:
        lines = tuple(tail)
        raise FfmpegError(explain(list(lines)) or f"ffmpeg exited {proc.returncode}", lines=lines)
    return FfmpegRun(stdout=b"".join(out), stderr_tail=list(tail))


def explain(lines: list[str]) -> str:
    """The stderr line that best explains a failure, without ``[demuxer @ 0x…]`` prefixes.

    ffmpeg 7+ reports the cause first (``No JPEG data found in image``) and then a cascade
    of thread/task shutdown messages; those are skipped.
    """
    cleaned = [_PREFIX.sub("", line).strip() for line in lines]
    for line in cleaned:
        if line and not any(noise in line for noise in _CASCADE):
            return line
    return cleaned[-1] if cleaned else ""


_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\]\s*)+")
_CASCADE = (
    "Task finished",
    "Terminating thread",
    "Nothing was written",
    "Could not open encoder",
    "Decode error rate",
    "Cannot determine format",
    "Conversion failed",
    "Error opening output file",
    "Error opening input files",
    "Exiting normally",
    "Error while filtering",
    "Error submitting packet to decoder",
)


def _enlarge_pipe(fd: int) -> None:
    """Frames are ~3 MB; a 1 MiB pipe lets ffmpeg's demuxer and our warp overlap better."""
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
