"""Upper-face action units of a scene: AU01, AU04, AU05, AU06, AU07, AU45 as ``[N, 6]`` float32.

Three sources, one output layout (docs/reference/action-units.md):

- ``landmarks`` (default): geometric estimates from the 478 MediaPipe landmarks, no weights needed.
- ``openface``: an OpenFace 2 FeatureExtraction CSV the user made (the paper's choice).
- ``pyfeat``: py-feat 2.1.5 with weights already on disk.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..backends import BackendStatus
from ..errors import EmotagError
from ..head import canonical_face
from .aus import pyfeat
from .aus.geometric import AU_NAMES, geometric_aus
from .aus.openface import openface_aus

SOURCES = ("landmarks", "openface", "pyfeat")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

__all__ = ["AU_NAMES", "SOURCES", "compute_aus", "status"]


def _frame_paths(frames_dir: Path) -> list[Path]:
    paths = sorted(p for p in Path(frames_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise EmotagError(f"no frame images (.jpg/.png) in {frames_dir}")
    return paths


def _read_frames(frames_dir: Path) -> np.ndarray:
    import cv2

    return np.stack([cv2.imread(str(p), cv2.IMREAD_COLOR)[:, :, ::-1] for p in _frame_paths(frames_dir)])


def compute_aus(
    landmarks: np.ndarray | None,
    source: str = "landmarks",
    csv_path: Path | str | None = None,
    frames: np.ndarray | None = None,
    frames_dir: Path | str | None = None,
    fps: float = 25.0,
) -> tuple[np.ndarray, dict]:
    """AU intensities on a 0..5 scale for every frame of a scene.

    landmarks: ``[N, 478, 3]`` scene landmarks (pixels, NaN rows without a face); needed by
        ``landmarks`` and, for the frame count N, by ``openface`` unless ``frames``/``frames_dir``.
    csv_path: the OpenFace CSV (``openface``).
    frames / frames_dir: RGB uint8 ``[N, H, W, 3]`` frames, or the folder of the scene's frame images
        (``pyfeat``).
    fps: the scene's frame rate, used to match OpenFace timestamps to frames.

    Returns (float32 ``[N, 6]`` in ``AU_NAMES`` order, info) where info holds ``source`` (an id such
    as ``landmark-geometric-v1``, ``openface-csv`` or ``py-feat``), ``normalisation`` and per-source
    details; it is JSON-serialisable, for the scene manifest.
    """
    if source == "landmarks":
        if landmarks is None:
            raise EmotagError("AU source 'landmarks' needs the scene's landmarks")
        return geometric_aus(landmarks)
    if source == "openface":
        if csv_path is None:
            raise EmotagError("AU source 'openface' needs an OpenFace CSV (--openface-csv PATH)")
        if landmarks is not None:
            n = len(landmarks)
        elif frames is not None:
            n = len(frames)
        elif frames_dir is not None:
            n = len(_frame_paths(Path(frames_dir)))
        else:
            raise EmotagError("AU source 'openface' needs the scene's frame count (landmarks or frames)")
        return openface_aus(Path(csv_path), n, fps)
    if source == "pyfeat":
        pyfeat.require()
        if frames is None:
            if frames_dir is None:
                raise EmotagError("AU source 'pyfeat' needs the scene's frames")
            frames = _read_frames(Path(frames_dir))
        return pyfeat.pyfeat_aus(frames)
    raise EmotagError(f"unknown AU source {source!r}; choose one of {', '.join(SOURCES)}")


def status() -> list[BackendStatus]:
    """``emotag doctor`` lines for the three AU sources."""
    mesh = Path(str(resources.files("emotag_cli") / "assets" / canonical_face.MESH_FILE))
    return [
        BackendStatus("aus/landmark-geometric", mesh.is_file(), str(mesh),
                      "" if mesh.is_file() else "reinstall emotag: its canonical face mesh asset is missing"),
        BackendStatus("aus/openface-csv", True, "reads OpenFace 2 FeatureExtraction CSVs (--openface-csv)"),
        pyfeat.status(),
    ]
