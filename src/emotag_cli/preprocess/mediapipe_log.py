"""Import MediaPipe with its native start-up chatter kept off the terminal.

MediaPipe's C++ side prints TFLite and calculator notices straight to file descriptor 2, from its
own threads, when a graph starts and runs; they mean nothing to a user and would break the
progress bars. The pipeline runs its MediaPipe passes inside :func:`quiet_native_stderr`; our own
progress and messages go to a duplicate of the terminal's stderr (emotag_cli.progress), so they
still show. Set EMOTAG_NATIVE_LOGS=1 to see the native output when debugging.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        import mediapipe as mp
    return mp


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point fd 2 at /dev/null for the block (Python's own sys.stderr is flushed first)."""
    if os.environ.get("EMOTAG_NATIVE_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
