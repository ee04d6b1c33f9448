"""`emotag preprocess` end to end: real clips, and every kind of bad input.

The bad-input clips are made from real frames (a face MediaPipe can find) re-encoded in the test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emotag_cli.config import PreprocessConfig
from emotag_cli.errors import EmotagError
from emotag_cli.preprocess.pipeline import paired_audio, preprocess
from emotag_cli.progress import quiet
from emotag_cli.scene import MASK_HEAD, Scene

from _media import real_frames, write_video
from conftest import real_video

SMALL = dict(size=128, identity_top_k=4, audio_encoder="mel")


@pytest.fixture(scope="module")
def may_frames():
    return real_frames(real_video("real3dportrait_May_5s.mp4"), 50, size=192)


def speechlike(n_samples: int, rate: int = 16000) -> np.ndarray:
    t = np.arange(n_samples) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.2 * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def run(video, out, overwrite=False, **cfg):
    reporter = quiet()
    scene = preprocess(video, out, PreprocessConfig(**{**SMALL, **cfg}), overwrite=overwrite, reporter=reporter)
    return scene, reporter


def test_short_clip_with_audio_makes_a_complete_scene(tmp_path, may_frames):
    video = write_video(tmp_path / "may.mp4", may_frames, audio=speechlike(2 * 16000))
    scene, reporter = run(video, tmp_path / "scene")
    assert scene.n_frames == 50 and scene.size == 128 and scene.has_audio
    assert any("125 frames" in w for w in reporter.warnings)          # shorter than 5 s
    assert scene.frame(0).shape == (128, 128, 3)
    assert scene.audio().shape == (50 * 640,)
    lm = scene.landmarks
    assert lm.shape == (50, 478, 3) and np.isfinite(lm).all()
    # The landmarks sit on the face: the nose tip (landmark 1) is inside the head label.
    for i in (0, 25, 49):
        x, y = np.round(lm[i, 1, :2]).astype(int)
        assert scene.mask(i)[y, x] == MASK_HEAD
    feats = scene.array("audio_features.npy")
    assert feats.shape[:2] == (50, 16) and scene.manifest["features"]["audio"]["encoder"] == "mel-80"
    emo = scene.array("emotion.npy")
    assert np.allclose(emo.sum(1), 1, atol=1e-4)
    assert scene.array("aus.npy").shape == (50, 6)
    assert np.isfinite(scene.array("identity.npy")).all()
    assert (scene.path / "background.png").is_file() and (scene.path / "preview.jpg").is_file()
    assert scene.manifest["config"]["size"] == 128
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_existing_output_is_refused_then_replaced_with_overwrite(tmp_path, may_frames):
    video = write_video(tmp_path / "may.mp4", may_frames[:10], audio=speechlike(10 * 640))
    out = tmp_path / "scene"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(EmotagError, match="--overwrite"):
        run(video, out)
    assert (out / "keep.txt").read_text() == "mine"
    scene, _ = run(video, out, overwrite=True)
    assert scene.n_frames == 10 and not (out / "keep.txt").exists()


def test_video_without_audio_is_allowed_with_a_warning(tmp_path, may_frames):
    video = write_video(tmp_path / "mute.mp4", may_frames[:10])
    scene, reporter = run(video, tmp_path / "scene")
    assert not scene.has_audio and not (scene.path / "audio.wav").exists()
    assert any("no audio track" in w for w in reporter.warnings)
    with pytest.raises(EmotagError, match="no audio"):
        scene.audio()


def test_paired_sound_file_gives_a_video_only_clip_its_audio(tmp_path, may_frames):
    import soundfile as sf

    video = write_video(tmp_path / "mute.mp4", may_frames[:10])
    speech = speechlike(10 * 640)
    sf.write(tmp_path / "mute.wav", speech, 16000, subtype="PCM_16")
    assert paired_audio(video) == tmp_path / "mute.wav"
    scene = preprocess(video, tmp_path / "scene", PreprocessConfig(**SMALL), reporter=quiet(),
                       audio=tmp_path / "mute.wav")
    assert scene.has_audio and scene.array("audio_features.npy").shape[0] == 10
    assert np.abs(scene.audio() - speech).max() < 1e-3          # sample 0 at frame 0, PCM-16 rounding
    assert scene.manifest["inputs"]["audio"]["path"].endswith("mute.wav")
    with pytest.raises(EmotagError, match="nope.wav: no such file"):
        preprocess(video, tmp_path / "other", PreprocessConfig(**SMALL), audio=tmp_path / "nope.wav")
    assert not (tmp_path / "other").exists()


def test_a_silent_audio_track_makes_a_scene_without_audio(tmp_path, may_frames):
    video = write_video(tmp_path / "zeros.mp4", may_frames[:10], audio=np.zeros(10 * 640, np.float32))
    scene, reporter = run(video, tmp_path / "scene")
    assert not scene.has_audio and not (scene.path / "audio_features.npy").exists()
    assert any("is silent" in w for w in reporter.warnings)


def test_no_face_anywhere_is_an_error_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (128, 128, 3), dtype=np.uint8) for _ in range(10)]
    video = write_video(tmp_path / "noise.mp4", frames, audio=speechlike(10 * 640))
    with pytest.raises(EmotagError, match="no face found in any frame"):
        run(video, tmp_path / "scene")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.mp4"]


def test_several_faces_tracks_the_largest(tmp_path, may_frames):
    other = real_frames(real_video("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), 10, size=96)
    frames = []
    for big, small in zip(may_frames[:10], other):
        canvas = np.full((192, 320, 3), 40, np.uint8)
        canvas[:, :192] = big
        canvas[48:144, 208:304] = small
        frames.append(canvas)
    video = write_video(tmp_path / "two.mp4", frames, audio=speechlike(10 * 640))
    scene, reporter = run(video, tmp_path / "scene")
    assert any("faces" in w and "largest" in w for w in reporter.warnings)
    cx = scene.array("crop.npy")[:, 0]
    assert np.all(cx < 192)                                         # centred on the big face


@pytest.mark.parametrize("content,match", [(b"", "cannot read"), (b"\x00" * 4096, "cannot read")])
def test_not_a_video(tmp_path, content, match):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(EmotagError, match=match):
        run(path, tmp_path / "scene")
    assert not (tmp_path / "scene").exists()


def test_truncated_video_is_a_clean_error(tmp_path):
    data = real_video("real3dportrait_May_5s.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])                         # the moov atom is lost
    with pytest.raises(EmotagError):
        run(path, tmp_path / "scene")
    assert not (tmp_path / "scene").exists()


def test_one_frame_is_too_short(tmp_path, may_frames):
    video = write_video(tmp_path / "one.mp4", may_frames[:1])
    with pytest.raises(EmotagError, match="too short"):
        run(video, tmp_path / "scene")


def test_scene_validation_catches_a_damaged_scene(tmp_path, may_frames):
    video = write_video(tmp_path / "may.mp4", may_frames[:8], audio=speechlike(8 * 640))
    scene, _ = run(video, tmp_path / "scene")
    (scene.path / "frames" / "000003.jpg").unlink()
    with pytest.raises(EmotagError, match="incomplete: missing frames/000003.jpg"):     # the manifest's file table
        Scene.open(scene.path)
    # Without the file table (a scene of an older emotag) the counts and shapes still catch it.
    manifest = json.loads((scene.path / "manifest.json").read_text())
    del manifest["files"]
    (scene.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EmotagError, match="7 frames on disk"):
        Scene.open(scene.path)
    np.save(scene.path / "aus.npy", np.zeros((3, 6), np.float32))
    with pytest.raises(EmotagError, match="aus.npy"):
        Scene.open(scene.path)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "emotag_cli.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.real
def test_cli_prints_the_scene_path_and_one_line_errors(tmp_path, may_frames):
    video = write_video(tmp_path / "may.mp4", may_frames[:8], audio=speechlike(8 * 640))
    ok = cli("preprocess", video, "-o", tmp_path / "scene", "--size", 128)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(tmp_path / "scene")
    again = cli("preprocess", video, "-o", tmp_path / "scene")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1].startswith("emotag: error:")
    assert "--overwrite" in again.stderr and "Traceback" not in again.stderr
    missing = cli("preprocess", tmp_path / "nope.mp4", "-o", tmp_path / "s2")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"emotag: error: input not found: {tmp_path / 'nope.mp4'}"
    bad = cli("preprocess", video, "-o", tmp_path / "s3", "--crop", "wobbly")
    assert bad.returncode == 2 and "--crop" in bad.stderr


@pytest.mark.real
@pytest.mark.parametrize("name,crop", [("eamm_M030_sad_3_001.mp4", "fixed"), ("videoretalking_face_1.mp4", "smooth"),
                                       ("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", "fixed")])
def test_real_clip_at_256(tmp_path, name, crop):
    from emotag_cli.media.probe import probe

    path = real_video(name)
    info = probe(path)
    scene, _ = run(path, tmp_path / "scene", size=256, identity_top_k=10, crop=crop)
    assert abs(scene.n_frames - info.duration_s * 25) <= 1
    assert abs(len(scene.audio()) - scene.n_frames * 640) < 640
    assert scene.array("face_found.npy").mean() >= 0.99
    # The crop itself never jumps: its centre moves less than 2 % of its side per frame.
    crops = scene.array("crop.npy")
    assert np.linalg.norm(np.diff(crops[:, :2], axis=0), axis=1).max() < 0.02 * crops[0, 2]
    # In the crop, the face box centre moves less than 2 % of the crop size between consecutive
    # frames in 95 % of frames (the rest is the speaker's own fast head motion).
    lm = scene.landmarks[:, :468, :2]
    centre = (np.nanmin(lm, 1) + np.nanmax(lm, 1)) / 2
    step = np.linalg.norm(np.diff(centre, axis=0), axis=1)
    assert np.nanpercentile(step, 95) < 0.02 * scene.size
