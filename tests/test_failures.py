"""Every failure says so: Ctrl-C, cut-short videos, damaged artifacts, wrong inputs and outputs
(issue 13). Each behaviour tested here was missing before that issue."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import av
import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from emotag_cli.avatar import Avatar
from emotag_cli.cli import app
from emotag_cli.config import PreprocessConfig
from emotag_cli.errors import EmotagError
from emotag_cli.evaluation.run import evaluate
from emotag_cli.media.audio import decode_audio
from emotag_cli.media.probe import probe
from emotag_cli.media.video import TruncatedVideo, decode_cfr
from emotag_cli.preprocess.pipeline import preprocess
from emotag_cli.prior import Prior
from emotag_cli.progress import Reporter, quiet
from emotag_cli.scene import Scene
from emotag_cli.synthesis.render import render

from _media import real_frames
from conftest import REPO, real_audio, real_video


def _emotag(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "emotag_cli.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_exits_130_and_says_what_was_kept(tmp_path):
    video = real_video("mimictalk_German_20s.mp4")            # 500 frames: still running after the signal
    proc = _emotag("preprocess", str(video), "-o", str(tmp_path / "scene"), "--size", "128")
    time.sleep(12)                                              # imports done, decoding under way
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("emotag: interrupted; nothing was written")
    assert list(tmp_path.iterdir()) == []                      # no scene, no temporary folder


def test_ctrl_c_during_training_names_the_checkpoint(scenes, prior, tmp_path):
    out = tmp_path / "avatar"
    proc = _emotag("adapt", str(scenes[0]), "--prior", str(prior), "-o", str(out), "--seconds", "1", "--preset",
                   "cpu", "--iterations", "5000", "--gaussians", "300", "--size", "64", "--checkpoint-every", "3")
    deadline = time.monotonic() + 300
    while not (tmp_path / "avatar.ckpt" / "latest").is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("emotag: interrupted; stopped after step ") and "continue with --resume" in last
    assert str(tmp_path / "avatar.ckpt") in last and not out.exists()


# ---------------------------------------------------------------- inputs


def _faststart_copy(frames: list[np.ndarray], path: Path) -> Path:
    """An H.264 mp4 with its index (moov) before the data, as phones and web exports write them."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    return path


def _cut_at_packet(path: Path, k: int) -> Path:
    """Cut the file where its k-th video packet (in file order) starts."""
    with av.open(str(path)) as c:
        starts = sorted(p.pos for p in c.demux(video=0) if p.pos is not None and p.size)
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(path.read_bytes()[:starts[k]])
    return cut


def test_cut_short_video_keeps_only_real_frames_and_small_clip_warns_upscale(tmp_path):
    frames = real_frames(real_video("real3dportrait_May_5s.mp4"), 100, size=224)
    cut = _cut_at_packet(_faststart_copy(frames, tmp_path / "may.mp4"), 36)
    info = probe(cut)
    assert info.n_frames(25) == 100                             # the index still announces every frame
    with pytest.raises(TruncatedVideo, match="only 3[0-6] of 100 frames could be decoded") as caught:
        for _ in decode_cfr(info, max_side=64):
            pass
    decoded = caught.value.decoded
    config = PreprocessConfig(size=256, identity_top_k=4, audio_encoder="mel")
    scene = preprocess(cut, tmp_path / "scene", config, reporter=quiet())
    assert scene.n_frames == decoded and len(list((scene.path / "frames").glob("*.jpg"))) == decoded
    warnings = " | ".join(scene.manifest["warnings"])
    assert f"only {decoded} of 100 frames" in warnings
    assert "upscaled" in warnings and "--size 224" in warnings
    with pytest.raises(EmotagError, match=f"only {decoded} of 100 frames"):     # eval refuses, never counts 100
        evaluate(cut)


def test_image_given_as_video_is_named(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "face.png"), real_frames(real_video("real3dportrait_May_5s.mp4"), 1)[0])
    with pytest.raises(EmotagError, match="face.png is an image, not a video"):
        probe(tmp_path / "face.png")


def test_missing_audio_file_is_named(tmp_path):
    with pytest.raises(EmotagError, match=r"nope.wav: no such file$"):
        decode_audio(tmp_path / "nope.wav")


# ---------------------------------------------------------------- outputs


def test_render_frames_never_mix_runs(avatar, tmp_path):
    wav, _ = decode_audio(real_audio("emotalk_happy.wav"))
    long, short = tmp_path / "long.wav", tmp_path / "short.wav"
    import soundfile as sf

    sf.write(long, wav[:16000], 16000)
    sf.write(short, wav[:8000], 16000)
    frames = tmp_path / "frames"
    render(avatar, long, tmp_path / "a.mp4", frames_dir=frames)
    assert len(list(frames.iterdir())) == 25
    with pytest.raises(EmotagError, match="already holds files; pass --overwrite"):
        render(avatar, short, tmp_path / "b.mp4", frames_dir=frames)
    n = render(avatar, short, tmp_path / "b.mp4", frames_dir=frames, overwrite=True)["frames"]
    assert n == 12 and sorted(p.name for p in frames.iterdir()) == [f"{i:06d}.png" for i in range(n)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unwritable_output_is_one_line_naming_the_path(avatar, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = _emotag("render", str(avatar), "--audio", str(real_audio("emotalk_happy.wav")), "-o",
                   str(blocker / "out.mp4"))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert err.strip().splitlines()[-1].startswith(f"emotag: error: {blocker}: ")
    assert "internal error" not in err


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can write into: chmod for users, the immutable attribute for root."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
    elif shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("root writes into read-only folders, and chattr +i is not available")
    yield path
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)])
    path.chmod(0o755)


