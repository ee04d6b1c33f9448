"""Import of OpenFace 2 ``FeatureExtraction`` CSVs (the paper's AU source).

OpenFace writes one row per processed frame: ``frame, face_id, timestamp, confidence, success,
... AU01_r ... AU45_r, AU01_c ...``. OpenFace 2.0 separates header names and values with ", ",
2.2 with ","; both are read. The ``AUxx_r`` intensities (0..5) are used as written; rows with
``success = 0`` carry no measurement. Each scene frame i (time i / fps) takes the row nearest in
time; frames with no row within one frame period, or whose nearest row failed, are filled by linear
interpolation from the neighbouring frames.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ...errors import EmotagError
from .gaps import fill_gaps
from .geometric import AU_NAMES

SOURCE_ID = "openface-csv"
INTENSITY_COLUMNS = tuple(f"{name}_r" for name in AU_NAMES)
MIN_COVERAGE = 0.5  # refuse a CSV that matches fewer than this fraction of the scene's frames


def read_openface_csv(path: Path, columns: tuple[str, ...] = INTENSITY_COLUMNS
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps ``[M]`` seconds, success ``[M]`` bool, values ``[M, len(columns)]``) of one face
    (default columns: the 6 upper-face ``AUxx_r`` intensities); success is False where OpenFace
    failed or a value is missing.

    When the CSV holds several ``face_id``s (FaceLandmarkVidMulti), the face with the most
    successful rows is taken.
    """
    path = Path(path)
    if not path.is_file():
        raise EmotagError(f"OpenFace CSV not found: {path}")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    if not rows:
        raise EmotagError(f"{path} is empty; expected an OpenFace FeatureExtraction CSV")
    header = [name.strip() for name in rows[0]]
    col = {name: i for i, name in enumerate(header)}
    missing = [c for c in ("timestamp", *columns) if c not in col]
    if missing:
        raise EmotagError(
            f"{path} lacks column(s) {', '.join(missing)}: give the CSV that OpenFace FeatureExtraction "
            "writes with -aus (it has timestamp and AU01_r ... AU45_r)"
        )
    body = [r for r in rows[1:] if len(r) == len(header)]
    if not body:
        raise EmotagError(f"{path} has a header but no complete data rows")

    def column(name: str, default: float) -> np.ndarray:
        if name not in col:
            return np.full(len(body), default)
        try:
            return np.array([float(r[col[name]]) for r in body])
        except ValueError as e:
            raise EmotagError(f"{path}: column {name} has a non-numeric value ({e})") from None

    times = column("timestamp", np.nan)
    success = column("success", 1.0) > 0.5
    values = np.stack([column(c, np.nan) for c in columns], axis=1)
    face = column("face_id", 0.0)
    ids = np.unique(face)
    if len(ids) > 1:
        best = ids[np.argmax([np.sum(success & (face == i)) for i in ids])]
        keep = face == best
        times, success, values = times[keep], success[keep], values[keep]
    success &= np.isfinite(values).all(axis=1)
    return times, success, values


def openface_aus(csv_path: Path, n_frames: int, fps: float = 25.0) -> tuple[np.ndarray, dict]:
    """OpenFace AU intensities resampled onto the scene's ``n_frames`` frames at ``fps``.

    Returns (float32 ``[n_frames, 6]``, info).
    """
    times, success, values = read_openface_csv(csv_path)
    order = np.argsort(times, kind="stable")
    times, success, values = times[order], success[order], values[order]

    frame_times = np.arange(n_frames) / fps
    after = np.searchsorted(times, frame_times)
    lo = np.clip(after - 1, 0, len(times) - 1)
    hi = np.clip(after, 0, len(times) - 1)
    nearest = np.where(np.abs(times[lo] - frame_times) <= np.abs(times[hi] - frame_times), lo, hi)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / fps
    close = np.abs(times[nearest] - frame_times) <= max(1.0 / fps, step) + 1e-6
    valid = close & success[nearest]
    if valid.mean() < MIN_COVERAGE:
        raise EmotagError(
            f"{csv_path} matches only {int(valid.sum())} of {n_frames} frames "
            f"({times.min():.2f}-{times.max():.2f} s, {int(success.sum())} successful rows) of a "
            f"{n_frames / fps:.2f} s scene: was it made from this video? For an image folder, run "
            f"FeatureExtraction with -fps {fps:g}"
        )
    aus = np.where(valid[:, None], values[nearest], np.nan)
    info = {
        "source": SOURCE_ID,
        "au_names": list(AU_NAMES),
        "csv": str(csv_path),
        "normalisation": "none: OpenFace AUxx_r intensities (0..5) as written",
        "rows": len(times),
        "rows_failed": int((~success).sum()),
        "frames_filled": int((~valid).sum()),
        "gap_filling": "linear interpolation",
    }
    return fill_gaps(aus, valid), info
