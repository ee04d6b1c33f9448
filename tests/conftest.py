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


@pytest.fixture(scope="session")
def speech_file(tmp_path_factory):
    """``speech_file(name)``: that real speech file of ../shared/data/real/audio, or, without it, a 3 s
    synthetic voice (tests/_synthetic_scene.py), so render tests run without ../shared."""
    voice: list[Path] = []

    def get(name: str) -> Path:
        path = REAL_AUDIO / name
        if path.is_file():
            return path
        if not voice:
            import numpy as np
            import soundfile as sf

            from _synthetic_scene import synthetic_voice

            wav, _ = synthetic_voice(75, np.random.default_rng(0))
            voice.append(tmp_path_factory.mktemp("speech") / "synthetic_voice.wav")
            sf.write(voice[0], wav, 16000, subtype="PCM_16")
        return voice[0]

    return get
