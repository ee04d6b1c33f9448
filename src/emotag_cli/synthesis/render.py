"""The render stage: speech → audio features → GRMN → head-model parameters → Gaussians → mp4.

Frames stream to the encoder one at a time; what is held for the whole video is the per-frame
motion (N × 60 floats), so memory stays flat however long the audio is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..artifact import atomic_folder
from ..avatar import Avatar
from ..config import RenderConfig
from ..contract import EMOTIONS
from ..errors import EmotagError
from ..forward.frame import ForwardModel
from ..gaussians.render import composite
from ..head.lbs import HeadPose
from ..media.audio import decode_audio
from ..media.encode import VideoWriter
from ..motion.config import audio_mismatch
from ..motion.grmn import MotionOutput
from ..motion.timeline import emotion_track, require_directions
from ..preprocess.audio_features import encoder_option, extract_audio_features, fit_audio
from ..progress import Reporter, quiet
from ..scene import AUDIO_RATE
from .drive import Backdrops, drive_source, ping_pong
from .speech_mouth import lip_gap_basis, with_speech_mouth

MIN_SECONDS = 0.2


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
    if config.emotion_mouth not in ("speech", "free"):
        raise EmotagError(f"--emotion-mouth must be speech or free, got {config.emotion_mouth!r}")
    if out.exists() and not overwrite:
        raise EmotagError(f"{out} already exists; pass --overwrite to replace it")
    if out.suffix.lower() != ".mp4":
        raise EmotagError(f"the output must be an .mp4 file, got {out.name}")
    if frames_dir is not None and _non_empty(Path(frames_dir)) and not overwrite:
        raise EmotagError(f"{frames_dir} already holds files; pass --overwrite to replace them")
    avatar = Avatar.open(avatar_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_writable(out.parent)             # fail here, naming the folder, not after minutes of rendering
    with reporter.step("audio"):
        wav, _ = decode_audio(Path(audio_path), AUDIO_RATE)
        seconds = len(wav) / AUDIO_RATE
        if seconds < MIN_SECONDS:
            raise EmotagError(f"{Path(audio_path).name} holds {seconds:.2f} s of audio; need at least {MIN_SECONDS} s")
        fps = avatar.fps
        n = max(1, int(round(seconds * fps)))
        encoder, dim = encoder_of(avatar)
        path = Path(config.audio_encoder_path) if config.audio_encoder_path else None
        feats, meta = extract_audio_features(fit_audio(wav, n), n, encoder=encoder, path=path)
        # the family is the avatar's by construction; a model folder of another width is refused
        problem = audio_mismatch((None, dim), (meta["encoder"], feats.shape[-1]))
        if problem:
            raise EmotagError(f"avatar {avatar.path}: {problem}")
    directions = avatar.motion_config().emotion_directions
    if directions is not None:
        require_directions(config.emotion, directions["emotions"])
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
    avatar_model = ForwardModel(model, gs, mouth, grmn.mouth, avatar.static_offset())
    with reporter.step("motion"), torch.no_grad():
        aus = torch.from_numpy(np.asarray(source.aus[src], np.float32))
        audio = torch.from_numpy(feats.astype(np.float32))
        seq = grmn.sequence(audio, aus, avatar.identity(), emotion, intensity)
        if config.emotion_mouth == "speech" and config.emotion.strip().lower() != "neutral":
            seq = speech_mouth_of(seq, grmn, model, audio, aus, avatar.identity(), intensity)
    pose = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in source.pose.items()}
    w2c = torch.from_numpy(np.asarray(source.w2c, np.float32))
    tmp = out.parent / f".{out.name}.tmp-{np.random.randint(1 << 30):08x}.mp4"
    t0 = time.perf_counter()
    try:
        # --frames go into a fresh folder that replaces FRAMES only when the render is complete, so
        # no stale frame of an earlier (longer or interrupted) run survives beside the new ones.
        with contextlib.ExitStack() as stack:
            frames_tmp = (stack.enter_context(atomic_folder(Path(frames_dir), overwrite=True))
                          if frames_dir is not None else None)
            advance = stack.enter_context(reporter.step("render", total=n))
            stack.enter_context(torch.no_grad())
            with VideoWriter(tmp, size, size, fps=fps, crf=config.crf, audio_rate=AUDIO_RATE) as writer:
                for i in range(n):
                    s = int(src[i])
                    p = HeadPose(shape, seq.expr[i:i + 1], pose["rotation"][s:s + 1], pose["neck"][s:s + 1],
                                 seq.jaw[i:i + 1], pose["eyes"][s:s + 1], pose["translation"][s:s + 1])
                    rendered = avatar_model.frame(p, seq.audio_feature[i:i + 1], K, w2c[s], size)
                    image = composite(rendered, backdrops(s)).clamp(0, 1)
                    rgb = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
                    writer.write(rgb)
                    if frames_tmp is not None:
                        import cv2

                        cv2.imwrite(str(frames_tmp / f"{i:06d}.png"), rgb[:, :, ::-1])
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


def speech_mouth_of(seq: MotionOutput, grmn, model, audio: Tensor, aus: Tensor, identity: Tensor,
                    intensity: Tensor | None) -> MotionOutput:
    """``seq`` with the jaw and inner-lip gaps of the same network asked for neutral at the same
    intensity (synthesis/speech_mouth.py)."""
    neutral = torch.zeros(len(EMOTIONS))
    neutral[EMOTIONS.index("neutral")] = 1.0
    reference = grmn.sequence(audio, aus, identity, neutral, intensity)
    n_expr = grmn.config.n_expr
    delta = with_speech_mouth(seq.delta, reference.delta, lip_gap_basis(model, n_expr), n_expr)
    return dataclasses.replace(seq, delta=delta, expr=delta[:, :n_expr], jaw=delta[:, n_expr:])


def _non_empty(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _check_writable(folder: Path) -> None:
    """Raise the OSError (naming a file in ``folder``) that writing there would raise."""
    probe = folder / f".emotag.tmp-{np.random.randint(1 << 30):08x}"
    probe.touch()
    probe.unlink()


__all__ = ["RenderConfig", "render"]
