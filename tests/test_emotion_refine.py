"""Refining emotion directions on renders (synthesis/emotion_refine.py, scripts/refine_emotion_directions.py):
the differentiable crop is the teacher's own, a refined direction keeps a direction's constraints,
the gradient through renderer and teacher is the true derivative, and the script writes a
directions file the product loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emotag_cli.avatar import Avatar
from emotag_cli.contract import EMOTIONS
from emotag_cli.head.emotion_directions import EmotionDirections, load_emotion_directions
from emotag_cli.head.emotion_estimate import lip_opening_gradient
from emotag_cli.preprocess.emotion import emotion_teacher
from emotag_cli.preprocess.face_align import crop_square
from emotag_cli.synthesis.emotion_refine import allowed, prepare_avatar, render_frame, teacher_input

REPO = Path(__file__).resolve().parents[1]


def smooth_image(seed: int, size: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("box", [(40.0, 30.0, 168.0, 158.0),      # inside, shrunk by area averaging
                                 (-20.5, 90.2, 109.5, 220.2),     # past two edges: replicated pixels
                                 (70.3, 60.8, 110.3, 100.8)])     # smaller than the input: bilinear
def test_the_differentiable_crop_is_the_teachers_own(box):
    teacher = emotion_teacher("fer")
    rgb = smooth_image(0)
    box = np.asarray(box, np.float32)
    ours = teacher_input(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, box, teacher)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    theirs = torch.from_numpy(teacher.normalise(crop_square(gray, box, teacher.crop.size)[None])[:, None])
    assert ours.shape == theirs.shape == (1, 1, 64, 64)
    # grey stays float here (the teacher's is rounded to uint8): half a level, 2/255 in [-1, 1]
    assert (ours - theirs).abs().mean() < 0.02
    with torch.no_grad():
        p_ours, p_theirs = (torch.softmax(teacher.network(x), -1) for x in (ours, theirs))
    assert (p_ours - p_theirs).abs().max() < 0.03


def test_a_refined_direction_keeps_a_directions_constraints():
    gen = torch.Generator().manual_seed(0)
    opening = torch.randn(53, generator=gen)
    opening[50:] = 0
    opening /= opening.norm()
    v = allowed(torch.randn(53, generator=gen) * 5, opening, 50, limit=2.0)
    assert torch.all(v[50:] == 0)
    assert abs(float(v @ opening)) < 1e-5
    assert float(v.norm()) == pytest.approx(2.0, rel=1e-5)
    small = allowed(torch.randn(53, generator=gen) * 1e-3, opening, 50, limit=2.0)
    assert float(small.norm()) < 2.0 and abs(float(small @ opening)) < 1e-8


def test_gradient_steps_through_renderer_and_teacher_raise_the_teachers_reading(avatar, speech_file):
    """A few Adam steps on v for one frame make the teacher read that frame as happier: the gradient
    reaches the expression through rasterizer, crop and network, with the right sign."""
    from emotag_cli.media.audio import decode_audio

    wav, _ = decode_audio(speech_file("emotalk_happy.wav"), 16000)
    a = prepare_avatar(avatar, wav[:16000], 16000, load_emotion_directions(), size=128)
    teacher = emotion_teacher("fer")
    box = np.array([24.0, 20.0, 104.0, 100.0], np.float32)
    t = int(a.speech[len(a.speech) // 2])
    happy = EMOTIONS.index("happy")

    def logp(v: torch.Tensor) -> torch.Tensor:
        image = render_frame(a, t, a.motion["happy"][t] + v, 128)
        return torch.log_softmax(teacher.network(teacher_input(image, box, teacher)).double(), -1)[0, happy]

    v = torch.zeros(a.motion["happy"].shape[1], requires_grad=True)
    opt = torch.optim.Adam([v], lr=0.2)
    with torch.no_grad():
        before = float(logp(v))
    for _ in range(6):
        opt.zero_grad()
        (-logp(v)).backward()
        assert v.grad[:50].abs().max() > 0, "no gradient reaches the expression"
        opt.step()
    with torch.no_grad():
        after = float(logp(v))
    assert after > before + 0.05


def test_the_script_writes_directions_the_product_loads(avatar, speech_file, tmp_path):
    out = tmp_path / "refined.json"
    cmd = [sys.executable, str(REPO / "scripts" / "refine_emotion_directions.py"), str(avatar),
           "--audio", str(speech_file("emotalk_happy.wav")), "--seconds", "1", "--steps", "2", "--frames", "1",
           "--size", "128", "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    refined = load_emotion_directions(out)
    shipped = load_emotion_directions()
    assert refined.emotions == shipped.emotions
    assert (refined.head_model, refined.head_model_sha256) == (shipped.head_model, shipped.head_model_sha256)
    assert np.allclose(np.linalg.norm(refined.directions, axis=1), 1.0, atol=1e-6)
    assert np.all(refined.directions[:, 50:] == 0)
    model = Avatar.open(avatar).head_model()
    opening = lip_opening_gradient(model)
    assert np.abs(refined.directions @ (opening / np.linalg.norm(opening))).max() < 1e-6
    record = json.loads(out.read_text())["provenance"]["refined"]
    assert record["avatars"] == [avatar.name] and record["settings"]["steps"] == 2
    assert set(record["summary"]) == set(shipped.emotions)
    data_magnitude = shipped.provenance.get("refined", {}).get("data_directions", {"magnitude": shipped.magnitude})
    limit = record["settings"]["max_factor"] * np.asarray(data_magnitude["magnitude"])
    assert np.all(refined.magnitude <= limit + 1e-6)
    assert isinstance(refined, EmotionDirections)
    data = shipped.provenance.get("refined", {}).get("data_directions", {"directions": shipped.directions})
    assert np.allclose(record["data_directions"]["directions"], data["directions"], atol=1e-6)
    # Refining a refined file starts again from the real faces' directions: no compounding.
    again = tmp_path / "again.json"
    subprocess.run([*cmd[:-1], str(again), "--directions", str(out), "--steps", "1"], check=True,
                   capture_output=True, timeout=600)
    assert json.loads(again.read_text())["provenance"]["refined"]["data_directions"] == record["data_directions"]


def test_an_avatar_refined_on_its_own_clip_keeps_working(avatar, tmp_path, speech_file):
    """`emotag adapt --refine-emotions N`: the avatar's anchor moves to the refined directions,
    its manifest says so and still verifies, and it renders."""
    import dataclasses
    import shutil

    from emotag_cli.config import RenderConfig
    from emotag_cli.synthesis.emotion_refine import AVATAR_SETTINGS, refine_avatar
    from emotag_cli.synthesis.render import render

    copy = tmp_path / "avatar"
    shutil.copytree(avatar, copy)
    before = Avatar.open(copy).motion_config().emotion_directions
    steps = []
    summary = refine_avatar(copy, dataclasses.replace(AVATAR_SETTINGS, steps=2, size=128), log=lambda _: None,
                            progress=steps.append)
    assert steps == [1, 1] and set(summary) == set(before["emotions"])
    assert all(row["strain_excess_max"] >= 0 and row["strain"]["max"] > 0 for row in summary.values())
    refined = Avatar.open(copy)                               # hashes re-checked
    after = refined.motion_config().emotion_directions
    assert not np.allclose(after["directions"], before["directions"])
    anchor = refined.motion_model().decoder.anchor
    for name, row, m in zip(after["emotions"], after["directions"], after["magnitude"]):
        i = EMOTIONS.index(name)
        assert np.allclose(anchor.directions[i].numpy(), row, atol=1e-6)
        assert float(anchor.scale[i].detach()) == pytest.approx(m, rel=1e-5)
        assert m <= AVATAR_SETTINGS.max_factor * before["magnitude"][before["emotions"].index(name)] + 1e-6
    assert refined.manifest["emotion_refinement"]["start"]["directions"] == before["directions"]
    assert not list(tmp_path.glob(".avatar.refine-*"))
    out = render(copy, speech_file("emotalk_happy.wav"), tmp_path / "happy.mp4",
                 RenderConfig(emotion="happy", intensity=1.0, size=96))
    assert out["frames"] > 0


def test_adapt_refines_emotions_when_asked_and_refuses_a_negative_count(scenes, prior, tmp_path):
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "emotag_cli.cli", "adapt", str(scenes[0]), "--prior", str(prior), "--seconds", "1",
            "--iterations", "2", "--warmup", "1", "--gaussians", "300", "--size", "64", "--device", "cpu"]
    bad = subprocess.run([*base, "-o", str(tmp_path / "bad"), "--refine-emotions", "-1"], capture_output=True,
                         text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "--refine-emotions must be 0 or more steps, got -1" in bad.stderr
    assert not (tmp_path / "bad").exists()
    good = subprocess.run([*base, "-o", str(tmp_path / "avatar"), "--refine-emotions", "1"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert good.returncode == 0, good.stderr
    manifest = json.loads((tmp_path / "avatar" / "manifest.json").read_text())
    assert manifest["emotion_refinement"]["settings"]["steps"] == 1
    Avatar.open(tmp_path / "avatar")
