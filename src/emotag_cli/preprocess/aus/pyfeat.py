"""py-feat (``pip install py-feat==2.1.5``) as an optional AU source, with weights the user already has.

py-feat 2.1.5's ``Detectorv2`` runs RetinaFace and a multitask network whose AU head gives
*occurrence probabilities* (0..1) for 20 AUs. Its weights are not in the wheel: py-feat fetches them
from the Hugging Face Hub into ``<site-packages>/feat/resources`` (Hub cache layout,
``models--py-feat--face_multitask_v2`` and ``models--py-feat--retinaface_r34``). We never download:
the Hub is put in offline mode and the backend counts as available only when both folders are there.

Mapping to our six AUs: probability x 5, so that the numbers share OpenFace's 0..5 range (they stay
probabilities, not intensities). The shipped v2.4 head has no AU45; AU43 (eyes closed) stands in.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ...backends import BackendStatus, has_module
from ...errors import EmotagError, MissingBackendError
from .gaps import fill_gaps
from .geometric import AU_NAMES

SOURCE_ID = "py-feat"
PIP_SPEC = "py-feat==2.1.5"
WEIGHT_FOLDERS = ("models--py-feat--face_multitask_v2", "models--py-feat--retinaface_r34")
# Our AU -> py-feat column (v2.4 head).
COLUMNS = {"AU01": "AU01", "AU04": "AU04", "AU05": "AU05", "AU06": "AU06", "AU07": "AU07", "AU45": "AU43"}


def resources_dir() -> Path | None:
    """``feat/resources`` of the installed py-feat (found without importing it), or None."""
    try:
        spec = importlib.util.find_spec("feat")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) / "resources" if locations else None


def _missing_weights(resources: Path) -> list[str]:
    return [name for name in WEIGHT_FOLDERS if not (resources / name / "snapshots").is_dir()]


def _hint(resources: Path | None) -> str:
    where = resources or Path("<site-packages>/feat/resources")
    return (
        f"pip install {PIP_SPEC}; then, on a machine with internet, run "
        "`python -c \"from feat import Detectorv2; Detectorv2(identity_model=None)\"` once and copy "
        f"{', '.join(WEIGHT_FOLDERS)} into {where}"
    )


def status() -> BackendStatus:
    name = "aus/py-feat"
    if not has_module("feat"):
        return BackendStatus(name, False, "python module feat (py-feat)", _hint(None))
    resources = resources_dir()
    missing = _missing_weights(resources) if resources else list(WEIGHT_FOLDERS)
    if missing:
        return BackendStatus(name, False, f"{resources} (missing {', '.join(missing)})", _hint(resources))
    return BackendStatus(name, True, str(resources))


def require() -> None:
    """Raise MissingBackendError (saying what to install and where) unless py-feat can run."""
    found = status()
    if not found.available:
        raise MissingBackendError(f"py-feat AUs unavailable ({found.where}): {found.hint}")


def pyfeat_aus(frames: np.ndarray) -> tuple[np.ndarray, dict]:
    """py-feat AU probabilities x 5 for RGB uint8 frames ``[N, H, W, 3]``: (float32 ``[N, 6]``, info).

    Frames where py-feat finds no face are filled by linear interpolation. Raises
    MissingBackendError when py-feat or its weights are absent.
    """
    require()
    os.environ["HF_HUB_OFFLINE"] = "1"  # use the weights on disk; never reach for the Hub
    import torch
    from feat import Detectorv2

    detector = Detectorv2(device="cpu", identity_model=None)
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    fex = detector.detect(images, data_type="tensor", progress_bar=False)

    aus = np.full((len(frames), len(AU_NAMES)), np.nan)
    found_face = fex[fex["FaceRectX"].notna()]
    best = found_face.sort_values("FaceScore").groupby("frame").tail(1)  # largest score per frame
    rows = best["frame"].to_numpy(dtype=int)
    aus[rows] = 5.0 * best[[COLUMNS[a] for a in AU_NAMES]].to_numpy(dtype=float)
    valid = np.isfinite(aus).all(axis=1)
    if not valid.any():
        raise EmotagError("py-feat found no face in any frame")
    info = {
        "source": SOURCE_ID,
        "au_names": list(AU_NAMES),
        "normalisation": "5 x py-feat AU occurrence probability; AU45 from py-feat's AU43",
        "frames_filled": int((~valid).sum()),
        "gap_filling": "linear interpolation",
    }
    return fill_gaps(aus, valid), info
