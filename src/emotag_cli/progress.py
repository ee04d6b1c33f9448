"""Progress reporting on stderr (rich), so that stdout stays free for the output path."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import interrupt


def _terminal_stderr():
    """A private duplicate of fd 2, so progress stays visible while native libraries' fd 2 is
    silenced (see preprocess/mediapipe_log.py)."""
    try:
        return os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    except OSError:
        return sys.stderr


stderr = Console(file=_terminal_stderr())


class Reporter:
    """Named steps with progress bars and wall-clock timings (seconds, in ``timings``)."""

    def __init__(self, console: Console | None = stderr, enabled: bool = True):
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        self._console = console
        self._enabled = enabled and console is not None

    @contextlib.contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Time a step; yields ``advance(n)`` for a bar of ``total`` units.

        A bar with a known total shows the time left; a step that ends early (an optimiser that
        converged) fills its bar when it ends, so a finished step never looks stalled.
        """
        t0 = time.perf_counter()
        interrupt.check()
        if not self._enabled:
            yield lambda n=1: interrupt.check()
        else:
            columns = [TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
            if total is not None:
                columns += [TextColumn("eta"), TimeRemainingColumn()]
            with Progress(*columns, console=self._console, transient=False) as bar:
                task = bar.add_task(name, total=total)
                def advance(n: int = 1) -> None:
                    bar.advance(task, n)
                    interrupt.check()

                yield advance
                bar.update(task, total=total or 1, completed=total or 1)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self._console is not None:
            self._console.print(f"[yellow]warning:[/] {message}", highlight=False)


def quiet() -> Reporter:
    return Reporter(console=None, enabled=False)
