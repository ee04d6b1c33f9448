"""Re-extract a scene's audio features with another encoder, leaving the video work as it is.

Reads the scene's ``audio.wav`` (16 kHz, sample 0 at frame 0), runs the encoder and writes
``audio_features.npy`` [N, 16, D] float16 and the manifest's ``features.audio`` /
``config.audio_encoder`` — each file through a temporary file and a rename, so a failed run
leaves the scene as it was and a hard-linked copy of a scene never changes its original.
Tracks stay valid: they depend on the landmarks, not on the audio features.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..artifact import write_manifest
from ..errors import EmotagError
from ..scene import Scene

FEATURES = "audio_features.npy"


def refresh_audio_features(scene_path: Path | str, encoder: str, path: Path | None = None,
                           device: str = "cpu") -> dict:
    """Replace the audio features of the scene at ``scene_path`` by ``encoder``'s; returns the
    encoder's description (as stored in the manifest). Refuses a scene without audio."""
    from .audio_features import check_encoder, extract_audio_features

    check_encoder(encoder, path)
    scene = Scene.open(scene_path, check_files=False)
    if not scene.has_audio:
        raise EmotagError(f"scene {scene.path} has no audio: there are no audio features to make")
    feats, meta = extract_audio_features(scene.audio(), scene.n_frames, encoder=encoder, path=path, device=device)
    tmp = scene.path / f".{FEATURES}.tmp.npy"
    try:
        np.save(tmp, feats.astype(np.float16))
        manifest = dict(scene.manifest)
        manifest["config"] = {**manifest.get("config", {}), "audio_encoder": encoder,
                              "audio_encoder_path": str(path) if path is not None else None}
        manifest["features"] = {**manifest.get("features", {}), "audio": meta}
        os.replace(tmp, scene.path / FEATURES)
    finally:
        tmp.unlink(missing_ok=True)
    write_manifest(scene.path, manifest)
    return meta
