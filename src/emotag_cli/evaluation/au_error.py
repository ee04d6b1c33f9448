"""Action Unit Error, docs/reference/metrics.md: ``AUE = sum over AUs of mean_t (AU_rendered - AU_reference)^2``.

AUE-U sums the upper-face AUs, AUE-L the lower-face AUs. Two sources:

- **OpenFace** (the paper's): ``FeatureExtraction`` CSVs of the rendered and the reference video,
  with the 17 ``AUxx_r`` intensities (0..5). Upper: AU01, 02, 04, 05, 06, 07, 09, 45; lower: AU10,
  12, 14, 15, 17, 20, 23, 25, 26.
- **Landmarks** (no weights): the geometric upper-face AUs of ``preprocess.aus.geometric`` (AU01,
  04, 05, 06, 07, 45 — six of the eight) and, for the lower face, a *landmark proxy* of four
  signed mouth measurements (``LOWER_PROXY``), since mouth AUs cannot be told apart reliably from
  landmarks. Both sides are measured on pose-free landmarks against the *reference's* neutral
  level (its median) and inter-ocular distance, so a render whose brows or lips sit persistently
  off the reference's counts as error. The numbers are not comparable with OpenFace AUEs.

Frames where either side has no measurement are left out (and counted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EmotagError
from ..head.canonical_face import align_to_canonical
from ..preprocess.aus.geometric import AU_NAMES, intensities, inter_ocular, measurements
from ..preprocess.aus.openface import read_openface_csv

OPENFACE_UPPER = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU45")
OPENFACE_LOWER = ("AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26")
LANDMARK_UPPER_AUS = AU_NAMES  # AU01, AU04, AU05, AU06, AU07, AU45

# Lower-face landmark proxy: name -> deviation (IOD fraction) worth one unit, so that a large
# expression reaches about 5 like an AU intensity.
LOWER_PROXY = ("mouth_open", "lip_corner_raise", "mouth_width", "upper_lip_raise")
LOWER_UNITS = np.array([0.10, 0.02, 0.03, 0.02])
INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))  # MediaPipe, upper -> lower inner lip
CORNERS = (61, 291)  # mouth corners
UPPER_LIP_TOP, SUBNASALE = 0, 2


def aue(pred: np.ndarray, ref: np.ndarray) -> tuple[float, np.ndarray, int]:
    """AUE of per-frame AU rows ``[N, K]`` (NaN rows: no measurement).

    Returns (sum over the K AUs of the mean squared difference, per-AU mean squared difference
    ``[K]``, frames used). NaN and 0 frames when no frame has both rows.
    """
    pred, ref = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    ok = np.isfinite(pred).all(axis=1) & np.isfinite(ref).all(axis=1)
    if not ok.any():
        return float("nan"), np.full(pred.shape[1], np.nan), 0
    per_au = ((pred[ok] - ref[ok]) ** 2).mean(axis=0)
    return float(per_au.sum()), per_au, int(ok.sum())


def _reference_scale(aligned_ref: np.ndarray, raw_ref: np.ndarray) -> tuple[np.ndarray, float]:
    valid = np.isfinite(raw_ref).all(axis=1)
    if not valid.any():
        raise EmotagError("the reference has no frame with a face: cannot measure action units")
    return np.median(raw_ref[valid], axis=0), float(np.median(inter_ocular(aligned_ref[valid])))


def landmark_upper_aus(video: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometric AU01, AU04, AU05, AU06, AU07, AU45 (0..5) of both clips on the reference's scale.

    video, reference: MediaPipe landmarks ``[N, 478, 3]`` (pixels, NaN rows). Returns two float64
    ``[N, 6]`` arrays, NaN rows where a clip has no face.
    """
    aligned_v, aligned_r = align_to_canonical(video), align_to_canonical(reference)
    raw_v, raw_r = measurements(aligned_v), measurements(aligned_r)
    baseline, iod = _reference_scale(aligned_r, raw_r)
    return intensities(raw_v, baseline, iod), intensities(raw_r, baseline, iod)


def lower_measurements(aligned: np.ndarray) -> np.ndarray:
    """Pose-free landmarks ``[N, 478, 3]`` (canonical units, y up) -> raw ``[N, 4]`` in ``LOWER_PROXY`` order.

    mouth_open: mean inner-lip gap; lip_corner_raise: corner height above the top of the upper lip
    (up for a smile, AU12; down for AU15); mouth_width: corner-to-corner distance (stretch AU20 and
    smile widen, pucker AU18/AU22 narrows); upper_lip_raise: minus the subnasale-to-upper-lip height
    (AU10 shortens it).
    """
    gap = np.mean([np.linalg.norm(aligned[:, a] - aligned[:, b], axis=-1) for a, b in INNER_LIP_PAIRS], axis=0)
    corners = aligned[:, list(CORNERS)]
    corner_raise = corners[:, :, 1].mean(axis=1) - aligned[:, UPPER_LIP_TOP, 1]
    width = np.linalg.norm(corners[:, 0] - corners[:, 1], axis=-1)
    lip_raise = -(aligned[:, SUBNASALE, 1] - aligned[:, UPPER_LIP_TOP, 1])
    return np.stack([gap, corner_raise, width, lip_raise], axis=1)


def landmark_lower_proxy(video: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lower-face proxy of both clips: signed ``(raw - reference median) / reference IOD / unit``.

    Not clipped (a lip that sits lower than neutral is as wrong as one that sits higher). Returns two
    float64 ``[N, 4]`` arrays, NaN rows without a face.
    """
    aligned_v, aligned_r = align_to_canonical(video), align_to_canonical(reference)
    raw_v, raw_r = lower_measurements(aligned_v), lower_measurements(aligned_r)
    baseline, iod = _reference_scale(aligned_r, raw_r)
    return (raw_v - baseline) / iod / LOWER_UNITS, (raw_r - baseline) / iod / LOWER_UNITS


def read_openface_aus(path: Path, names: tuple[str, ...], n_frames: int, fps: float = 25.0) -> np.ndarray:
    """``AUxx_r`` intensities of an OpenFace FeatureExtraction CSV on the 25 fps frame grid.

    Each successful row goes to frame ``round(timestamp * fps)``; frames with no successful row are
    NaN. Returns float64 ``[n_frames, len(names)]``. Read by the preprocess importer's
    ``read_openface_csv`` (both OpenFace separators; the face with most successful rows).
    """
    times, success, values = read_openface_csv(Path(path), tuple(f"{n}_r" for n in names))
    out = np.full((n_frames, len(names)), np.nan)
    frames = np.round(times[success] * fps).astype(int)
    inside = (frames >= 0) & (frames < n_frames)
    out[frames[inside]] = values[success][inside]                # a later row for the same frame wins
    if not np.isfinite(out).all(axis=1).any():
        raise EmotagError(f"{path} has no successful row within the {n_frames} frames compared")
    return out
