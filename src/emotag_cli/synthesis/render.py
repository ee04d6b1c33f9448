"""The render stage: speech → audio features → GRMN → head-model parameters → Gaussians → mp4.

Frames stream to the encoder one at a time; what is held for the whole video is the per-frame
motion (N × 60 floats), so memory stays flat however long the audio is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..avatar import Avatar
from ..errors import EmotagError
from ..gaussians.render import composite
from ..head.lbs import HeadPose
from ..media.audio import decode_audio
from ..media.encode import VideoWriter
from ..preprocess.audio_features import encoder_option, extract_audio_features, fit_audio
from ..progress import Reporter, quiet
from ..scene import AUDIO_RATE
from ..train.motion_step import head_vertices, mouth_positions, render_driven
from .drive import Backdrops, drive_source, ping_pong
from .timeline import emotion_track

MIN_SECONDS = 0.2


@dataclass
class RenderConfig:
    """Settings of ``emotag render`` (docs/commands/render.md)."""

    emotion: str = "auto"
    intensity: float | None = None
    drive: str = "clip"
    background: str = "drive"
    audio_encoder_path: str | None = None
    backend: str = "auto"
    crf: int = 18
    size: int | None = None          # output side in pixels (default: the avatar's training size)


def encoder_of(avatar: Avatar) -> tuple[str, int]:
    """The preprocess encoder name and feature width the avatar's motion network expects."""
    audio = avatar.manifest["audio"]
    return encoder_option(str(audio["encoder"])), int(audio["dim"])


def render(avatar_path: Path, audio_path: Path, out: Path, config: RenderConfig | None = None,
           save_params: Path | None = None, frames_dir: Path | None = None, overwrite: bool = False,
           reporter: Reporter | None = None) -> dict:
    """Render ``audio_path`` spoken by the avatar into the mp4 ``out``. Returns timing facts."""
    config = config or RenderConfig()
    reporter = reporter or quiet()
    out = Path(out)
    if out.exists() and not overwrite:
        raise EmotagError(f"{out} already exists; pass --overwrite to replace it")
    if out.suffix.lower() != ".mp4":
        raise EmotagError(f"the output must be an .mp4 file, got {out.name}")
    avatar = Avatar.open(avatar_path)
    with reporter.step("audio"):
        wav, _ = decode_audio(Path(audio_path), AUDIO_RATE)
        seconds = len(wav) / AUDIO_RATE
        if seconds < MIN_SECONDS:
            raise EmotagError(f"{Path(audio_path).name} holds {seconds:.2f} s of audio; need at least {MIN_SECONDS} s")
        fps = avatar.fps
        n = max(1, int(round(seconds * fps)))
        encoder, dim = encoder_of(avatar)
        path = Path(config.audio_encoder_path) if config.audio_encoder_path else None
        feats, _ = extract_audio_features(fit_audio(wav, n), n, encoder=encoder, path=path)
        if feats.shape[-1] != dim:
            raise EmotagError(f"{encoder} gave {feats.shape[-1]}-d features; the avatar expects {dim}-d")
    emotion, intensity = emotion_track(config.emotion, config.intensity, n, fps)
    size = config.size or avatar.size
    if not 32 <= size <= 4096 or size % 2:
        raise EmotagError(f"--size must be an even number of pixels between 32 and 4096, got {size}")
    source = drive_source(avatar, config.drive)
    src = ping_pong(n, source.n)
    backdrops = Backdrops(avatar, source, config.background, size=size)
    model, gs, grmn, mouth = avatar.head_model(), avatar.gaussians(), avatar.motion_model(), avatar.mouth()
    shape = avatar.shape()[None]
    K = source.K.clone()
    K[:2] *= size / avatar.size
    mouth_idx = mouth.gaussians(gs.binding)
    with reporter.step("motion"), torch.no_grad():
        aus = torch.from_numpy(np.asarray(source.aus[src], np.float32))
        seq = grmn.sequence(torch.from_numpy(feats.astype(np.float32)), aus, avatar.identity(), emotion, intensity)
    pose = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in source.pose.items()}
    w2c = torch.from_numpy(np.asarray(source.w2c, np.float32))
    if frames_dir is not None:
        Path(frames_dir).mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{np.random.randint(1 << 30):08x}.mp4"
    t0 = time.perf_counter()
    try:
        with reporter.step("render", total=n) as advance, torch.no_grad():
            with VideoWriter(tmp, size, size, fps=fps, crf=config.crf, audio_rate=AUDIO_RATE) as writer:
                for i in range(n):
                    s = int(src[i])
                    p = HeadPose(shape, seq.expr[i:i + 1], pose["rotation"][s:s + 1], pose["neck"][s:s + 1],
                                 seq.jaw[i:i + 1], pose["eyes"][s:s + 1], pose["translation"][s:s + 1])
                    refine = None
                    if grmn.mouth is not None and len(mouth_idx):
                        positions = mouth_positions(gs, mouth, head_vertices(model, p), model.faces, mouth_idx)
                        refine = (grmn.mouth(positions, seq.audio_feature[i:i + 1]), mouth_idx)
                    rendered, _ = render_driven(gs, model, p, K, w2c[s], size, refine)
                    image = composite(rendered, backdrops(s)).clamp(0, 1)
                    rgb = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
                    writer.write(rgb)
                    if frames_dir is not None:
                        import cv2

                        cv2.imwrite(str(Path(frames_dir) / f"{i:06d}.png"), rgb[:, :, ::-1])
                    advance(1)
                writer.close(wav)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    render_s = time.perf_counter() - t0
    if save_params is not None:
        np.savez(save_params, expr=seq.expr.numpy(), jaw=seq.jaw.numpy(), gate=seq.gate_used.numpy(),
                 emotion=torch.softmax(seq.emotion_logits, -1).numpy(), source_frame=src,
                 **{k: v[src].numpy() for k, v in pose.items()}, shape=avatar.shape().numpy())
    return {"frames": n, "seconds_audio": seconds, "render_s": render_s, "fps": n / max(render_s, 1e-9),
            "size": size}


__all__ = ["RenderConfig", "render"]
