"""`emotag pretrain` and `emotag adapt`: the priors and avatars they write, exact resumption after a
Ctrl-C, `--tune adain`, refusals, the mouth region, the evaluation helper, and a 2-process
torchrun run on CPU.

The scenes are real: the first 40 frames of two clips, preprocessed at 96 px and tracked with a
short fit (about 10 s for both, once per module). The networks are small versions of the GRMN
(same structure, narrow layers) so that a step takes milliseconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from emotag_cli.artifact import read_manifest, write_manifest
from emotag_cli.avatar import Avatar
from emotag_cli.errors import EmotagError
from emotag_cli.evaluation.avatar_metrics import evaluate_avatar, inner_lip_gap, mouth_landmark_distance, pearson
from emotag_cli.forward.clip import TrackedClip
from emotag_cli.forward.frame import head_vertices
from emotag_cli.forward.mouth_region import LIP_LANDMARKS, select_mouth
from emotag_cli.gaussians.ply import read_ply
from emotag_cli.head.lbs import HeadPose
from emotag_cli.head.open_model import load_open_model
from emotag_cli.motion.grmn import GRMN
from emotag_cli.motion.losses import flame_loss
from emotag_cli.prior import Prior
from emotag_cli.progress import quiet
from emotag_cli.train.adapt import adapt
from emotag_cli.train.checkpoint import checkpoint_dir
from emotag_cli.train.motion_step import (
    IdentityData,
    LossWeights,
    MotionDriver,
    Stretch,
    draw_stretches,
    step_loss,
)
from emotag_cli.train.pretrain import pretrain

from _avatars import N_FRAMES, SIZE, TINY_MOTION, tiny_adapt, tiny_pretrain  # noqa: E402,F401
from conftest import REPO


def state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_states(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------- pretrain


def test_pretrain_writes_a_prior_that_validates_and_loads(scenes, prior):
    p = Prior.open(prior)
    m = p.manifest
    assert m["kind"] == "prior" and m["schema_version"] == 1 and m["steps"] == 6
    assert m["audio"]["encoder"] == Prior.open(prior).signature.audio_encoder == "mel-80" and m["audio"]["dim"] == 80
    assert m["identity"]["dim"] == 128 and m["head_model"]["id"] == "open"
    assert len(m["head_model"]["source"]["sha256"]) == 64
    assert [s["path"] for s in m["scenes"]] == [str(s) for s in scenes]
    assert all(len(s["landmarks_sha256"]) == 64 and len(s["track_sha256"]) == 64 for s in m["scenes"])
    assert m["config"]["iterations"] == 6 and m["motion"]["d_model"] == 32
    # The network rebuilds from the manifest; EMA and last weights differ (both trained, averaged).
    raw, ema = p.motion_model(ema=False), p.motion_model(ema=True)
    assert isinstance(raw, GRMN) and raw.config.audio_dim == 80
    fresh = GRMN(p.motion_config())
    changed = [k for k, v in raw.state_dict().items() if not torch.equal(v, fresh.state_dict()[k])]
    assert any("adain" in k for k in changed) and any("decoder" in k for k in changed)
    assert any(not torch.equal(v, ema.state_dict()[k]) for k, v in raw.state_dict().items())
    # Both phases ran: static warm-up (per identity) then the blended dynamic steps.
    rows = (prior / "losses.csv").read_text().splitlines()
    assert len(rows) == 7 and "static" in rows[1] and any(",dynamic," in r for r in rows)
    assert sorted(f.name for f in (prior / "gaussians").iterdir()) == sorted(f"{s.name}.pt" for s in scenes)
    assert not checkpoint_dir(prior).exists()
    assert [f.name for f in prior.parent.iterdir() if f.name.startswith(".")] == []


def _interrupt_at(k: int):
    def hook(step: int) -> None:
        if step == k:
            signal.raise_signal(signal.SIGINT)          # what Ctrl-C does
    return hook


def test_interrupted_pretraining_resumes_to_the_same_parameters(scenes, prior, tmp_path):
    out = tmp_path / "prior"
    with pytest.raises(KeyboardInterrupt):
        pretrain(scenes, out, tiny_pretrain(), reporter=quiet(), on_step=_interrupt_at(3))
    ckpt = checkpoint_dir(out)
    assert not out.exists() and (ckpt / "latest").read_text().strip() == "3"
    # A fresh start is refused, and so is resuming with other settings.
    with pytest.raises(EmotagError, match="--resume"):
        pretrain(scenes, out, tiny_pretrain(), reporter=quiet())
    with pytest.raises(EmotagError, match="differs in: iterations"):
        pretrain(scenes, out, tiny_pretrain(iterations=8), reporter=quiet(), resume=True)
    pretrain(scenes, out, tiny_pretrain(), reporter=quiet(), resume=True)
    assert_same_states(state(out / "grmn.pt"), state(prior / "grmn.pt"))
    assert_same_states(state(out / "grmn_ema.pt"), state(prior / "grmn_ema.pt"))
    for f in (prior / "gaussians").iterdir():
        assert_same_states(state(out / "gaussians" / f.name), state(f))

    def rows(p):
        return [r.rsplit(",", 1)[0] for r in (p / "losses.csv").read_text().splitlines()]   # without seconds

    assert rows(out) == rows(prior)
    assert Prior.open(out).manifest["timings"]["resumed_from"] == 3 and not ckpt.exists()


def test_pretrain_refuses_scenes_that_do_not_match(scenes, tmp_path):
    other = tmp_path / "whisper"
    shutil.copytree(scenes[1], other)
    manifest = read_manifest(other, "scene", 1)
    manifest["features"]["audio"]["encoder"] = "whisper-tiny"
    np.save(other / "audio_features.npy", np.zeros((N_FRAMES, 16, 384), np.float16))
    write_manifest(other, manifest)
    with pytest.raises(EmotagError, match=r"whisper-tiny \(384-d\) instead of mel-80 \(80-d\)"):
        pretrain([scenes[0], other], tmp_path / "prior", tiny_pretrain(), reporter=quiet())
    with pytest.raises(EmotagError, match="listed twice"):
        pretrain([scenes[0], scenes[0]], tmp_path / "prior", tiny_pretrain(), reporter=quiet())
    assert not (tmp_path / "prior").exists()


# ---------------------------------------------------------------- adapt


def test_adapt_tunes_only_adain(prior, avatar, scenes, tmp_path):
    before, after = state(prior / "grmn_ema.pt"), state(avatar / "grmn.pt")
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    adain = {k for k in before if ".adain_" in k}
    assert changed and changed <= adain
    # With --tune all the rest moves too (so the comparison above can see a change).
    everything = adapt(scenes[0], prior, 1.0, tmp_path / "all", tiny_adapt(tune="all"), reporter=quiet())
    moved = {k for k, v in state(everything / "grmn.pt").items() if not torch.equal(v, before[k])}
    assert moved - adain


def test_avatar_holds_everything_render_needs(avatar, scenes):
    a = Avatar.open(avatar)
    m = a.manifest
    assert m["kind"] == "avatar" and m["train_frames"] == [0, 25] and m["eval_frames"] == [25, N_FRAMES]
    assert m["size"] == 64 and m["scene_size"] == SIZE and m["config"]["tune"] == "adain"
    assert m["audio"]["encoder"] == "mel-80" and m["prior"]["ema_sha256"] and m["timings"]["train_s"] > 0
    driving = a.driving()
    assert {k: v.shape for k, v in driving.items()} == {
        "rotation": (25, 3), "neck": (25, 3), "eyes": (25, 6), "translation": (25, 3), "aus": (25, 6),
        "emotion": (25, 7), "expr": (25, 50), "jaw": (25, 3)}
    assert np.allclose(driving["aus"], np.load(scenes[0] / "aus.npy")[:25])
    gs = a.gaussians()
    assert gs.n == m["n_gaussians"] and gs.sh_degree == 1
    assert len(read_ply(avatar / "canonical.ply")["x"]) == gs.n
    model = a.head_model()
    assert a.shape().shape == (model.n_shape,) and a.identity().shape == (128,)
    assert a.K()[0, 2] == pytest.approx(a.camera().cx * 64 / SIZE)
    mouth = a.mouth()
    assert 0 < int(mouth.faces.sum()) < model.faces.shape[0] // 4
    assert a.background().shape == (SIZE, SIZE, 3)
    net = a.motion_model()
    assert not net.training and net.config.d_model == 32
    # A damaged avatar is refused with a message.
    embedding = a.identity().numpy()
    np.save(avatar / "identity.npy", embedding[:5])
    try:
        with pytest.raises(EmotagError, match="identity.npy"):
            Avatar.open(avatar)
    finally:
        np.save(avatar / "identity.npy", embedding)


def test_prior_and_avatar_carry_the_emotion_directions_and_refuse_foreign_ones(prior, avatar, tmp_path):
    """The shipped directions belong to the shipped open model the scenes were tracked with, so
    pretraining anchors on them by default; they travel in the prior's and the avatar's manifests
    and state dicts, and an artifact whose directions name another head-model build is refused."""
    p, a = Prior.open(prior), Avatar.open(avatar)
    record = p.manifest["motion"]["emotion_directions"]
    assert record["head_model"]["sha256"] == p.manifest["head_model"]["source"]["sha256"]
    assert a.manifest["motion"]["emotion_directions"] == record
    assert set(record["emotions"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise"}
    assert "decoder.anchor.directions" in state(avatar / "grmn.pt")
    for artifact, kind in ((prior, "prior"), (avatar, "avatar")):
        copy = tmp_path / kind
        shutil.copytree(artifact, copy)
        manifest = read_manifest(copy, kind, 1)
        manifest["motion"]["emotion_directions"]["head_model"]["sha256"] = "f" * 64
        write_manifest(copy, manifest)
        with pytest.raises(EmotagError, match=rf"{kind} .*emotion directions v1 for head model open "
                                              r"\(sha256 ffffffffffff…\) do not belong to head model open"):
            (Prior if kind == "prior" else Avatar).open(copy)


def test_adapt_refusals(scenes, prior, tmp_path):
    too_short = r"scene has 40 frames \(1\.6 s\); --seconds 5 needs 125: give --seconds 1\.6 or less"
    with pytest.raises(EmotagError, match=too_short):
        adapt(scenes[0], prior, 5, tmp_path / "a", tiny_adapt(), reporter=quiet())
    other = tmp_path / "hubert"
    shutil.copytree(scenes[0], other)
    manifest = read_manifest(other, "scene", 1)
    manifest["features"]["audio"]["encoder"] = "hubert:hubert-base-ls960"
    np.save(other / "audio_features.npy", np.zeros((N_FRAMES, 16, 768), np.float16))
    write_manifest(other, manifest)
    with pytest.raises(EmotagError, match="hubert.*768-d.*instead of mel-80"):
        adapt(other, prior, 1.0, tmp_path / "a", tiny_adapt(), reporter=quiet())
    with pytest.raises(EmotagError, match="not a prior"):
        adapt(scenes[0], scenes[1], 1.0, tmp_path / "a", tiny_adapt(), reporter=quiet())
    assert not (tmp_path / "a").exists()


def test_interrupted_adaptation_resumes_to_the_same_avatar(scenes, prior, avatar, tmp_path):
    out = tmp_path / "avatar"
    with pytest.raises(KeyboardInterrupt):
        adapt(scenes[0], prior, 1.0, out, tiny_adapt(), reporter=quiet(), on_step=_interrupt_at(3))
    adapt(scenes[0], prior, 1.0, out, tiny_adapt(), reporter=quiet(), resume=True)
    assert_same_states(state(out / "grmn.pt"), state(avatar / "grmn.pt"))
    assert_same_states(state(out / "gaussians.pt"), state(avatar / "gaussians.pt"))


def test_evaluate_avatar_on_held_out_frames(avatar, scenes, tmp_path):
    result = evaluate_avatar(avatar, scenes[0], sheet=tmp_path / "sheet.png")
    assert result["frames"] == N_FRAMES - 25
    assert all(np.isfinite(result[k]) for k in ("psnr", "ssim", "lmd", "psnr_tracked", "lmd_tracked"))
    assert -1 <= result["jaw_corr"] <= 1 and 0 < result["ssim"] <= 1
    # The tracked mesh reproduces the tracked landmarks to within a pixel or so at 96 px.
    assert result["lmd_tracked"] < 1.5
    # ... and its mouth opens and closes with the landmarks' (the predicted one need not).
    assert result["opening_corr_tracked"] > 0.8 and -1 <= result["opening_corr"] <= 1
    assert (tmp_path / "sheet.png").stat().st_size > 0
    with pytest.raises(EmotagError, match="no frames"):
        evaluate_avatar(avatar, scenes[0], frames=[])


def test_metric_helpers():
    x = np.arange(10.0)
    assert pearson(x, 3 * x + 1) == pytest.approx(1) and pearson(x, -x) == pytest.approx(-1)
    pts = np.random.default_rng(0).normal(size=(40, 2))
    assert mouth_landmark_distance(pts + [5.0, -2.0], pts) == pytest.approx(0, abs=1e-12)
    assert mouth_landmark_distance(pts * 2, pts) == pytest.approx(np.linalg.norm(pts - pts.mean(0), axis=1).mean())
    order = np.array([13, 14, 82, 87, 0, 312, 317])                 # MediaPipe ids of the rows; 0 is no pair
    mouth = np.array([[0, 0], [0, 3], [1, 0], [1, 5], [9, 9], [2, 0], [2, 4]], float)
    assert inner_lip_gap(mouth, order) == pytest.approx(4.0)         # mean of 3, 5 and 4


# ---------------------------------------------------------------- mouth region


def test_lip_landmarks_are_mediapipes():
    pytest.importorskip("mediapipe")
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_LIPS

    assert set(LIP_LANDMARKS) == {i for edge in FACEMESH_LIPS for i in edge}


def test_mouth_region_and_its_bound(scenes):
    model = load_open_model()
    data = IdentityData.load(scenes[0], None, model)
    region = data.mouth
    assert torch.equal(region.lip_vertices, torch.tensor(LIP_LANDMARKS))      # open model: landmark i is vertex i
    touching = torch.isin(model.faces, region.lip_vertices).any(-1)
    assert region.faces[touching].all() and region.faces.sum() > touching.sum()     # the 1-ring adds more
    assert torch.equal(region.faces, select_mouth(model, data.clip.canonical_vertices()).faces)
    # The mouth stays inside the refinement's ±0.15 m box in the head frame, even with the jaw
    # wide open and the strongest tracked expression.
    pose = data.clip.pose(list(range(N_FRAMES)))
    wide = HeadPose(pose.shape, pose.expr * 2, pose.rotation, pose.neck, pose.jaw + torch.tensor([0.6, 0, 0]),
                    pose.eyes, pose.translation)
    verts = head_vertices(model, wide)
    mouth_verts = torch.unique(model.faces[region.faces])
    offset = (verts[:, mouth_verts] - region.centre).abs().max()
    assert 0.01 < offset < 0.15


def test_frame_cache_is_bounded_and_gives_the_same_frames(scenes):
    model = load_open_model()
    unbounded = TrackedClip(scenes[0], size=64, model=model)
    one_frame = 4 * (3 + 1 + 3) * 64 * 64 + 4 * 3 * model.n_vertices          # image, head, backdrop, verts
    bounded = TrackedClip(scenes[0], size=64, model=model, cache_mb=2.5 * one_frame / 2**20)
    for i in [0, 1, 2, 3, 0, 5, 1]:
        a, b = unbounded.frame(i), bounded.frame(i)
        assert all(torch.equal(x, y) for x, y in zip((a.image, a.head, a.backdrop, a.verts),
                                                     (b.image, b.head, b.backdrop, b.verts)))
        assert bounded._cached_bytes <= bounded.cache_bytes and len(bounded._cache) <= 2
    assert len(unbounded._cache) == 5
    depth, normals = bounded.mesh_geometry(3)
    assert torch.equal(depth, unbounded.mesh_geometry(3)[0]) and (depth > 0).any()


def test_motion_stretches_come_from_several_identities(scenes):
    model = load_open_model()
    data = [IdentityData.load(p, 64, model) for p in scenes]
    sampler = np.random.default_rng(0)
    drawn = draw_stretches(sampler, data, 6, 40)
    assert len(drawn) == 40 and {s.data.name for s in drawn} == {d.name for d in data}
    assert all(len(s.frames) == 6 and 0 <= s.frames.start and s.frames.stop <= N_FRAMES for s in drawn)
    limited = draw_stretches(sampler, data, 6, 40, limit=10)      # adaptation: training frames only
    assert all(s.frames.stop <= 10 for s in limited)
    assert draw_stretches(sampler, data, 0, 4) == [] and draw_stretches(sampler, data, 6, 0) == []


def test_step_loss_averages_the_flame_term_over_frame_and_stretches(scenes, avatar):
    """The flame term of a step is the mean over the rendered frame and every stretch frame, each
    stretch predicted by GRMN.sequence with its own identity's inputs."""
    model = load_open_model()
    data = [IdentityData.load(p, 64, model) for p in scenes]
    loaded = Avatar.open(avatar)
    grmn, gs = loaded.motion_model().eval(), loaded.gaussians()
    grmn.config.p_teacher = 0.0                      # no random teacher forcing: comparable predictions
    stretches = [Stretch(data[1], range(3, 9)), Stretch(data[0], range(20, 24))]
    with torch.no_grad():
        alone = step_loss(MotionDriver(grmn), grmn, data[0], gs, model, 5, None, LossWeights()).terms["flame"]
        both = step_loss(MotionDriver(grmn), grmn, data[0], gs, model, 5, None, LossWeights(),
                         stretches=stretches).terms["flame"]
        expected = alone
        for st in stretches:
            cut = slice(st.frames.start, st.frames.stop)
            seq = grmn.sequence(st.data.audio[cut].float(), st.data.aus[cut], st.data.identity)
            expected += len(st.frames) * float(flame_loss(seq.expr, seq.jaw, st.data.expr[cut], st.data.jaw[cut]))
    assert both == pytest.approx(expected / 11, rel=1e-5)
    assert both != pytest.approx(alone, rel=1e-3)


