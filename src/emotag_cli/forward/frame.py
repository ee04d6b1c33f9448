"""Frame t of an avatar: head-model parameters → posed mesh → posed Gaussians → rendered frame.

The one place the forward model is assembled, for training (train/motion_step.py), rendering
(synthesis/render.py) and evaluation (evaluation/avatar_metrics.py) alike:

    pose (shape, expression, jaw, rotation, neck, eyes, translation)
      → head model (LBS) + the track's static offset (VHAP imports)           posed mesh [V, 3], metres
      → Gaussians bound to its triangles (+ the mouth refinement's deltas on the mouth-region
        Gaussians, read in the head-fixed frame)                              posed Gaussians
      → rasterized at the camera (K, w2c)                                     Rendered

The static offset is a per-vertex displacement [V, 3] that a VHAP track adds to every frame's
mesh; the Gaussians were trained on the offset mesh, so every render must add it too (the avatar
stores it: ``Avatar.static_offset``). The mouth refinement reads the mesh *without* it: positions
in the head-fixed frame around the mouth region's centre (forward/mouth_region.py), as in training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..gaussians.binding import deform, triangle_frames
from ..gaussians.params import GaussianParams
from ..gaussians.render import render_on_mesh
from ..head.lbs import HeadPose, axis_angle_to_matrix, flame_forward
from ..head.model import HeadModel
from ..motion.mouth import MouthDeltas, MouthRefinement
from ..raster import Rendered
from .mouth_region import MouthRegion


def with_motion(pose: HeadPose, expr: Tensor, jaw: Tensor) -> HeadPose:
    """``pose`` with its expression and jaw replaced (shapes [B, n_expr], [B, 3])."""
    return HeadPose(pose.shape, expr, pose.rotation, pose.neck, jaw, pose.eyes, pose.translation)


def posed_vertices(model: HeadModel, pose: HeadPose, static_offset: Tensor | None = None) -> Tensor:
    """[B, V, 3] world vertices (metres), plus an imported track's static offset."""
    verts = flame_forward(model, pose)
    return verts if static_offset is None else verts + static_offset


def head_vertices(model: HeadModel, pose: HeadPose) -> Tensor:
    """[B, V, 3] the mesh in the head-fixed frame: expression, jaw and eyes applied, no global
    rotation, neck or translation."""
    zero = torch.zeros_like(pose.rotation)
    return flame_forward(model, HeadPose(pose.shape, pose.expr, zero, zero, pose.jaw, pose.eyes, zero))


def head_rotation(pose: HeadPose) -> Tensor:
    """[B, 3, 3] head frame → world rotation (global rotation, then the neck)."""
    return axis_angle_to_matrix(pose.rotation) @ axis_angle_to_matrix(pose.neck)


def mouth_positions(gs: GaussianParams, region: MouthRegion, head_verts: Tensor, faces: Tensor,
                    idx: Tensor) -> Tensor:
    """[B, M, 3] centres of the mouth Gaussians ``idx`` [M] on ``head_verts`` [B, V, 3], relative
    to the region's centre (metres). Detached: the refinement reads where the mouth is; it does not
    move the mouth through its hash-grid encoding."""
    frames = triangle_frames(head_verts.detach(), faces)
    quats = gs.params["quats"][idx]
    means, _, _ = deform(frames, gs.binding[idx], gs.params["means"][idx], quats, gs.local_scales()[idx])
    return means.detach() - region.centre.to(means)


