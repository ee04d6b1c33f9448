"""The FLAME-format articulated head model every stage sees.

A model is a set of tensors in FLAME's layout (float32 unless noted; V vertices, F triangles,
J = 5 joints, S shape and E expression components, L landmarks):

    v_template   [V, 3]        rest-pose mean head, metres
    shapedirs    [V, 3, S]     identity basis (metres per unit coefficient)
    exprdirs     [V, 3, E]     expression basis; motion uses the first 50 components
    posedirs     [(J-1)*9, V*3] pose-corrective offsets, linear in (R_j - I) of joints 1..J-1
    J_regressor  [J, V]        joint locations as vertex averages of the shaped mesh
    parents      [J] int64     kinematic tree, parents[0] = -1
    lbs_weights  [V, J]        skinning weights, rows sum to 1
    faces        [F, 3] int64  triangles (counter-clockwise seen from outside)
    lmk_faces    [L] int64     landmark embedding: triangle of each landmark
    lmk_bary     [L, 3]        barycentric coordinates of each landmark in its triangle

The joints are, in order, JOINTS: global (root), neck, jaw, left eye, right eye — FLAME's.
Coordinates: metres, x to the subject's left, y up, z forward out of the face (FLAME's frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

JOINTS = ("global", "neck", "jaw", "eye_left", "eye_right")
N_EXPR_MOTION = 50


@dataclass
class HeadModel:
    id: str
    v_template: torch.Tensor
    shapedirs: torch.Tensor
    exprdirs: torch.Tensor
    posedirs: torch.Tensor
    J_regressor: torch.Tensor
    parents: torch.Tensor
    lbs_weights: torch.Tensor
    faces: torch.Tensor
    lmk_faces: torch.Tensor
    lmk_bary: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_shape(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def n_expr(self) -> int:
        return int(self.exprdirs.shape[2])

    @property
    def n_landmarks(self) -> int:
        return int(self.lmk_faces.shape[0])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> HeadModel:
        """A copy on another device / float dtype (integer tensors keep their dtype)."""

        def move(t: torch.Tensor) -> torch.Tensor:
            if t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return HeadModel(self.id, *(move(getattr(self, n)) for n in _TENSORS), meta=dict(self.meta))

    def validate(self) -> None:
        """Check the shapes agree with each other (raises ValueError naming the first mismatch)."""
        v, j = self.n_vertices, int(self.parents.shape[0])
        checks = {
            "v_template": (self.v_template.shape, (v, 3)),
            "shapedirs": (self.shapedirs.shape[:2], (v, 3)),
            "exprdirs": (self.exprdirs.shape[:2], (v, 3)),
            "posedirs": (self.posedirs.shape, ((j - 1) * 9, v * 3)),
            "J_regressor": (self.J_regressor.shape, (j, v)),
            "lbs_weights": (self.lbs_weights.shape, (v, j)),
            "lmk_bary": (self.lmk_bary.shape, (self.n_landmarks, 3)),
        }
        for name, (got, want) in checks.items():
            if tuple(got) != tuple(want):
                raise ValueError(f"{self.id}: {name} has shape {tuple(got)}, expected {tuple(want)}")
        if j != len(JOINTS):
            raise ValueError(f"{self.id}: {j} joints, expected {len(JOINTS)} ({', '.join(JOINTS)})")
        if int(self.faces.max()) >= v or int(self.lmk_faces.max()) >= self.faces.shape[0]:
            raise ValueError(f"{self.id}: face or landmark indices out of range")


_TENSORS = ("v_template", "shapedirs", "exprdirs", "posedirs", "J_regressor", "parents", "lbs_weights",
            "faces", "lmk_faces", "lmk_bary")
