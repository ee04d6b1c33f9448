"""The built-in open head model: MediaPipe's face topology with learned bases, shipped with emotag.

``assets/open_head_model.npz`` is made by ``scripts/build_open_head_model.py`` (see
``head/builder/assemble.py`` and docs/reference/head-models.md). It holds HeadModel's arrays except
posedirs (the open model has no pose correctives: zeros here), plus ``vertex_part`` (which part of
the head each vertex belongs to, names in ``meta['parts']``) and ``provenance`` (JSON: how, from
what and with which settings it was built, and the variance its expression basis explains).

Vertices 0..477 are MediaPipe's 478 refined landmarks, so the landmark embedding is the identity
and ``meta['landmark_indices'] == list(range(478))``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..backends import BackendStatus
from ..errors import EmotagError
from .model import HeadModel

ASSET = "open_head_model.npz"
ARRAYS = ("v_template", "shapedirs", "exprdirs", "J_regressor", "parents", "lbs_weights", "faces",
          "lmk_faces", "lmk_bary")


def open_model_path() -> Path:
    """The shipped asset inside the installed package."""
    return Path(str(resources.files("emotag_cli") / "assets" / ASSET))


def load_open_model(path: str | Path | None = None) -> HeadModel:
    """The open head model (float32, CPU) from ``path`` or the shipped asset."""
    path = Path(path) if path is not None else open_model_path()
    if not path.is_file():
        raise EmotagError(f"open head model not found: {path} (rebuild it with scripts/build_open_head_model.py)")
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in (*ARRAYS, "provenance") if k not in z.files]
        if missing:
            raise EmotagError(f"{path}: not an open head model (missing {', '.join(missing)})")
        # float16 bases in the asset are widened here: every consumer works in float32.
        arrays = {k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype == np.float16 else z[k].copy())
                  for k in ARRAYS}
        provenance = json.loads(str(z["provenance"]))
        part = z["vertex_part"].copy() if "vertex_part" in z.files else None
    n_v = arrays["v_template"].shape[0]
    n_pose = (arrays["parents"].shape[0] - 1) * 9
    model = HeadModel(
        id="open",
        posedirs=torch.zeros(n_pose, n_v * 3),
        meta={
            "source": str(path),
            "landmark_indices": list(range(int(arrays["lmk_faces"].shape[0]))),
            "landmark_scheme": "mediapipe",
            "vertex_part": part,
            "parts": provenance.get("parts"),
            "provenance": provenance,
        },
        **arrays,
    )
    try:
        model.validate()
    except ValueError as exc:
        raise EmotagError(f"{path}: {exc}") from None
    return model


def status() -> list[BackendStatus]:
    """``emotag doctor`` line for the shipped open model."""
    path = open_model_path()
    if path.is_file():
        return [BackendStatus("head/open", True, str(path))]
    return [BackendStatus("head/open", False, str(path), "reinstall emotag, or rebuild the asset with "
                          "scripts/build_open_head_model.py SCENE...")]
