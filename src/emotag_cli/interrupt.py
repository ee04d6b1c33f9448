"""Ctrl-C: stopping for sure, and what an interrupted command leaves behind.

Python raises KeyboardInterrupt wherever the signal lands, and one that lands in a finaliser or a
weakref callback is printed and ignored ("Exception ignored in …"), so the command would run on
and exit 0. :func:`install` therefore also records the request, and :func:`check` — called by every
progress bar's advance and before an artifact is published — raises it again at a safe point.

What was kept: a stage that keeps something useful across an interruption (a training
checkpoint, the finished scenes of a corpus) calls :func:`keep` with a phrase saying what and how
to resume; the CLI's Ctrl-C line is "interrupted; <those phrases>", or says that nothing was written when no stage
kept anything (every artifact is written atomically, so an interrupted one is simply absent).
"""

from __future__ import annotations

import signal
import threading

EXIT_CODE = 130                  # 128 + SIGINT, what shells report for Ctrl-C
_kept: list[str] = []
_requested = False


def _on_sigint(signum, frame) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT in this (main) thread: raise KeyboardInterrupt and remember the request."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed (even if its first raise was swallowed)."""
    if _requested:
        raise KeyboardInterrupt


def keep(what: str) -> None:
    """Record a phrase such as "checkpoint in X.ckpt: continue with --resume"."""
    if what not in _kept:
        _kept.append(what)


def forget() -> None:
    _kept.clear()


def message() -> str:
    """The line printed on Ctrl-C."""
    if _kept:
        return "interrupted; " + "; ".join(_kept)
    return "interrupted; nothing was written (outputs are only published when complete): run the command again"
