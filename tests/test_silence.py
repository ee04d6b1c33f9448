"""The mouth comes from the audio: with silent audio the shipped prior, and an avatar adapted from it,
keep the mouth at its neutral opening under every drive, while speech opens it.

Mesh level, on the motion render uses (drive_source → ping_pong → GRMN.sequence): the opening is
the inner-lip gap of the head model (train/mouth_opening.py), in millimetres.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from emotag_cli.avatar import Avatar
from emotag_cli.preprocess.audio_features import encoder_option, extract_audio_features
from emotag_cli.preprocess.refeature import refresh_audio_features
from emotag_cli.prior import Prior
from emotag_cli.progress import quiet
from emotag_cli.scene import Scene
from emotag_cli.shipped_prior import shipped_prior
from emotag_cli.synthesis.drive import drive_source, ping_pong
from emotag_cli.train.adapt import adapt
from emotag_cli.train.mouth_opening import MouthGauge

from _avatars import tiny_adapt
from conftest import REPO

pytestmark = pytest.mark.skipif(shipped_prior() is None, reason="this copy ships no prior")
N = 75                                      # 3 s of render


@pytest.fixture(scope="module")
def shipped_scenes(scenes, tmp_path_factory):
    """The two tiny tracked scenes with the shipped prior's audio features (hard-linked copies)."""
    signature = Prior.open(shipped_prior()).signature
    if Scene.open(scenes[0]).manifest["features"]["identity"]["encoder"] != signature.identity_encoder:
        pytest.skip("the shipped prior needs real faces (its identity encoder); the real clips are absent")
    encoder = encoder_option(signature.audio_encoder)
    root = tmp_path_factory.mktemp("shipped")
    out = []
    for s in scenes:
        subprocess.run(["cp", "-al", str(s), str(root / s.name)], check=True)
        refresh_audio_features(root / s.name, encoder)
        out.append(root / s.name)
    return out


@pytest.fixture(scope="module")
def avatar(shipped_scenes, tmp_path_factory):
    path = adapt(shipped_scenes[0], shipped_prior(), 1.0, tmp_path_factory.mktemp("av") / "avatar",
                 tiny_adapt(iterations=40, warmup=4, motion_stretch=8, motion_batch=2), reporter=quiet())
    return Avatar.open(path)


def openings_mm(avatar: Avatar, wav: np.ndarray, drive: str) -> np.ndarray:
    """[N] mouth opening above the neutral face's (mm) when ``avatar`` says ``wav`` under ``drive``."""
    encoder = encoder_option(avatar.manifest["audio"]["encoder"])
    feats, _ = extract_audio_features(wav, N, encoder=encoder)
    source = drive_source(avatar, drive)
    aus = torch.from_numpy(np.asarray(source.aus[ping_pong(N, source.n)], np.float32))
    gauge = MouthGauge(avatar.head_model())
    with torch.no_grad():
        seq = avatar.motion_model().sequence(torch.from_numpy(feats.astype(np.float32)), aus, avatar.identity())
        opening = gauge(avatar.shape(), seq.expr, seq.jaw)
    return (opening.numpy() - gauge.neutral(avatar.shape())) * 1000


def test_silence_keeps_the_mouth_closed_under_every_drive_and_speech_opens_it(avatar, shipped_scenes):
    speech = Scene.open(shipped_scenes[1]).audio()
    speech = np.tile(speech, N * 640 // len(speech) + 1)[:N * 640]
    spoken = openings_mm(avatar, speech, "clip")
    assert spoken.max() > 3.0 and spoken.std() > 0.8               # speech moves the mouth
    for drive in ("clip", "still", str(shipped_scenes[1])):
        for wav in (np.zeros(N * 640, np.float32), np.random.default_rng(0).normal(0, 3e-4, N * 640)):
            silent = openings_mm(avatar, wav.astype(np.float32), drive)
            assert np.abs(silent).mean() < 1.0 and silent.max() < 2.0, (drive, silent.round(2))
            assert silent.max() < 0.5 * spoken.max()


def test_adapt_without_prior_uses_the_shipped_one(shipped_scenes, tmp_path):
    done = subprocess.run([sys.executable, "-m", "emotag_cli.cli", "adapt", str(shipped_scenes[0]), "-o",
                           str(tmp_path / "avatar"), "--seconds", "1", "--preset", "cpu", "--iterations", "2",
                           "--warmup", "1", "--size", "64", "--gaussians", "300"], capture_output=True, text=True,
                          timeout=600, env={"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1",
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert Avatar.open(tmp_path / "avatar").manifest["prior"]["path"] == str(shipped_prior())
