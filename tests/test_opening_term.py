"""Adaptation's mouth-opening term (train/opening_term.py): it compares the right things, and a
network trained on it alone comes to open the mouth as the clip's tracked mouth opens."""

from __future__ import annotations

import numpy as np
import torch

from emotag_cli.avatar import Avatar
from emotag_cli.head.registry import head_model_of
from emotag_cli.scene import Scene
from emotag_cli.track.result import open_track
from emotag_cli.train.motion_data import MotionClip
from emotag_cli.train.mouth_opening import MouthGauge, opening_loss
from emotag_cli.train.opening_term import opening_term


def _clip(scene_path, n_expr: int):
    scene = Scene.open(scene_path)
    model = head_model_of(open_track(scene.path).manifest["config"])
    gauge = MouthGauge(model)
    return MotionClip.load(scene, model, gauge, n_expr, scene.path.name), gauge


def test_the_term_is_the_weighted_opening_loss_of_a_training_stretch(avatar, scenes):
    grmn = Avatar.open(avatar).motion_model()
    clip, gauge = _clip(scenes[0], grmn.config.n_expr)
    n_train, length = 20, 8
    term = opening_term(grmn, gauge, clip, n_train, length, 3.0, np.random.default_rng(7))
    got = term()["open"]
    start = int(np.random.default_rng(7).integers(n_train - length + 1))
    cut = slice(start, start + length)
    out = grmn.stretches(clip.audio[None, cut].float(), clip.aus[None, cut], clip.identity[None])
    want = 3.0 * opening_loss(gauge(clip.shape, out.expr, out.jaw), clip.opening[cut])
    assert torch.allclose(got, want) and got.requires_grad


def test_training_on_the_term_makes_the_mouth_follow_the_tracked_opening(avatar, scenes):
    grmn = Avatar.open(avatar).motion_model().eval()        # no dropout: a deterministic objective
    clip, gauge = _clip(scenes[0], grmn.config.n_expr)
    n = clip.audio.shape[0]
    term = opening_term(grmn, gauge, clip, n, n, 1.0, np.random.default_rng(0))   # the whole clip each step
    optimizer = torch.optim.Adam(grmn.parameters(), lr=2e-3)
    first = float(term()["open"].detach())
    for _ in range(100):
        loss = term()["open"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    last = float(term()["open"].detach())
    assert last < 0.5 * first