@pytest.mark.parametrize("command", ["render", "preprocess"])
def test_read_only_output_folder_is_named(avatar, read_only_folder, command):
    if command == "render":
        args = ["render", str(avatar), "--audio", str(real_audio("emotalk_happy.wav")), "-o",
                str(read_only_folder / "o.mp4")]
    else:
        args = ["preprocess", str(real_video("real3dportrait_May_5s.mp4")), "-o", str(read_only_folder / "scene")]
    proc = _emotag(*args)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last in (f"emotag: error: {read_only_folder}: permission denied",
                    f"emotag: error: {read_only_folder}: operation not permitted")


# ---------------------------------------------------------------- damaged and foreign artifacts


def _truncated_copy(src: Path, dst: Path, name: str) -> Path:
    shutil.copytree(src, dst)
    data = (dst / name).read_bytes()
    (dst / name).write_bytes(data[: len(data) // 2])
    return dst


@pytest.mark.parametrize("name", ["gaussians.pt", "grmn.pt", "driving.npz", "identity.npy"])
def test_damaged_avatar_file_is_named(avatar, tmp_path, name):
    damaged = _truncated_copy(avatar, tmp_path / "avatar", name)
    with pytest.raises(EmotagError, match=f"avatar {damaged}: file {name} is damaged .*re-run `emotag adapt`"):
        Avatar.open(damaged)


def test_changed_file_of_the_same_size_is_damaged(avatar, tmp_path):
    shutil.copytree(avatar, tmp_path / "avatar")
    path = tmp_path / "avatar" / "shape.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(EmotagError, match="file shape.npy is damaged .*SHA-256"):
        Avatar.open(tmp_path / "avatar")


@pytest.mark.parametrize("name", ["grmn_ema.pt", "gaussians/{scene}.pt"])
def test_damaged_prior_file_is_named(prior, scenes, tmp_path, name):
    name = name.format(scene=Path(scenes[0]).name)
    assert (prior / name).is_file()
    damaged = _truncated_copy(prior, tmp_path / "prior", name)
    with pytest.raises(EmotagError, match=f"prior {damaged}: file {name} is damaged"):
        Prior.open(damaged)


def test_damaged_scene_frame_is_named(scenes, tmp_path):
    damaged = _truncated_copy(scenes[0], tmp_path / "scene", "frames/000007.jpg")
    with pytest.raises(EmotagError, match="scene .*: file frames/000007.jpg is damaged .*re-run `emotag preprocess`"):
        Scene.open(damaged)


def test_artifact_without_file_hashes_is_still_read(avatar, tmp_path):
    shutil.copytree(avatar, tmp_path / "avatar")
    manifest = json.loads((tmp_path / "avatar" / "manifest.json").read_text())
    del manifest["files"]
    (tmp_path / "avatar" / "manifest.json").write_text(json.dumps(manifest))
    assert Avatar.open(tmp_path / "avatar").size == manifest["size"]


def test_foreign_artifact_is_named_with_its_article(avatar):
    with pytest.raises(EmotagError, match="is an avatar, not a prior"):
        Prior.open(avatar)


# ---------------------------------------------------------------- CPU path and progress


def test_adapt_without_cuda_defaults_to_the_cpu_preset(scenes, prior, tmp_path):
    out = tmp_path / "avatar"
    proc = _emotag("adapt", str(scenes[0]), "--prior", str(prior), "-o", str(out), "--seconds", "1",
                   "--iterations", "2", "--warmup", "1", "--gaussians", "300", "--size", "64", "--device", "cpu")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "no CUDA device: using the cpu preset, 2 steps, about 1 min" in err
    assert json.loads((out / "manifest.json").read_text())["config"]["preset"] == "cpu"


def test_progress_shows_eta_and_fills_a_bar_that_ends_early():
    buffer = StringIO()
    reporter = Reporter(console=Console(file=buffer, width=120, force_terminal=False))
    with reporter.step("fit", total=34) as advance:
        advance(11)                              # converged after 11 of at most 34 iterations
    text = buffer.getvalue()
    assert "34/34" in text and "eta" in text


def test_help_text_is_printed_as_written():
    result = CliRunner().invoke(app, ["preprocess", "--help"], terminal_width=200)
    assert "each video becomes OUT/VIDEO_NAME" in " ".join(result.output.split())
