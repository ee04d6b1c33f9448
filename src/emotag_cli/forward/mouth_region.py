"""The mouth region: which Gaussians get the intra-oral refinement, and the frame it works in.

Selection (docs/reference/motion-network.md, adapted to any head model with a MediaPipe-indexed landmark embedding):

1. the model's lip landmarks — those whose MediaPipe index is one of the 40 points of MediaPipe's
   ``FACEMESH_LIPS`` connections (outer and inner lip contours; ``LIP_LANDMARKS``);
2. each lip landmark's nearest vertex (the corner of its embedding triangle with the largest
   barycentric weight; for the open model the landmark *is* vertex i);
3. those vertices and their 1-ring (every vertex sharing a triangle with one);
4. every triangle touching that set. A Gaussian belongs to the mouth when its parent triangle
   does, so densification (which copies the parent) keeps the selection without bookkeeping.

The official code also grows the region inwards into FLAME's mouth cavity; the open model has no
cavity (its lips bound a hole), so the 1-ring is all there is.

The refinement reads positions in a head-fixed frame: the mesh evaluated with the frame's
expression, jaw and eyes but no global rotation, neck or translation, minus ``centre``, the mean
of the lip vertices of the identity's canonical (unposed, neutral) mesh — metres, x to the
subject's left, y up, z out of the face. Its hash grids encode ±``MotionConfig.mouth_bound``
(0.15 m) around that origin: the open model's lip vertices lie within 2.5 cm of it at rest and a
fully opened jaw moves the chin region a few centimetres, so the box holds the whole mouth with
room to spare (tests/test_pretrain_adapt.py checks it on tracked clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..head.landmark_scheme import mediapipe_indices
from ..head.model import HeadModel

# The vertex set of MediaPipe FaceMesh's FACEMESH_LIPS connections (mediapipe.solutions.face_mesh);
# a test checks it against the installed package.
LIP_LANDMARKS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
                 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)


def lip_landmarks(model: HeadModel) -> tuple[np.ndarray, np.ndarray]:
    """(model landmark indices [K], their MediaPipe indices [K]) of the lip landmarks the model has."""
    mp = mediapipe_indices(model)
    keep = np.isin(mp, LIP_LANDMARKS)
    if not keep.any():
        raise ValueError(f"{model.id}: its landmark embedding has none of MediaPipe's lip points")
    return np.nonzero(keep)[0], mp[keep]


@dataclass
class MouthRegion:
    """faces [F] bool: the mouth triangles; lip_vertices [K] int64 (one per lip landmark);
    centre [3]: mean lip vertex of the canonical mesh, metres (the refinement's origin)."""

    faces: Tensor
    lip_vertices: Tensor
    centre: Tensor

    def gaussians(self, binding: Tensor) -> Tensor:
        """[M] indices of the Gaussians (parent triangles ``binding`` [N]) in the mouth region."""
        return torch.nonzero(self.faces.to(binding.device)[binding])[:, 0]

    def state_dict(self) -> dict[str, Tensor]:
        return {"faces": self.faces.cpu(), "lip_vertices": self.lip_vertices.cpu(), "centre": self.centre.cpu()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> MouthRegion:
        return cls(state["faces"].bool(), state["lip_vertices"].long(), state["centre"].float())


def select_mouth(model: HeadModel, canonical_vertices: Tensor) -> MouthRegion:
    """The mouth region of ``model`` for an identity whose canonical mesh is [V, 3]."""
    landmarks, _ = lip_landmarks(model)
    tri = model.faces[model.lmk_faces[torch.from_numpy(landmarks)]]                     # [K, 3]
    corner = model.lmk_bary[torch.from_numpy(landmarks)].argmax(-1)
    lip_vertices = tri.gather(1, corner[:, None])[:, 0]
    seed = torch.zeros(model.n_vertices, dtype=torch.bool)
    seed[lip_vertices] = True
    touching = seed[model.faces].any(-1)                                                 # faces at the lips
    ring = torch.zeros_like(seed)
    ring[model.faces[touching].flatten()] = True                                         # seed + 1-ring
    faces = ring[model.faces].any(-1)
    centre = canonical_vertices[lip_vertices].mean(0).detach().float()
    return MouthRegion(faces, lip_vertices.long(), centre)
