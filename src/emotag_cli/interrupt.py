"""What an interrupted command leaves behind, said in the one line the CLI prints on Ctrl-C.

A stage that keeps something useful across an interruption (a training checkpoint, the finished
scenes of a corpus) calls :func:`keep` with a phrase saying what and how to resume; the CLI's
Ctrl-C line is "interrupted; <those phrases>", or says that nothing was written when no stage
kept anything (every artifact is written atomically, so an interrupted one is simply absent).
"""

from __future__ import annotations

EXIT_CODE = 130                  # 128 + SIGINT, what shells report for Ctrl-C
_kept: list[str] = []


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
