"""The motion stage of `emotag pretrain`: parameter-space training over many identities, no rendering;
the batched stretches it runs on, the mouth-opening gauge, and a prior adapt can start from."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from emotag_cli.artifact import write_manifest
from emotag_cli.config import MotionPretrainConfig
from emotag_cli.errors import EmotagError
from emotag_cli.head.open_model import load_open_model
from emotag_cli.head.registry import head_model_of
from emotag_cli.motion.config import MotionConfig
from emotag_cli.motion.grmn import GRMN
from emotag_cli.prior import Prior
from emotag_cli.progress import quiet
from emotag_cli.track.result import open_track
from emotag_cli.train.adapt import adapt
from emotag_cli.train.motion_data import load_motion_clips, silent_stretches
from emotag_cli.train.motion_pretrain import draw_batch, pretrain_motion
from emotag_cli.train.mouth_opening import MouthGauge

from _avatars import TINY_MOTION, tiny_adapt
from conftest import REPO

TINY = dict(motion=TINY_MOTION, batch=3, stretch=8, silence_batch=1, lr=2e-3)


def test_stretches_equal_the_sequence_of_each_stretch():
    torch.manual_seed(0)
    grmn = GRMN(MotionConfig(audio_dim=20, identity_dim=8, **{**TINY_MOTION, "dropout": 0.0})).eval()
    for p in grmn.parameters():
        p.data.normal_(0, 0.1)                      # zero-initialised layers would hide a wrong average
    s, n = 3, 11
    audio, aus, identity = torch.randn(s, n, 16, 20), torch.randn(s, n, 6), torch.randn(s, 8)
    emotion, intensity = torch.softmax(torch.randn(s, n, 7), -1), torch.rand(s, n, 1)
    emotion[0, 3], intensity[1, 2] = float("nan"), float("nan")               # auto rows
    with torch.no_grad():
        out = grmn.stretches(audio, aus, identity, emotion, intensity)
        for k in range(s):
            ref = grmn.sequence(audio[k], aus[k], identity[k], emotion[k], intensity[k])
            rows = slice(k * n, (k + 1) * n)
            for name in ("delta", "gate", "emotion_logits", "audio_feature"):
                assert torch.allclose(getattr(out, name)[rows], getattr(ref, name), atol=1e-5), name


def test_mouth_gauge_opens_with_the_jaw_and_is_differentiable():
    model = load_open_model()
    gauge = MouthGauge(model)
    shape = torch.zeros(model.n_shape)
    jaw = torch.tensor([[0.0, 0, 0], [0.15, 0, 0], [0.3, 0, 0]], requires_grad=True)
    opening = gauge(shape, torch.zeros(3, 50), jaw)
    neutral = gauge.neutral(shape)
    value = opening.detach()
    assert abs(float(value[0]) - neutral) < 1e-7 and 0 <= neutral < 0.004        # lips nearly touch at rest
    assert float(value[1]) > neutral + 0.004 and float(value[2]) > float(value[1]) + 0.004
    opening.sum().backward()
    assert jaw.grad[:, 0].abs().min() > 0


def test_two_iterations_write_a_prior_adapt_can_start_from(scenes, tmp_path):
    out = pretrain_motion(scenes, ["a", "b"], tmp_path / "prior", MotionPretrainConfig(iterations=2, **TINY),
                          reporter=quiet())
    prior = Prior.open(out)
    assert prior.manifest["config"]["stage"] == "motion" and prior.manifest["steps"] == 2
    assert [s["name"] for s in prior.manifest["scenes"]] == ["a", "b"] and not (out / "gaussians").exists()
    with open(out / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("flame", "open", "kl", "score", "silence"))
    assert prior.motion_model().config.d_model == TINY_MOTION["d_model"]
    avatar = adapt(scenes[0], out, 1.0, tmp_path / "avatar", tiny_adapt(), reporter=quiet())
    assert (avatar / "manifest.json").is_file()


def test_the_motion_losses_fall_on_a_small_run(scenes, tmp_path):
    log: list[dict[str, float]] = []
    pretrain_motion(scenes, ["a", "b"], tmp_path / "prior", MotionPretrainConfig(iterations=80, **TINY),
                    reporter=quiet(), on_step=lambda step, terms: log.append(terms))
    fit = [t["flame"] + t["open"] for t in log]
    assert np.mean(fit[-15:]) < 0.85 * np.mean(fit[:15])  # real scenes fall below 0.7, synthetic ones to ~0.8


def test_video_only_scenes_are_skipped_with_a_line_and_refused_when_alone(scenes, tmp_path):
    mute = tmp_path / "mute"
    shutil.copytree(scenes[1], mute)
    manifest = json.loads((mute / "manifest.json").read_text())
    manifest["has_audio"] = False                        # what preprocess writes for a video-only clip
    for name in ("audio.wav", "audio_features.npy"):
        (mute / name).unlink()
    write_manifest(mute, manifest)                       # with the file table of what is left
    model = head_model_of(open_track(scenes[0]).manifest["config"])
    lines: list[str] = []
    clips, records, _ = load_motion_clips([scenes[0], mute], ["a", "m"], model, 50, 8, lines.append)
    assert [c.name for c in clips] == ["a"] and [r["name"] for r in records] == ["a"]
    assert lines == [f"skipped {mute}: no audio (a video-only clip teaches no lip motion)"]
    with pytest.raises(EmotagError, match="none of the scenes has audio"):
        pretrain_motion([mute], ["m"], tmp_path / "p", MotionPretrainConfig(iterations=1, **TINY), reporter=quiet())
    assert not (tmp_path / "p").exists()


def test_a_batch_swaps_aus_between_stretches_and_pairs_silence_with_real_aus(scenes):
    model = head_model_of(open_track(scenes[0]).manifest["config"])
    clips, _, sig = load_motion_clips(scenes, ["a", "b"], model, 50, 8, lambda line: None)
    silence = silent_stretches(scenes[0], 8)
    assert silence.shape == (3, 8, 16, sig.audio_dim)
    grmn = GRMN(MotionConfig(audio_dim=sig.audio_dim, identity_dim=sig.identity_dim, **TINY_MOTION))
    config = MotionPretrainConfig(batch=4, stretch=8, silence_batch=2, au_swap=1.0)
    batch = draw_batch(np.random.default_rng(0), clips, silence, grmn, config, torch.Generator().manual_seed(0))
    assert batch.audio.shape[:2] == (6, 8) and batch.expr.shape[0] == 32 and batch.neutral.shape == (16,)
    # With au_swap 1 no speech stretch keeps its own AUs: its audio and its AUs come from different stretches.
    own = {tuple(c.aus[i].tolist()): (c.name, i) for c in clips for i in range(c.n_frames)}
    for k in range(4):
        audio_rows = {tuple(r.float().flatten()[:5].tolist()) for r in batch.audio[k]}
        au_source = {own[tuple(r.tolist())] for r in batch.aus[k]}
        speech_source = {(c.name, i) for c in clips for i in range(c.n_frames)
                         if tuple(c.audio[i].float().flatten()[:5].tolist()) in audio_rows}
        assert not au_source & speech_source
    assert torch.isin(batch.neutral, torch.tensor([c.neutral for c in clips])).all()
    assert all(tuple(r.tolist()) in own for r in batch.aus[4:].reshape(-1, 6))


def test_cli_stage_motion(scenes, tmp_path):
    done = subprocess.run([sys.executable, "-m", "emotag_cli.cli", "pretrain", *map(str, scenes), "-o",
                           str(tmp_path / "prior"), "--stage", "motion", "--motion-iterations", "2", "--stretch", "8",
                           "--batch", "2"], capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(tmp_path / "prior") and Prior.open(tmp_path / "prior").manifest["steps"] == 2
    bad = subprocess.run([sys.executable, "-m", "emotag_cli.cli", "pretrain", str(scenes[0]), "-o",
                          str(tmp_path / "p2"), "--stage", "paint"], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1] == (
        "emotag: error: --stage must be one of motion, render, full, got 'paint'")


@pytest.mark.real
def test_two_process_torchrun_motion_stage(scenes, tmp_path):
    """torchrun --nproc_per_node 2 on CPU (gloo): DDP over the motion objective, one prior from rank 0."""
    out = tmp_path / "prior"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "emotag_cli.cli", "pretrain", *map(str, scenes), "-o", str(out), "--stage",
                           "motion", "--motion-iterations", "3", "--batch", "2", "--stretch", "8"],
                          capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(out)
    prior = Prior.open(out)
    assert prior.manifest["world_size"] == 2 and prior.manifest["steps"] == 3
