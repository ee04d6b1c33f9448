"""Gaussian-splatting rasterizers behind one API: gsplat on CUDA, pure PyTorch elsewhere.

See ``docs/reference/rasterizer.md`` for the conventions and the math.
"""

from .api import rasterize
from .rendered import Rendered

__all__ = ["Rendered", "rasterize"]
