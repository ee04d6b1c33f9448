"""`emotag features`: a scene's audio features re-extracted with another encoder, nothing else touched."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from emotag_cli.config import PreprocessConfig
from emotag_cli.errors import EmotagError
from emotag_cli.media.audio import decode_audio
from emotag_cli.preprocess.audio_features import whisper
from emotag_cli.preprocess.pipeline import preprocess
from emotag_cli.preprocess.refeature import refresh_audio_features
from emotag_cli.progress import quiet
from emotag_cli.scene import Scene

from _media import real_frames, write_video
from conftest import real_video

SMALL = dict(size=128, identity_top_k=4, audio_encoder="mel")


def _whisper_ok() -> bool:
    try:
        whisper.check()
        return True
    except EmotagError:
        return False


@pytest.fixture(scope="module")
def scene_pair(tmp_path_factory):
    """A 2 s scene of May with her own speech, and one of the same frames without audio."""
    tmp = tmp_path_factory.mktemp("features")
    video = real_video("real3dportrait_May_5s.mp4")
    frames = real_frames(video, 50, size=160)
    wav = decode_audio(video, 16000)[0][:2 * 16000]
    spoken = preprocess(write_video(tmp / "may.mp4", frames, audio=wav), tmp / "spoken", PreprocessConfig(**SMALL),
                        reporter=quiet())
    mute = preprocess(write_video(tmp / "mute.mp4", frames[:10]), tmp / "mute", PreprocessConfig(**SMALL),
                      reporter=quiet())
    return spoken, mute


@pytest.mark.skipif(not _whisper_ok(), reason="whisper-tiny weights not installed")
def test_features_are_replaced_and_a_hard_linked_original_stays(tmp_path, scene_pair):
    spoken, _ = scene_pair
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-al", str(spoken.path), str(copy)], check=True)
    before = {p.name: p.read_bytes() for p in spoken.path.iterdir() if p.is_file()}
    meta = refresh_audio_features(copy, "whisper-tiny")
    scene = Scene.open(copy)                                     # validates every array's shape
    feats = scene.array("audio_features.npy")
    assert feats.shape == (50, 16, 384) and feats.dtype == np.float16 and np.isfinite(feats).all()
    assert scene.manifest["features"]["audio"] == meta and meta["encoder"].startswith("whisper-tiny")
    assert scene.manifest["config"]["audio_encoder"] == "whisper-tiny"
    # Everything but the features and the manifest is the same file as before (still hard-linked).
    for name in ("landmarks.npy", "aus.npy", "audio.wav", "identity.npy"):
        assert os.path.samefile(copy / name, spoken.path / name)
    assert {p.name: p.read_bytes() for p in spoken.path.iterdir() if p.is_file()} == before
    assert Scene.open(spoken.path).array("audio_features.npy").shape[-1] == 80
    assert not [p for p in copy.iterdir() if p.name.startswith(".")]


def test_back_to_mel_gives_the_preprocess_features_and_no_audio_is_refused(tmp_path, scene_pair):
    spoken, mute = scene_pair
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-al", str(spoken.path), str(copy)], check=True)
    refresh_audio_features(copy, "mel")
    # The same encoder on audio.wav (PCM-16 of the audio preprocess encoded) gives its features back.
    again, first = Scene.open(copy).array("audio_features.npy"), spoken.array("audio_features.npy")
    diff = np.abs(again.astype(np.float32) - first)
    assert diff.mean() < 0.005 and diff.max() < 0.2 and np.abs(first).max() > 1
    with pytest.raises(EmotagError, match="has no audio"):
        refresh_audio_features(mute.path, "mel")
    with pytest.raises(EmotagError, match="unknown audio encoder"):
        refresh_audio_features(copy, "nope")


def test_cli_skips_scenes_without_audio_and_refuses_when_none_has(tmp_path, scene_pair):
    spoken, mute = scene_pair
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-al", str(spoken.path), str(copy)], check=True)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "emotag_cli.cli", "features", *map(str, args)],
                              capture_output=True, text=True, timeout=300)

    ok = cli(mute.path, copy, "--audio-encoder", "mel", "--force")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(copy) and f"skipped {mute.path}: no audio" in ok.stderr.replace("\n", "")
    again = cli(copy, "--audio-encoder", "mel")                 # already mel: nothing to do
    assert again.returncode == 0 and again.stdout.strip() == ""
    assert "already has mel-80 features" in again.stderr.replace("\n", "")
    none = cli(mute.path, "--audio-encoder", "mel")
    assert none.returncode != 0
    assert none.stderr.strip().splitlines()[-1] == "emotag: error: none of the scenes has audio: nothing to extract"