def mouth_refiner(deltas: MouthDeltas, idx: Tensor, frame: Tensor
                  ) -> Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]:
    """The ``render_on_mesh`` hook that applies batch-0 ``deltas`` [1, M, ·] to Gaussians ``idx``;
    ``frame`` [1, 3, 3] rotates the head-frame offsets into the world."""

    def apply(means: Tensor, quats: Tensor, scales: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        m, q, s = deltas.apply(means[idx][None], quats[idx][None], scales[idx][None], frame)
        return (means.index_put((idx,), m[0]), quats.index_put((idx,), q[0]), scales.index_put((idx,), s[0]))

    return apply


def render_driven(gs: GaussianParams, model: HeadModel, pose: HeadPose, K: Tensor, w2c: Tensor, size: int,
                  mouth: tuple[MouthDeltas, Tensor] | None = None, static_offset: Tensor | None = None,
                  normals: bool = False) -> tuple[Rendered, Tensor]:
    """Render one frame of mesh-bound Gaussians on the head model in ``pose`` (batch 1).

    mouth: (deltas [1, M, ·], Gaussian indices [M]) from the refinement, or None.
    Returns (Rendered, world scales [N, 3]) as ``render_on_mesh``.
    """
    verts = posed_vertices(model, pose, static_offset)[0]
    hook = None if mouth is None else mouth_refiner(mouth[0], mouth[1], head_rotation(pose))
    return render_on_mesh(gs, verts, model.faces, K, w2c, size, normals=normals, mouth_deltas=hook)


@dataclass
class ForwardModel:
    """An identity's head model, Gaussians, mouth region, mouth refinement and static offset: the
    posed Gaussians and the rendered frame of any pose.

    model: the head model; gaussians: bound to its triangles; mouth: the mouth region on this
    identity's canonical mesh; refinement: the motion network's mouth refinement (None: none);
    static_offset: [V, 3] metres (a VHAP track's) or None.
    """

    model: HeadModel
    gaussians: GaussianParams
    mouth: MouthRegion
    refinement: MouthRefinement | None = None
    static_offset: Tensor | None = None
    mouth_gaussians: Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.mouth_gaussians = self.mouth.gaussians(self.gaussians.binding)

    def vertices(self, pose: HeadPose) -> Tensor:
        """[B, V, 3] the posed mesh (world, metres), static offset included."""
        offset = None if self.static_offset is None else self.static_offset.to(pose.expr)
        return posed_vertices(self.model, pose, offset)

    def mouth_positions(self, pose: HeadPose) -> Tensor:
        """[B, M, 3] the refinement's input: the mouth Gaussians in the head-fixed frame (detached)."""
        return mouth_positions(self.gaussians, self.mouth, head_vertices(self.model, pose), self.model.faces,
                               self.mouth_gaussians)

    def mouth_deltas(self, pose: HeadPose, audio_feature: Tensor, weight: float = 1.0
                     ) -> tuple[MouthDeltas, Tensor] | None:
        """(deltas [1, M, ·], Gaussian indices [M]) of the refinement for ``pose`` and the frame's
        audio feature [1, C], or None without a refinement or mouth Gaussians."""
        if self.refinement is None or not len(self.mouth_gaussians):
            return None
        return self.refinement(self.mouth_positions(pose), audio_feature, weight), self.mouth_gaussians

    def render(self, pose: HeadPose, K: Tensor, w2c: Tensor, size: int,
               mouth: tuple[MouthDeltas, Tensor] | None = None, normals: bool = False) -> tuple[Rendered, Tensor]:
        """The Gaussians on the mesh of ``pose`` (batch 1) with the given mouth deltas, rendered at
        ``size`` px with intrinsics K [3, 3] and world-to-camera w2c [4, 4]; (Rendered, world scales [N, 3])."""
        offset = None if self.static_offset is None else self.static_offset.to(K)
        return render_driven(self.gaussians, self.model, pose, K, w2c, size, mouth, offset, normals=normals)

    def frame(self, pose: HeadPose, audio_feature: Tensor | None, K: Tensor, w2c: Tensor, size: int) -> Rendered:
        """Inference: the refinement (when ``audio_feature`` [1, C] is given) and the render of ``pose``."""
        mouth = None if audio_feature is None else self.mouth_deltas(pose, audio_feature)
        return self.render(pose, K, w2c, size, mouth)[0]
