"""Landmark tracks from preprocessed scenes, with head pose and face size removed.

Each scene's ``landmarks.npy`` ([N, 478, 3] crop pixels, NaN rows without a face) is mapped frame
by frame onto MediaPipe's canonical face by a weighted similarity fit on the landmarks that
expressions leave still (``head.canonical_face``), then scaled from the canonical mesh's
centimetre-like units to metres. MediaPipe's z is a regressed relative depth, only roughly metric:
it is used as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import EmotagError
from ..canonical_face import align_to_canonical
from .topology import N_LANDMARKS, mirror_index

CANONICAL_TO_METRES = 0.01  # the canonical mesh's inter-ocular distance is 6.3 units ~ 6.3 cm
INNER_LIP = (13, 14)         # upper and lower inner-lip midpoints


@dataclass
class Track:
    """One clip's aligned landmarks: ``aligned [N, 478, 3]`` metres (face frames only)."""

    name: str
    aligned: np.ndarray
    n_frames: int                 # frames in the scene, with or without a face
    video: str | None = None      # input video file name, from the scene manifest
    sha256: str | None = None     # of the input video, from the scene manifest
    landmarker: str | None = None  # the MediaPipe version that made the landmarks, from the manifest


def _manifest_input(scene: Path) -> tuple[str | None, str | None, str | None]:
    path = scene / "manifest.json"
    if not path.is_file():
        return None, None, None
    manifest = json.loads(path.read_text())
    video = manifest.get("inputs", {}).get("video", {})
    tools = manifest.get("tools", {})
    mediapipe = next((f"{k} {v}" for k, v in tools.items() if k.startswith("mediapipe")), None)
    return (Path(video["path"]).name if video.get("path") else None), video.get("sha256"), mediapipe


def load_track(scene: str | Path) -> Track:
    """Aligned landmarks of one scene folder (needs ``landmarks.npy``; reads ``manifest.json`` if there)."""
    scene = Path(scene)
    path = scene / "landmarks.npy"
    if not path.is_file():
        raise EmotagError(f"{scene}: no landmarks.npy (run `emotag preprocess` first)")
    raw = np.load(path, allow_pickle=False)
    if raw.ndim != 3 or raw.shape[1:] != (N_LANDMARKS, 3):
        raise EmotagError(f"{path}: expected [N, {N_LANDMARKS}, 3] landmarks, found {raw.shape}")
    aligned = align_to_canonical(raw) * CANONICAL_TO_METRES
    ok = np.isfinite(aligned).all(axis=(1, 2))
    return Track(scene.name, aligned[ok], len(raw), *_manifest_input(scene))


def inner_lip_gap(aligned: np.ndarray) -> np.ndarray:
    """``[N]`` distance between the inner-lip midpoints (metres)."""
    return np.linalg.norm(aligned[:, INNER_LIP[0]] - aligned[:, INNER_LIP[1]], axis=-1)


def closed_mouth_neutral(aligned: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """``[478, 3]`` per-point median over the ``fraction`` of frames with the smallest lip gap.

    A talking clip's plain median has the mouth half open; taking the neutral from its most
    closed frames puts the jaw's rest at closed lips, so jaw openings are positive rotations.
    """
    gap = inner_lip_gap(aligned)
    keep = gap <= np.quantile(gap, fraction)
    return np.median(aligned[keep], axis=0)


def speaker_neutrals(tracks: list[Track], speakers: list[str], neutral_clip: list[bool],
                     fraction: float = 0.2) -> dict[str, np.ndarray]:
    """Per speaker, ``[478, 3]``: the closed-mouth neutral of the speaker's neutral-labelled clips,
    or of all the speaker's clips pooled when none is labelled neutral.

    An emotional clip's own closed-mouth frames still smile or frown; measured from them, the
    emotion itself would vanish from the residual the expression basis learns. Measured from the
    same person's neutral clip, it stays in.
    """
    out = {}
    for speaker in dict.fromkeys(speakers):
        own = [t for t, s in zip(tracks, speakers) if s == speaker]
        calm = [t for t, s, n in zip(tracks, speakers, neutral_clip) if s == speaker and n]
        out[speaker] = closed_mouth_neutral(np.concatenate([t.aligned for t in (calm or own)]), fraction)
    return out


def mirror(points: np.ndarray) -> np.ndarray:
    """Left-right mirror image of ``[..., P, 3]`` points, P = 468 or 478 (x negated, partners swapped)."""
    return (points * np.array([-1.0, 1.0, 1.0]))[..., mirror_index()[: points.shape[-2]], :]
