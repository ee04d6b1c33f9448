"""The ``emotag`` command line: ``entry`` holds the Typer app, its root options, the error-to-one-line
handling and the commands of the first stages; ``train`` and ``evaluate`` hold the other commands,
which ``entry`` registers. Nothing below ``cli/`` imports it."""

from .entry import app, main

__all__ = ["app", "main"]
