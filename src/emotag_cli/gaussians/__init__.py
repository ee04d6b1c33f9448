"""3D Gaussians bound to the triangles of a head mesh (GaussianAvatars-style rigging)."""

from .binding import TriangleFrames, deform, local_from_world, triangle_frames
from .init import init_on_mesh, sample_on_mesh
from .params import GaussianParams

__all__ = ["GaussianParams", "TriangleFrames", "deform", "init_on_mesh", "local_from_world",
           "sample_on_mesh", "triangle_frames"]
