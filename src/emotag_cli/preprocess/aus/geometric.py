"""Upper-face action units measured on MediaPipe's 478 landmarks (the default, weight-free source).

Each AU is one distance on the pose-free face (see ``head/canonical_face.py``), compared with the clip's own
neutral level and put on OpenFace's 0..5 intensity scale:

    raw_a(t)       one measurement per frame, averaged over the two sides of the face
    deviation_a(t) = (raw_a(t) - median_t raw_a) / IOD           (AU01..AU07, in IOD fractions)
                   = 1 - EAR(t) / median_t EAR                    (AU45, a fraction)
    intensity_a(t) = clip(deviation_a(t) / unit_a, 0, 5)
    AU07 additionally x clip(1 + deviation_AU05(t) / 0.04, 0, 1)   (blink suppression)

IOD is the clip's median inter-ocular distance (between the midpoints of each eye's corners), so
the numbers do not depend on face size. ``unit_a`` (``UNITS``) is the deviation worth one intensity
step; it was set from facial anatomy (e.g. 5 = an inner-brow raise of 15 % of the IOD, about 9 mm),
not fitted to OpenFace. docs/reference/action-units.md lists every landmark used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...contract import AU_NAMES
from ...errors import EmotagError
from ...head.canonical_face import align_to_canonical
from .gaps import fill_gaps

SOURCE_ID = "landmark-geometric-v1"
MAX_INTENSITY = 5.0

# Deviation per intensity step, in IOD fractions (AU45: fraction of the open-eye aspect ratio).
UNITS = np.array([0.03, 0.02, 0.012, 0.016, 0.01, 0.12])
# Upper-lid descent over the iris (IOD fraction) at which a lower-lid raise stops counting as AU07.
BLINK_SUPPRESSION = 0.04


@dataclass(frozen=True)
class Side:
    """FaceMesh indices for one side of the face (the subject's right or left)."""

    outer: int  # outer eye corner
    inner: int  # inner eye corner
    upper: tuple[int, int, int]  # upper-lid centre, lateral to medial
    lower: tuple[int, int, int]  # lower-lid points facing ``upper``, same order
    iris: int  # iris centre (refined landmarks)
    brow: tuple[int, ...]  # inner third of the eyebrow, upper and lower contour
    cheek: tuple[int, ...]  # infra-orbital cheek, below the lower lid


RIGHT = Side(outer=33, inner=133, upper=(160, 159, 158), lower=(144, 145, 153), iris=468,
             brow=(107, 66, 55, 65), cheek=(117, 118, 119, 101, 50))
LEFT = Side(outer=263, inner=362, upper=(387, 386, 385), lower=(373, 374, 380), iris=473,
            brow=(336, 296, 285, 295), cheek=(346, 347, 348, 330, 280))
SIDES = (RIGHT, LEFT)


def _height(aligned: np.ndarray, idx) -> np.ndarray:
    """Mean canonical y (up) of landmarks ``idx``: ``[N]``."""
    return aligned[:, list(idx), 1].mean(axis=1)


def _eye_line(aligned: np.ndarray, side: Side) -> np.ndarray:
    return _height(aligned, (side.outer, side.inner))


def eye_aspect_ratio(aligned: np.ndarray, side: Side) -> np.ndarray:
    """Mean upper-to-lower lid distance over the corner-to-corner width: ``[N]``, unitless."""
    lids = np.linalg.norm(aligned[:, list(side.upper)] - aligned[:, list(side.lower)], axis=-1)
    width = np.linalg.norm(aligned[:, side.outer] - aligned[:, side.inner], axis=-1)
    return lids.mean(axis=1) / width


def inter_ocular(aligned: np.ndarray) -> np.ndarray:
    """Distance between the eye centres (midpoints of each eye's corners): ``[N]``."""
    centres = [(aligned[:, s.outer] + aligned[:, s.inner]) / 2 for s in SIDES]
    return np.linalg.norm(centres[0] - centres[1], axis=-1)


def measurements(aligned: np.ndarray) -> np.ndarray:
    """The six raw measurements per frame, averaged over both sides: float64 ``[N, 6]``.

    aligned: ``[N, 478, 3]`` pose-free landmarks (canonical units, y up). Columns, in canonical
    units except the last: inner-brow height above the eye-corner line (AU01); minus the distance
    from the inner brow to the midpoint of the inner eye corners (AU04); upper-lid height above the
    iris centre (AU05); cheek height relative to the eye-corner line (AU06); lower-lid height
    relative to the eye-corner line (AU07); eye aspect ratio (AU45, unitless).
    """
    glabella = (aligned[:, RIGHT.inner] + aligned[:, LEFT.inner]) / 2

    def both(f) -> np.ndarray:
        return (f(RIGHT) + f(LEFT)) / 2

    return np.stack([
        both(lambda s: _height(aligned, s.brow) - _eye_line(aligned, s)),
        both(lambda s: -np.linalg.norm(aligned[:, list(s.brow)].mean(axis=1) - glabella, axis=-1)),
        both(lambda s: _height(aligned, s.upper) - aligned[:, s.iris, 1]),
        both(lambda s: _height(aligned, s.cheek) - _eye_line(aligned, s)),
        both(lambda s: _height(aligned, s.lower) - _eye_line(aligned, s)),
        both(lambda s: eye_aspect_ratio(aligned, s)),
    ], axis=1)


def intensities(raw: np.ndarray, baseline: np.ndarray, iod: float) -> np.ndarray:
    """Raw ``[N, 6]`` measurements -> 0..5 intensities ``[N, 6]`` against the neutral ``baseline [6]``."""
    deviation = np.empty_like(raw)
    deviation[:, :5] = (raw[:, :5] - baseline[:5]) / iod
    deviation[:, 5] = 1.0 - raw[:, 5] / baseline[5]
    out = np.clip(deviation / UNITS, 0.0, MAX_INTENSITY)
    # MediaPipe's lower lid also rises in a blink; a lid tightener narrows the eye from below while
    # the upper lid stays up, so AU07 fades out as the upper lid comes down over the iris.
    out[:, 4] *= np.clip(1.0 + deviation[:, 2] / BLINK_SUPPRESSION, 0.0, 1.0)
    return out


def geometric_aus(landmarks: np.ndarray) -> tuple[np.ndarray, dict]:
    """AU01, AU04, AU05, AU06, AU07, AU45 intensities (0..5) for a clip.

    landmarks: float ``[N, 478, 3]`` scene landmarks (pixels), NaN rows for frames without a face.
    Returns (float32 ``[N, 6]``, info). The neutral baseline is the clip's median, so a clip should
    be long enough (a few seconds) to contain mostly neutral upper-face frames. Frames without a
    face are filled by linear interpolation from their neighbours; info records how many.
    """
    landmarks = np.asarray(landmarks)
    if landmarks.ndim != 3 or landmarks.shape[1] < 478 or landmarks.shape[2] != 3:
        raise EmotagError(
            f"action units need refined MediaPipe landmarks [N, 478, 3], got shape {landmarks.shape}"
        )
    aligned = align_to_canonical(landmarks)
    raw = measurements(aligned)
    valid = np.isfinite(raw).all(axis=1)
    if not valid.any():
        raise EmotagError("no frame has a face: cannot measure action units")

    baseline = np.median(raw[valid], axis=0)
    iod = float(np.median(inter_ocular(aligned[valid])))
    aus = np.full(raw.shape, np.nan)
    aus[valid] = intensities(raw[valid], baseline, iod)
    info = {
        "source": SOURCE_ID,
        "au_names": list(AU_NAMES),
        "normalisation": (
            "clip((raw - clip median) / IOD / unit, 0, 5); AU45: clip((1 - EAR / median EAR) / unit, 0, 5); "
            f"AU07 x clip(1 + AU05 deviation / {BLINK_SUPPRESSION}, 0, 1)"
        ),
        "units": dict(zip(AU_NAMES, UNITS.tolist())),
        "baseline_raw": dict(zip(AU_NAMES, baseline.tolist())),
        "iod_canonical_units": iod,
        "frames_without_face": int((~valid).sum()),
        "gap_filling": "linear interpolation",
    }
    return fill_gaps(aus, valid), info
