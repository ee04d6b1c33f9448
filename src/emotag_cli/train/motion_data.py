"""Tracked scenes as motion-only training data: no frames, only per-frame arrays (a few MB a clip).

``MotionClip`` holds what the motion stage of pretraining reads from a scene and its track; the
tracked mouth opening is measured once here. ``load_motion_clips`` opens many scenes, skips the
ones that cannot teach the motion network (no audio, shorter than a stretch) with a line each,
and refuses scenes that disagree on the audio encoder, head model or identity encoder.
``silent_stretches`` encodes silence with the scenes' own audio encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import EmotagError
from ..head.model import HeadModel
from ..prior import SceneSignature, mismatch, scene_record, scene_signature
from ..scene import Scene
from ..track.result import open_track
from .mouth_opening import MouthGauge

SILENCE_LEVELS = (0.0, 1e-4, 1e-3)      # digital silence, and white noise at −80 and −60 dBFS peak


@dataclass
class MotionClip:
    """One tracked scene (N frames) for the motion stage.

    audio [N, T, D] float16 tokens; aus [N, 6]; emotion [N, 7] teacher distributions; identity
    [Did]; expr [N, n_expr] and jaw [N, 3] tracked; shape [S] (padded to the model's count);
    opening [N] the tracked mouth opening (metres); neutral: the neutral face's opening.
    """

    name: str
    audio: Tensor
    aus: Tensor
    emotion: Tensor
    identity: Tensor
    expr: Tensor
    jaw: Tensor
    shape: Tensor
    opening: Tensor
    neutral: float

    @property
    def n_frames(self) -> int:
        return int(self.aus.shape[0])

    @classmethod
    def load(cls, scene: Scene, model: HeadModel, gauge: MouthGauge, n_expr: int, name: str) -> MotionClip:
        params = open_track(scene.path).params

        def array(file: str, dtype=np.float32) -> Tensor:
            return torch.from_numpy(np.array(scene.array(file), dtype=dtype))

        shape = torch.zeros(model.n_shape)
        fitted = np.asarray(params["shape"], np.float32)[:model.n_shape]
        shape[:len(fitted)] = torch.from_numpy(fitted)
        expr = torch.from_numpy(np.asarray(params["expr"][:, :n_expr], np.float32))
        jaw = torch.from_numpy(np.asarray(params["jaw"], np.float32))
        with torch.no_grad():
            opening = gauge(shape, expr, jaw)
        return cls(name, array("audio_features.npy", np.float16), array("aus.npy"), array("emotion.npy"),
                   array("identity.npy"), expr, jaw, shape, opening, gauge.neutral(shape))


def load_motion_clips(paths: Sequence[Path], names: Sequence[str], model: HeadModel, n_expr: int, min_frames: int,
                      say: Callable[[str], None]) -> tuple[list[MotionClip], list[dict], SceneSignature]:
    """The clips of ``paths`` that have audio and at least ``min_frames`` frames, their scene
    records and their common signature; ``say`` gets one line per skipped scene."""
    gauge = MouthGauge(model)
    clips: list[MotionClip] = []
    records: list[dict] = []
    signature: SceneSignature | None = None
    first: Path | None = None
    for path, name in zip(paths, names):
        scene = Scene.open(path)
        if not scene.has_audio:
            say(f"skipped {path}: no audio (a video-only clip teaches no lip motion)")
            continue
        if scene.n_frames < min_frames:
            say(f"skipped {path}: {scene.n_frames} frames, shorter than a {min_frames}-frame stretch")
            continue
        track = open_track(path)
        got = scene_signature(scene, track)
        if signature is None:
            signature, first = got, path
        elif problem := mismatch(signature, got, check_size=False):
            raise EmotagError(f"scene {path} does not match {first}: it has {problem}")
        clips.append(MotionClip.load(scene, model, gauge, n_expr, name))
        records.append(scene_record(name, scene, track))
    if signature is None:
        raise EmotagError("none of the scenes has audio (and enough frames): the motion stage needs speech")
    return clips, records, signature


def silent_stretches(scene_path: Path, length: int, seed: int = 0) -> Tensor:
    """[K, length, T, D] audio tokens of silence — one stretch per level of ``SILENCE_LEVELS`` —
    made by the encoder (and settings) that made the scene's features."""
    from ..preprocess.audio_features import extract_audio_features

    config = Scene.open(scene_path, check_files=False).manifest.get("config", {})
    encoder = config.get("audio_encoder") or "mel"
    path = config.get("audio_encoder_path")
    rng = np.random.default_rng(seed)
    out = []
    for level in SILENCE_LEVELS:
        wav = (rng.uniform(-level, level, length * 640) if level else np.zeros(length * 640)).astype(np.float32)
        feats, _ = extract_audio_features(wav, length, encoder=encoder, path=Path(path) if path else None)
        out.append(torch.from_numpy(feats.astype(np.float32)))
    return torch.stack(out)