# ---------------------------------------------------------------- torchrun


@pytest.mark.real
def test_two_process_torchrun_pretraining_checkpoints_and_resumes(scenes, tmp_path):
    """torchrun --nproc_per_node 2 on CPU (gloo): Ctrl-C saves a checkpoint, --resume finishes."""
    out = tmp_path / "prior"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "emotag_cli.cli", "pretrain", *map(str, scenes), "-o", str(out), "--stage", "render",
           "--preset", "cpu", "--size", "64", "--gaussians", "300", "--warmup", "2", "--checkpoint-every", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([*cmd, "--iterations", "60"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    latest = checkpoint_dir(out) / "latest"
    deadline = time.time() + 240
    while not latest.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert latest.exists(), proc.communicate()[1].decode()[-2000:]
    os.killpg(proc.pid, signal.SIGINT)                                    # Ctrl-C in the terminal
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and not out.exists()
    stopped = int(latest.read_text())
    assert stopped >= 2 and "continue with --resume" in err.decode()
    assert sorted(p.name for p in (checkpoint_dir(out) / f"step-{stopped:08d}").iterdir()) == [
        "rank-0.pt", "rank-1.pt", "shared.pt"]
    done = subprocess.run([*cmd, "--iterations", str(stopped + 2), "--resume"], env=env, capture_output=True,
                          timeout=240)
    assert done.returncode != 0 and b"differs in: iterations" in done.stderr    # a resume keeps the settings
    done = subprocess.run([*cmd, "--iterations", "60", "--resume"], env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout.decode().strip() == str(out)
    prior = Prior.open(out)
    assert prior.manifest["world_size"] == 2 and prior.manifest["timings"]["resumed_from"] == stopped
    assert sorted(f.name for f in (out / "gaussians").iterdir()) == sorted(f"{s.name}.pt" for s in scenes)
    ranks = [int(r.split(",")[1]) for r in (out / "losses.csv").read_text().splitlines()[1:]]
    assert sorted(set(ranks)) == [0, 1] and len(ranks) == 2 * 60
