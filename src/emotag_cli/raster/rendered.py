"""The result of ``rasterize``, the same for either rasterizer."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor


class Rendered(NamedTuple):
    """Images of C cameras, H×W pixels.

    colors: [C, H, W, D] composited colour (or feature) channels, background included.
    alphas: [C, H, W, 1] accumulated opacity, 1 - final transmittance.
    depths: [C, H, W, 1] expected camera-space depth sum(w_i z_i) / alpha (gsplat's "ED");
        0 where alpha is 0.
    normals: [C, H, W, 3] alpha-composited camera-space normals (not divided by alpha, no
        background), or None unless requested.
    meta: intermediate results in gsplat's ``packed=False`` layout (see ``rasterize``).
    """

    colors: Tensor
    alphas: Tensor
    depths: Tensor
    normals: Tensor | None
    meta: dict[str, Any]
