"""Tracked head-model parameters: the arrays of ``params.npz`` and their checks.

Per clip of N frames (float32):

    shape        [S]      identity coefficients (S = the head model's shape components)
    expr         [N, 50]  expression coefficients
    rotation     [N, 3]   global head rotation, axis-angle (radians), about the model's root joint
    neck         [N, 3]   neck rotation (0 from emotag's landmark tracker; VHAP imports keep theirs)
    jaw          [N, 3]   jaw rotation; x > 0 opens the mouth
    eyes         [N, 6]   left then right eyeball rotation
    translation  [N, 3]   metres, added after skinning, in the world frame of camera.json

Optional: ``static_offset [V, 3]`` (metres, per-vertex offsets of an imported VHAP track).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import EmotagError
from ..head.lbs import HeadPose

PER_FRAME = {"expr": 50, "rotation": 3, "neck": 3, "jaw": 3, "eyes": 6, "translation": 3}
KEYS = ("shape", *PER_FRAME)


def check_params(params: dict[str, np.ndarray], n_frames: int | None = None, where: str = "params") -> int:
    """Raise EmotagError unless ``params`` has every array with consistent shapes; returns N."""
    missing = [k for k in KEYS if k not in params]
    if missing:
        raise EmotagError(f"{where}: missing {', '.join(missing)}")
    if params["shape"].ndim != 1:
        raise EmotagError(f"{where}: shape has shape {params['shape'].shape}, expected [S]")
    n = params["expr"].shape[0] if n_frames is None else n_frames
    for key, width in PER_FRAME.items():
        if params[key].shape != (n, width):
            raise EmotagError(f"{where}: {key} has shape {params[key].shape}, expected ({n}, {width})")
        if not np.isfinite(params[key]).all():
            raise EmotagError(f"{where}: {key} has non-finite values")
    return n


def save_params(path: Path, params: dict[str, np.ndarray]) -> None:
    check_params(params)
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    np.savez(path, **arrays)


def load_params(path: Path, n_frames: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of a params.npz (plain arrays only: no pickles), checked."""
    try:
        with np.load(path, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise EmotagError(f"cannot read {path}: {exc}") from None
    check_params(params, n_frames, where=str(path))
    return params


def head_pose(params: dict[str, np.ndarray], frames: np.ndarray | slice | None = None) -> HeadPose:
    """A HeadPose (torch float32) of the selected frames (all by default), shape broadcast per frame."""
    sel = slice(None) if frames is None else frames

    def t(key: str) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(params[key][sel]), dtype=torch.float32)

    rotation = t("rotation")
    shape = torch.as_tensor(params["shape"], dtype=torch.float32).expand(rotation.shape[0], -1)
    return HeadPose(shape=shape, expr=t("expr"), rotation=rotation, neck=t("neck"), jaw=t("jaw"),
                    eyes=t("eyes"), translation=t("translation"))
