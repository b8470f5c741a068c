"""What a C library inside this process writes to stderr, read back by the caller.

libjpeg (inside OpenCV) reports lost entropy data — a block zeroed or cut from the middle of
a JPEG — only as a warning printed to file descriptor 2, and decodes the rest as if nothing
happened; OpenCV offers no hook for it. The descriptor is pointed at a temporary file for the
length of one call, under a lock (it is shared by every thread), and whatever else was
written there meanwhile is passed on to the real stderr afterwards.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()


@contextmanager
def captured(keep: Callable[[str], bool]) -> Iterator[list[str]]:
    """Lines written to fd 2 inside the block that ``keep`` accepts, in the yielded list
    once the block ends; the other lines go on to stderr."""
    kept: list[str] = []
    with _LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield kept
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines():
                if keep(line):
                    kept.append(line)
                else:
                    print(line, file=sys.stderr)
