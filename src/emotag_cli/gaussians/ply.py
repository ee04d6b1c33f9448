"""Export to the standard 3DGS PLY layout, which common splat viewers open.

Binary little-endian vertex elements with properties x y z nx ny nz f_dc_0..2 f_rest_0.. opacity
scale_0..2 rot_0..3: positions in world units, opacity as a logit, scales as logs, rotations as
(w, x, y, z), SH rest coefficients channel-major (all of red, then green, then blue), as 3DGS
writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def write_ply(path: Path, means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, sh: Tensor) -> None:
    """means [N, 3]; quats [N, 4]; scales [N, 3] activated; opacities [N] in (0, 1); sh [N, K, 3]."""
    n = means.shape[0]
    means = means.detach().cpu().float().numpy()
    quats = torch.nn.functional.normalize(quats.detach().cpu().float(), dim=-1).numpy()
    log_scales = torch.log(scales.detach().cpu().float().clamp_min(1e-12)).numpy()
    op = opacities.detach().cpu().double().clamp(1e-6, 1 - 1e-6)
    logits = torch.log(op / (1 - op)).float().numpy()
    sh = sh.detach().cpu().float().numpy()
    dc = sh[:, 0, :]
    rest = sh[:, 1:, :].transpose(0, 2, 1).reshape(n, -1)                     # channel-major
    names = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
             + [f"f_rest_{i}" for i in range(rest.shape[1])]
             + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    data = np.concatenate([means, np.zeros_like(means), dc, rest, logits[:, None], log_scales, quats], 1)
    header = "ply\nformat binary_little_endian 1.0\n" f"element vertex {n}\n"
    header += "".join(f"property float {name}\n" for name in names) + "end_header\n"
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(data.astype("<f4").tobytes())


def read_ply(path: Path) -> dict[str, np.ndarray]:
    """The vertex properties of a float-only binary PLY written by ``write_ply`` (or 3DGS)."""
    raw = Path(path).read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    lines = raw[:end].decode("ascii").splitlines()
    if lines[1] != "format binary_little_endian 1.0":
        raise ValueError(f"{path}: only binary little-endian PLY is supported")
    n = next(int(line.split()[2]) for line in lines if line.startswith("element vertex"))
    names = [line.split()[2] for line in lines if line.startswith("property float")]
    data = np.frombuffer(raw[end:], dtype="<f4", count=n * len(names)).reshape(n, len(names))
    return {name: data[:, i] for i, name in enumerate(names)}
