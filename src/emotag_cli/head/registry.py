"""One entry point for ``--head-model open|flame``."""

from __future__ import annotations

from pathlib import Path

from ..errors import EmotagError
from .model import HeadModel

KINDS = ("open", "flame")


def load_head_model(kind: str = "open", flame_model: str | Path | None = None,
                    flame_embedding: str | Path | None = None) -> HeadModel:
    """The open model (shipped) or FLAME (the user's files; searched for in ``$EMOTAG_HOME/flame``
    when the paths are None). Raises MissingBackendError when FLAME is asked for but absent."""
    if kind == "open":
        from .open_model import load_open_model

        return load_open_model()
    if kind == "flame":
        from .flame_pkl import load_flame

        return load_flame(flame_model, flame_embedding)
    raise EmotagError(f"unknown head model {kind!r} (choose from {', '.join(KINDS)})")
