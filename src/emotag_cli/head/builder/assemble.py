"""Build the open head model from preprocessed scenes (``scripts/build_open_head_model.py`` runs this).

Steps (all in metres, MediaPipe's canonical frame = FLAME's: x to the subject's left, y up, z forward):

1. Each scene's landmarks are aligned to the canonical face (``tracks``). A speaker's neutral is
   the median over the most closed-mouth frames of the speaker's neutral-labelled clips (or of
   all its clips when none is labelled): every clip's motion is measured from its speaker's
   neutral, so an emotional clip's sustained smile or frown is part of what the basis learns.
2. Template: the mean of the subjects' neutrals and MediaPipe's canonical face, each also mirrored
   left-right, so the template is symmetric. Around it: scalp, ears, eyeballs, neck
   (``rest_of_head``); the jaw's skinning weights (``jaw``).
3. Jaw first: every frame's jaw rotation is fitted from the subject's neutral; what the jaw
   explains is removed. Expression basis: PCA of the remaining non-rigid residual over the face's
   468 points (irises excluded: their motion is gaze, which the eye joints carry), each clip
   weighing the same, mirrored copies included. So jaw and expression are not redundant: the
   expression basis holds what a rigid jaw turn cannot (lip shapes, smiles, blinks, brows).
4. Shape basis: three analytic scalings (width, height, depth about the skull centre; 1 unit =
   ``scale_sd`` relative, 4 % ~ one standard deviation of adult head dimensions), then the
   principal directions of the neutrals (including the canonical face) about the template.
5. Face fields are carried onto the scalp harmonically (fading to 0 away from the face); ears take
   their nearest scalp vertex's motion; irises and eyeballs move with their eye's corners; the
   neck does not take part in shape PCA or expressions.

The result is a dict of arrays in HeadModel's layout (posedirs omitted: the open model has none)
plus ``provenance``: builder version, settings, clips (video name and sha256 from the scene
manifests, sha256 of the landmarks used), date, and the variance explained.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from ... import __version__
from ...artifact import file_sha256
from ...errors import EmotagError
from ..canonical_face import canonical_vertices
from ..model import JOINTS
from .basis import extension_operator, weighted_pca
from .harmonic import sub_laplacian
from .jaw import apply_jaw, fit_jaw, jaw_weights
from .rest_of_head import HeadProportions, build_rest_of_head
from .topology import (
    LEFT_EYE_CORNERS,
    LEFT_IRIS,
    N_FACE,
    N_LANDMARKS,
    RIGHT_EYE_CORNERS,
    RIGHT_IRIS,
    boundary_loop,
    face_triangles,
    iris_triangles,
)
from .tracks import CANONICAL_TO_METRES, Track, load_track, mirror, speaker_neutrals

BUILDER_VERSION = 2  # 2: neutral per speaker (labels), not per clip
PARTS = ("face", "iris", "scalp", "ear", "eyeball", "neck")


@dataclass(frozen=True)
class BuildSettings:
    n_expr: int = 50
    n_shape_pca: int = 8            # data-driven identity components (after the 3 scalings)
    scale_sd: float = 0.04          # relative size change per unit of each scaling component
    neutral_fraction: float = 0.2   # most closed-mouth share of frames that define a neutral
    mirror: bool = True             # add left-right mirrored copies of every sample
    jaw_joint: tuple[float, float, float] = (0.0, -0.003, -0.016)  # midline, in front of the ear canals
    jaw_side_penalty: float = 1.0
    min_frames: int = 10
    proportions: HeadProportions = field(default_factory=HeadProportions)


def _with_mirror(points: np.ndarray, on: bool) -> np.ndarray:
    return np.concatenate([points, mirror(points)]) if on else points


def _eye_follow(dirs: np.ndarray, targets: dict[tuple[int, ...], np.ndarray]) -> None:
    """Give each group of vertices the mean motion of its eye's corners (in place, ``[V, 3, K]``)."""
    for corners, ids in targets.items():
        dirs[ids] = dirs[list(corners)].mean(axis=0)


