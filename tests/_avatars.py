"""Tiny real avatars for tests: two tracked 40-frame scenes of real clips at 96 px, a prior
pretrained on them and an avatar adapted from it, with narrow networks so a step takes
milliseconds. Built once per test session (conftest.py exposes the fixtures). Without the real
clips (../shared absent), the two scenes are synthetic ones (_synthetic_scene.py), so the
training, render and eval tests still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from _synthetic_scene import make_scene
from emotag_cli.config import AdaptConfig, PreprocessConfig, PretrainConfig, TrackConfig
from emotag_cli.preprocess.pipeline import preprocess
from emotag_cli.progress import quiet
from emotag_cli.track.pipeline import track
from emotag_cli.train.adapt import adapt
from emotag_cli.train.pretrain import pretrain

from _media import real_frames, write_video
from conftest import REAL_VIDEO, real_video

N_FRAMES, SIZE = 40, 96
CLIPS = ("real3dportrait_May_5s.mp4", "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4")
TINY_MOTION = dict(d_model=32, n_layers=1, n_heads=2, ffn_dim=64, au_hidden=16, adain_hidden=32, gate_hidden=16,
                   mouth_levels=4, mouth_log2_table=10, mouth_hidden=16)


def tiny_pretrain(**overrides) -> PretrainConfig:
    base = dict(iterations=6, warmup=2, blend=0.3, size=64, n_gaussians=300, max_gaussians=600, sh_degree=1,
                densify_every=2, lr_net=1e-3, motion=TINY_MOTION, motion_stretch=4, motion_batch=2,
                checkpoint_every=2)
    return PretrainConfig(**{**base, **overrides})


def tiny_adapt(**overrides) -> AdaptConfig:
    base = dict(iterations=4, warmup=1, size=64, n_gaussians=300, max_gaussians=600, densify_stop=1, densify_every=2,
                opacity_reset_every=0, checkpoint_every=2)
    return AdaptConfig(**{**base, **overrides})


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> list[Path]:
    """Two tracked 40-frame scenes at 96 px: of real clips, or synthetic without them."""
    from emotag_cli.media.audio import decode_audio

    root = tmp_path_factory.mktemp("scenes")
    if not all((REAL_VIDEO / name).is_file() for name in CLIPS):
        return [make_scene(root / f"synthetic_{seed}", seed, N_FRAMES, SIZE) for seed in (0, 1)]
    out = []
    for name in CLIPS:
        src = real_video(name)
        audio, _ = decode_audio(src)
        video = write_video(root / name, real_frames(src, N_FRAMES, size=192), audio=audio[:N_FRAMES * 640])
        config = PreprocessConfig(size=SIZE, identity_top_k=4, audio_encoder="mel")
        scene = preprocess(video, root / Path(name).stem, config, reporter=quiet())
        track(scene.path, TrackConfig(rigid_iters=5, iters=10, overlay="none"), reporter=quiet())
        out.append(scene.path)
    return out


@pytest.fixture(scope="session")
def prior(scenes, tmp_path_factory) -> Path:
    return pretrain(scenes, tmp_path_factory.mktemp("priors") / "prior", tiny_pretrain(), reporter=quiet())


@pytest.fixture(scope="session")
def avatar(scenes, prior, tmp_path_factory) -> Path:
    return adapt(scenes[0], prior, 1.0, tmp_path_factory.mktemp("avatars") / "avatar", tiny_adapt(), reporter=quiet())
