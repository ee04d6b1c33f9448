"""`emotag render`: speech in, mp4 out, with emotion control, drive sources and backgrounds."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from emotag_cli.errors import EmotagError
from emotag_cli.media.audio import decode_audio
from emotag_cli.media.probe import probe
from emotag_cli.media.video import decode_cfr
from emotag_cli.motion.control import EMOTIONS, NEUTRAL
from emotag_cli.motion.timeline import emotion_track, parse_emotion
from emotag_cli.synthesis.drive import ping_pong
from emotag_cli.synthesis.render import RenderConfig, render


def test_ping_pong_never_jumps():
    idx = ping_pong(20, 5)
    assert idx.tolist()[:10] == [0, 1, 2, 3, 4, 3, 2, 1, 0, 1]
    assert np.abs(np.diff(idx)).max() == 1
    assert ping_pong(4, 1).tolist() == [0, 0, 0, 0]


def test_emotion_timeline_segments_and_cross_fades():
    emo, gate = emotion_track("happy:0-2,sad:2-4", 0.8, n_frames=125, fps=25)
    assert emo.shape == (125, 7) and gate.shape == (125, 1) and torch.allclose(gate, torch.tensor(0.8))
    assert torch.allclose(emo.sum(1), torch.ones(125), atol=1e-5)
    happy, sad = EMOTIONS.index("happy"), EMOTIONS.index("sad")
    assert emo[10, happy] == pytest.approx(0.8, abs=1e-4) and emo[10, NEUTRAL] == pytest.approx(0.2, abs=1e-4)
    assert emo[75, sad] == pytest.approx(0.8, abs=1e-4)
    assert emo[110, NEUTRAL] == pytest.approx(1.0, abs=1e-4)               # after the timeline: neutral
    # The change at 2 s is spread over several frames, each step small.
    assert (emo[:, happy].diff().abs() < 0.3).all()
    assert 0.2 < emo[50, happy] < 0.6
    assert emotion_track("auto", None, 10) == (None, None)


@pytest.mark.parametrize("spec", ["joy", "happy:3-1", "happy:a-b", "happy:0-1;sad:1-2"])
def test_bad_emotion_specs_are_refused(spec):
    with pytest.raises(EmotagError, match="--emotion"):
        parse_emotion(spec)


def test_render_makes_an_mp4_as_long_as_the_audio(avatar, tmp_path, speech_file):
    speech = speech_file("emotalk_happy.wav")
    wav, _ = decode_audio(speech)
    out = tmp_path / "out.mp4"
    facts = render(avatar, speech, out, RenderConfig(emotion="happy", intensity=1.0), save_params=tmp_path / "p.npz",
                   frames_dir=tmp_path / "frames")
    info = probe(out)
    n = round(len(wav) / 16000 * 25)
    assert facts["frames"] == n and info.n_frames(25) == n and info.has_audio
    assert abs(info.duration_s - len(wav) / 16000) <= 0.04
    assert len(list((tmp_path / "frames").glob("*.png"))) == n
    params = np.load(tmp_path / "p.npz")
    assert params["expr"].shape == (n, 50) and np.allclose(params["gate"], 1.0)
    # The muxed audio is the speech: its loudness envelope follows the input's.
    got, _ = decode_audio(out)
    m = min(len(got), len(wav)) // 640
    env_in = np.abs(wav[: 640 * m]).reshape(m, 640).mean(1)
    env_out = np.abs(got[: 640 * m]).reshape(m, 640).mean(1)
    assert np.corrcoef(env_in, env_out)[0, 1] > 0.9
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_emotion_and_intensity_change_the_motion(avatar, tmp_path, speech_file):
    speech = speech_file("emotalk_sad.wav")
    runs = {}
    for name, emotion, intensity in [("neutral", "neutral", 0.0), ("happy", "happy", 1.0), ("angry", "angry", 1.0)]:
        render(avatar, speech, tmp_path / f"{name}.mp4", RenderConfig(emotion=emotion, intensity=intensity),
               save_params=tmp_path / f"{name}.npz")
        runs[name] = np.load(tmp_path / f"{name}.npz")
    base = runs["neutral"]
    assert np.allclose(base["gate"], 0.0)
    for name in ("happy", "angry"):
        assert np.abs(runs[name]["expr"] - base["expr"]).mean() > 1e-4        # the residual acts
    assert np.abs(runs["happy"]["expr"] - runs["angry"]["expr"]).mean() > 1e-5


def test_still_drive_and_colour_background(avatar, tmp_path, speech_file):
    speech = speech_file("emotalk_angry2.wav")
    out = tmp_path / "still.mp4"
    render(avatar, speech, out, RenderConfig(drive="still", background="#00ff00"), save_params=tmp_path / "s.npz")
    params = np.load(tmp_path / "s.npz")
    assert (params["source_frame"] == 0).all()
    first = next(iter(decode_cfr(probe(out), 25.0)))
    corner = first[:4, :4].reshape(-1, 3).mean(0)
    assert corner[1] > 200 and corner[0] < 60 and corner[2] < 60            # the green background


def test_render_refusals(avatar, tmp_path, scenes, speech_file):
    speech = speech_file("emotalk_happy.wav")
    (tmp_path / "x.mp4").write_bytes(b"")
    with pytest.raises(EmotagError, match="--overwrite"):
        render(avatar, speech, tmp_path / "x.mp4")
    with pytest.raises(EmotagError, match=".mp4"):
        render(avatar, speech, tmp_path / "x.avi")
    with pytest.raises(EmotagError, match="not a avatar|is a scene"):
        render(scenes[0], speech, tmp_path / "y.mp4")
    with pytest.raises(EmotagError, match="--intensity"):
        render(avatar, speech, tmp_path / "z.mp4", RenderConfig(emotion="happy", intensity=1.5))
    with pytest.raises(EmotagError, match="--emotion-mouth must be speech or free, got 'open'"):
        render(avatar, speech, tmp_path / "v.mp4", RenderConfig(emotion="happy", emotion_mouth="open"))
    with pytest.raises(EmotagError, match="tracked scene first"):
        render(avatar, speech, tmp_path / "w.mp4", RenderConfig(drive=str(speech)))
    assert not any(p.suffix == ".mp4" and p.name != "x.mp4" for p in tmp_path.iterdir())


def test_cli_render_prints_the_path_and_fps(avatar, tmp_path, speech_file):
    speech = speech_file("emotalk_happy.wav")
    out = tmp_path / "cli.mp4"
    done = subprocess.run([sys.executable, "-m", "emotag_cli.cli", "render", str(avatar), "--audio", str(speech),
                           "-o", str(out), "--emotion", "happy:0-2,sad:2-4"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and "FPS" in done.stderr


def test_render_size_option_scales_the_output(avatar, tmp_path, speech_file):
    out = tmp_path / "big.mp4"
    facts = render(avatar, speech_file("emotalk_happy.wav"), out, RenderConfig(size=128))
    info = probe(out)
    assert facts["size"] == 128 and info.width == 128 and info.height == 128
    with pytest.raises(EmotagError, match="--size"):
        render(avatar, speech_file("emotalk_happy.wav"), tmp_path / "odd.mp4", RenderConfig(size=33))


def test_a_vhap_avatar_renders_on_the_mesh_it_was_trained_on(scenes, prior, tmp_path):
    """A VHAP track adds a static offset [V, 3] to every frame's mesh, and the Gaussians are trained
    on that mesh; render must add it too. Here the offset moves the head 5 cm to the subject's
    left: the rendered head must sit where the offset mesh projects, not where the mesh without
    the offset does (before the fix, render drew it there)."""
    import shutil

    import cv2

    from emotag_cli.artifact import write_manifest
    from emotag_cli.avatar import Avatar
    from emotag_cli.head.lbs import HeadPose, flame_forward
    from emotag_cli.head.registry import head_model_of
    from emotag_cli.progress import quiet
    from emotag_cli.track.params import load_params, save_params
    from emotag_cli.track.result import open_track
    from emotag_cli.train.adapt import adapt

    from _avatars import tiny_adapt

    scene = tmp_path / "vhap_scene"
    shutil.copytree(scenes[0], scene)
    params = load_params(scene / "track" / "params.npz")
    n_vertices = head_model_of(open_track(scene).manifest["config"]).n_vertices
    offset = np.zeros((n_vertices, 3), np.float32)
    offset[:, 0] = 0.05
    save_params(scene / "track" / "params.npz", {**params, "static_offset": offset})
    write_manifest(scene / "track", json.loads((scene / "track" / "manifest.json").read_text()))  # as an import would
    avatar_path = adapt(scene, prior, 1.0, tmp_path / "avatar", tiny_adapt(), reporter=quiet())
    avatar = Avatar.open(avatar_path)
    assert np.array_equal(avatar.static_offset().numpy(), offset)

    render(avatar_path, scene / "audio.wav", tmp_path / "out.mp4", RenderConfig(drive="still", background="#000000"),
           frames_dir=tmp_path / "frames")
    image = cv2.imread(str(tmp_path / "frames" / "000000.png"))[:, :, ::-1].astype(np.float32) / 255
    ys, xs = np.nonzero(image.max(-1) > 0.1)
    drawn = np.array([xs.mean(), ys.mean()])

    d = avatar.driving()
    pose = HeadPose(avatar.shape()[None], *(torch.from_numpy(d[k][:1]) for k in ("expr", "rotation", "neck", "jaw",
                                                                                    "eyes", "translation")))
    w2c = avatar.camera().w2c_at(0)
    K = avatar.K().numpy()

    def centre(verts: np.ndarray) -> np.ndarray:
        cam = verts.mean(0) @ w2c[:3, :3].T + w2c[:3, 3]
        return (K @ (cam / cam[2]))[:2]

    with torch.no_grad():
        verts = flame_forward(avatar.head_model(), pose)[0].numpy()
    with_offset, without = centre(verts + offset), centre(verts)
    shift = np.linalg.norm(with_offset - without)
    assert shift > 8                                                # pixels: the test can tell them apart
    assert np.linalg.norm(drawn - with_offset) < 0.5 * shift < np.linalg.norm(drawn - without)