def _regressor_row(points: np.ndarray, candidates: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights on ``candidates`` summing to 1 whose average of ``points`` is ``target``."""
    rho = 10.0
    a = np.vstack([points[candidates].T, rho * np.ones(len(candidates))])
    w, residual = nnls(a, np.append(target, rho))
    if residual > 1e-4:
        raise EmotagError(f"joint at {target} is outside the vertices that could carry it")
    row = np.zeros(len(points))
    row[candidates] = w / w.sum()
    return row


def build_open_model(scenes: list[str | Path], settings: BuildSettings = BuildSettings(),
                     log=print, labels: dict[str, dict] | None = None) -> dict[str, Any]:
    """Arrays of the open head model (HeadModel layout, numpy) + ``provenance`` (a dict).

    labels: per scene name, the corpus record (``scripts/corpus_inputs.py``'s labels.json: source,
    licence, dataset terms, speakers, emotion), copied into that clip's provenance entry."""
    tracks: list[Track] = []
    paths: list[Path] = []
    for scene in scenes:
        track = load_track(scene)
        if len(track.aligned) < settings.min_frames:
            log(f"skip {track.name}: {len(track.aligned)} face frames")
            continue
        tracks.append(track)
        paths.append(Path(scene))
    if not tracks:
        raise EmotagError("no scene with enough face frames to learn from")
    on = settings.mirror
    # Neutral per speaker (labels name the speakers; a clip without a label is its own speaker).
    labels = labels or {}
    speakers = [((labels.get(t.name) or {}).get("speakers") or [t.name])[0] for t in tracks]
    calm = [(labels.get(t.name) or {}).get("emotion") == "neutral" for t in tracks]
    by_speaker = speaker_neutrals(tracks, speakers, calm, settings.neutral_fraction)
    neutrals = np.stack(list(by_speaker.values()))                                 # one per speaker
    clip_neutrals = [by_speaker[s] for s in speakers]

    # Template: subjects' neutrals and the canonical face (irises: the subjects' mean), mirrored too.
    canonical = np.concatenate([canonical_vertices() * CANONICAL_TO_METRES, neutrals[:, N_FACE:].mean(0)])
    identity_set = _with_mirror(np.concatenate([neutrals, canonical[None]]), on)
    face_template = identity_set.mean(axis=0)                                         # [478, 3]

    # Geometry around the face.
    p = settings.proportions
    face_faces = face_triangles()
    rest = build_rest_of_head(face_template, boundary_loop(face_faces), p)
    v_template = np.concatenate([face_template, rest.vertices])
    faces = np.concatenate([face_faces, iris_triangles(face_template), rest.faces])
    n_v = len(v_template)
    g = rest.groups
    scalp, ears = g["scalp"], np.concatenate([g["ear_left"], g["ear_right"]])
    eye_targets = {LEFT_EYE_CORNERS: np.concatenate([LEFT_IRIS, g["eyeball_left"]]),
                   RIGHT_EYE_CORNERS: np.concatenate([RIGHT_IRIS, g["eyeball_right"]])}

    ear_bottom = p.ear_centre[1] - p.ear_radii[1]
    w_jaw = jaw_weights(v_template, faces, scalp, ear_bottom, p.ear_centre[2])
    joint = np.asarray(settings.jaw_joint)

    # Jaw first, then PCA of what it leaves.
    residuals, energy_before, energy_after, jaw_stats = [], 0.0, 0.0, []
    for track, neutral in zip(tracks, clip_neutrals):
        frames = track.aligned[:, :N_FACE]
        rotvec = fit_jaw(frames, neutral[:N_FACE], w_jaw[:N_FACE], joint, settings.jaw_side_penalty)
        res = frames - apply_jaw(neutral[:N_FACE], w_jaw[:N_FACE], joint, rotvec)
        energy_before += float(((frames - neutral[:N_FACE]) ** 2).sum(axis=(1, 2)).mean()) / len(tracks)
        energy_after += float((res**2).sum(axis=(1, 2)).mean()) / len(tracks)
        residuals.append(_with_mirror(res, on).reshape(-1, N_FACE * 3))
        jaw_stats.append(np.degrees(rotvec[:, 0]))
        log(f"{track.name}: {len(frames)} frames, jaw opening p50/p95 "
            f"{np.percentile(jaw_stats[-1], 50):.1f}/{np.percentile(jaw_stats[-1], 95):.1f} deg")
    e_dirs, e_var, e_total = weighted_pca(residuals, settings.n_expr)
    if e_dirs.shape[1] < settings.n_expr:
        log(f"only {e_dirs.shape[1]} expression components have support in the data")
    expr_face = (e_dirs * np.sqrt(e_var)).reshape(N_FACE, 3, -1)

    # Identity: PCA of the neutrals about the template.
    s_dirs, s_var, s_total = weighted_pca([(identity_set - face_template)[:, :N_FACE].reshape(len(identity_set), -1)],
                                          settings.n_shape_pca)
    shape_face = (s_dirs * np.sqrt(s_var)).reshape(N_FACE, 3, -1)

    # Carry face fields to the whole head: harmonically over the face + scalp surface.
    surface = np.concatenate([np.arange(N_FACE), scalp])
    far = N_FACE + np.searchsorted(scalp, g["scalp_far"])              # local ids on that surface
    extend = extension_operator(sub_laplacian(surface, faces), np.arange(N_FACE), far)
    d2 = ((v_template[ears][:, None] - v_template[scalp][None]) ** 2).sum(-1)
    ear_anchor = scalp[d2.argmin(axis=1)]
    neck = g["neck"]

    def whole_head(face_dirs: np.ndarray) -> np.ndarray:
        k = face_dirs.shape[2]
        dirs = np.zeros((n_v, 3, k))
        dirs[surface] = extend(face_dirs.reshape(N_FACE, -1)).reshape(len(surface), 3, k)
        _eye_follow(dirs, eye_targets)
        dirs[ears] = dirs[ear_anchor]
        dirs[neck] = 0.0
        return dirs

    centre = np.asarray(p.centre)
    scalings = np.stack([np.eye(3)[a] * (v_template - centre) * settings.scale_sd for a in range(3)], axis=-1)
    shapedirs = np.concatenate([scalings, whole_head(shape_face)], axis=2)
    exprdirs = whole_head(expr_face)

    # Joints: root at the bottom of the neck, neck at its top (inside the skull), jaw from rigid
    # vertices around it, eyes at the eyeball centres.
    j_reg = np.zeros((len(JOINTS), n_v))
    j_reg[0, g["neck_bottom"]] = 1.0 / len(g["neck_bottom"])
    j_reg[1, g["neck_top"]] = 1.0 / len(g["neck_top"])
    carriers = np.concatenate([ears, g["eyeball_left"], g["eyeball_right"], g["scalp_far"]])
    j_reg[2] = _regressor_row(v_template, carriers, joint)
    j_reg[3, g["eyeball_left"]] = 1.0 / len(g["eyeball_left"])
    j_reg[4, g["eyeball_right"]] = 1.0 / len(g["eyeball_right"])

    # Skinning: head vertices on the neck joint (FLAME's convention) or the jaw, eyes on their
    # joints, the neck blending from the head (top) to the root (bottom).
    weights = np.zeros((n_v, len(JOINTS)))
    weights[:, 1] = 1.0 - w_jaw
    weights[:, 2] = w_jaw
    for joint_id, ids in ((3, eye_targets[LEFT_EYE_CORNERS]), (4, eye_targets[RIGHT_EYE_CORNERS])):
        weights[ids] = np.eye(len(JOINTS))[joint_id]
    t = np.clip((rest.neck_t - 0.3) / 0.7, 0.0, 1.0)
    s = t * t * (3 - 2 * t)
    weights[neck] = 0.0
    weights[neck, 0], weights[neck, 1] = s, 1.0 - s

    # Landmarks: vertex i of the first 478 is landmark i (a triangle holding it, one-hot barycentrics).
    lmk_faces = np.zeros(N_LANDMARKS, dtype=np.int64)
    lmk_bary = np.zeros((N_LANDMARKS, 3), dtype=np.float32)
    for i in range(N_LANDMARKS):
        tri, slot = np.argwhere(faces == i)[0]
        lmk_faces[i], lmk_bary[i, slot] = tri, 1.0

    part = np.zeros(n_v, dtype=np.int8)
    part[N_FACE:N_LANDMARKS] = PARTS.index("iris")
    part[scalp] = PARTS.index("scalp")
    part[ears] = PARTS.index("ear")
    part[np.concatenate([g["eyeball_left"], g["eyeball_right"]])] = PARTS.index("eyeball")
    part[neck] = PARTS.index("neck")

    ratio = e_var / e_total
    cum = np.cumsum(ratio)
    provenance = {
        "model": "emotag open head model",
        "builder": f"emotag_cli.head.builder v{BUILDER_VERSION} (emotag {__version__})",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": dataclasses.asdict(settings),
        "clips": [{"scene": t.name, "video": t.video, "video_sha256": t.sha256, "landmarker": t.landmarker,
                   "frames_used": len(t.aligned),
                   "frames_total": t.n_frames, "landmarks_sha256": file_sha256(path / "landmarks.npy"),
                   **_corpus_record((labels or {}).get(t.name))}
                  for t, path in zip(tracks, paths)],
        "expression": {
            "components": int(exprdirs.shape[2]),
            "variance_ratio": [round(float(r), 6) for r in ratio],
            "cumulative": {str(k): round(float(cum[min(k, len(cum)) - 1]), 4) for k in (1, 5, 10, 20, 50)},
            "jaw_share_of_nonrigid_energy": round(1 - energy_after / energy_before, 4),
            "sd_m": [float(x) for x in np.sqrt(e_var)],
            "data": "non-rigid residual after the jaw, about each subject's neutral; uncentred PCA; "
                    "each clip weighs 1; mirrored copies" if on else "not mirrored",
        },
        "shape": {
            "components": int(shapedirs.shape[2]),
            "analytic": ["width", "height", "depth"],
            "pca_variance_ratio": [round(float(r), 6) for r in s_var / max(s_total, 1e-30)],
            "pca_sd_m": [float(x) for x in np.sqrt(s_var)],
        },
        "counts": {"vertices": n_v, "faces": len(faces), "landmarks": N_LANDMARKS,
                   **{name: int((part == i).sum()) for i, name in enumerate(PARTS)}},
        "parts": list(PARTS),
        "joints": list(JOINTS),
        "licence": "face topology and canonical shape from MediaPipe (Apache-2.0); bases learned from the "
                   "listed clips' landmarks (each corpus clip's source, licence and dataset terms with it)",
    }
    return {
        "v_template": v_template.astype(np.float32),
        "shapedirs": shapedirs.astype(np.float32),
        "exprdirs": exprdirs.astype(np.float32),
        "J_regressor": j_reg.astype(np.float32),
        "parents": np.array([-1, 0, 1, 1, 1], dtype=np.int64),
        "lbs_weights": weights.astype(np.float32),
        "faces": faces.astype(np.int64),
        "lmk_faces": lmk_faces,
        "lmk_bary": lmk_bary,
        "vertex_part": part,
        "provenance": provenance,
    }


# Arrays stored as float16 in the shipped asset: the bases (one standard deviation each, so
# float16's 3 significant digits are far below tracking noise). The template and the joint
# regressor stay float32 (absolute positions in metres), the skinning weights too (each row must
# sum to 1 exactly, or a zero pose would move the template).
HALF_PRECISION = ("shapedirs", "exprdirs")


CORPUS_FIELDS = ("source", "license", "dataset_terms", "speakers", "emotion")


def _corpus_record(label: dict | None) -> dict[str, Any]:
    """The provenance fields of a corpus clip's label (empty for a clip without one)."""
    return {k: label[k] for k in CORPUS_FIELDS if label and label.get(k) is not None}


def save_asset(path: str | Path, arrays: dict[str, Any], half: bool = True) -> None:
    """Write the model as a compressed ``.npz`` (provenance as a JSON string; no pickled objects).

    half: store ``HALF_PRECISION`` arrays as float16 (the loader returns float32 either way)."""
    data = {k: (v.astype(np.float16) if half and k in HALF_PRECISION else v)
            for k, v in arrays.items() if k != "provenance"}
    data["provenance"] = np.array(json.dumps(arrays["provenance"], indent=1))
    np.savez_compressed(path, **data)
