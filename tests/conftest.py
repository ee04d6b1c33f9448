"""Shared fixtures: the real clips in ../shared/data/real and small synthetic media."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOTAG_SHARED", REPO.parent / "shared"))
REAL_VIDEO = SHARED / "data" / "real" / "video"
REAL_AUDIO = SHARED / "data" / "real" / "audio"
ASSETS = SHARED / "data" / "assets"


def real_video(name: str) -> Path:
    path = REAL_VIDEO / name
    if not path.is_file():
        pytest.skip(f"real test media not present: {path}")
    return path


def real_audio(name: str) -> Path:
    path = REAL_AUDIO / name
    if not path.is_file():
        pytest.skip(f"real test media not present: {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Two torch threads on a shared 2-core machine can become pathologically slow.
    import torch

    torch.set_num_threads(1)


# Tiny real scenes, prior and avatar shared by the training, render and eval tests.
from _avatars import avatar, prior, scenes  # noqa: E402,F401
