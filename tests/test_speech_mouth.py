"""An emotion keeps the speech's mouth (synthesis/speech_mouth.py): the lock leaves the inner-lip
gaps and the jaw of the neutral motion and keeps the rest of the emotional change; a render under
an emotion opens the mouth as the neutral render does."""

from __future__ import annotations

import numpy as np
import torch

from emotag_cli.config import RenderConfig
from emotag_cli.head.landmark_scheme import mediapipe_indices
from emotag_cli.head.lbs import HeadPose, flame_forward, landmarks_from_vertices
from emotag_cli.head.open_model import load_open_model
from emotag_cli.lip_signals import INNER_LIP_PAIRS
from emotag_cli.synthesis.render import render
from emotag_cli.synthesis.speech_mouth import lip_gap_basis, with_speech_mouth
from emotag_cli.train.mouth_opening import MouthGauge


def lip_gaps(model, motion: torch.Tensor, n_expr: int) -> torch.Tensor:
    """[N, pairs, 3] upper minus lower inner-lip landmark, the mesh posed by ``motion`` [N, E + 3]."""
    n = motion.shape[0]
    zero = torch.zeros(n, 3)
    pose = HeadPose(torch.zeros(n, model.n_shape), motion[:, :n_expr], zero, zero, motion[:, n_expr:],
                    torch.zeros(n, 6), zero)
    lmk = landmarks_from_vertices(model, flame_forward(model, pose))
    row = {int(m): k for k, m in enumerate(mediapipe_indices(model))}
    return torch.stack([lmk[:, row[a]] - lmk[:, row[b]] for a, b in INNER_LIP_PAIRS], 1)


def test_the_lock_keeps_the_lip_gaps_and_the_rest_of_the_change():
    model = load_open_model()
    n_expr = 50
    gen = torch.Generator().manual_seed(0)
    neutral = torch.randn(8, n_expr + 3, generator=gen) * 0.5
    neutral[:, n_expr:] = 0.0
    neutral[:, n_expr] = torch.rand(8, generator=gen) * 0.2              # the speech opens the jaw
    emotional = neutral + torch.randn(8, n_expr + 3, generator=gen) * 1.5
    basis = lip_gap_basis(model, n_expr)
    assert basis.shape == (n_expr, 9)
    assert torch.allclose(basis.T @ basis, torch.eye(9), atol=1e-5)
    locked = with_speech_mouth(emotional, neutral, basis, n_expr)
    assert torch.equal(locked[:, n_expr:], neutral[:, n_expr:])                  # the jaw is the speech's
    before = (lip_gaps(model, emotional, n_expr) - lip_gaps(model, neutral, n_expr)).norm(dim=-1)
    after = (lip_gaps(model, locked, n_expr) - lip_gaps(model, neutral, n_expr)).norm(dim=-1)
    assert before.max() > 2e-3                                                  # the emotion moved the lips apart
    assert after.max() < 0.02 * before.max()         # only what the jaw turns differently in upper and lower lip
    change, kept = (emotional - neutral)[:, :n_expr], (locked - neutral)[:, :n_expr]
    free = change - (change @ basis) @ basis.T
    assert torch.allclose(kept, free, atol=1e-5) and kept.norm() > 0.8 * change.norm()


def test_a_render_under_an_emotion_opens_the_mouth_as_the_neutral_one(avatar, tmp_path, speech_file):
    from emotag_cli.avatar import Avatar

    speech = speech_file("emotalk_happy.wav")
    runs = {}
    for name, emotion, mouth in [("neutral", "neutral", "speech"), ("happy", "happy", "speech"),
                                 ("free", "happy", "free")]:
        render(avatar, speech, tmp_path / f"{name}.mp4", RenderConfig(emotion=emotion, intensity=1.0,
                                                                      emotion_mouth=mouth, size=64),
               save_params=tmp_path / f"{name}.npz")
        runs[name] = {k: torch.from_numpy(v) for k, v in np.load(tmp_path / f"{name}.npz").items()}
    a = Avatar.open(avatar)
    gauge = MouthGauge(a.head_model())
    opening = {k: gauge(a.shape(), r["expr"], r["jaw"]) * 1000 for k, r in runs.items()}      # mm
    assert (runs["happy"]["expr"] - runs["neutral"]["expr"]).abs().mean() > 1e-3              # the emotion acts
    assert torch.equal(runs["happy"]["jaw"], runs["neutral"]["jaw"])
    assert (opening["happy"] - opening["neutral"]).abs().max() < 0.1
    assert not torch.allclose(runs["free"]["expr"], runs["happy"]["expr"]), "the lock changed nothing here"

