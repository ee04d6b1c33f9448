"""Evaluating a HeadModel: shape and expression blendshapes, pose correctives, linear blend skinning.

Functional core on raw tensors, batched over frames (B). Rotations are axis-angle vectors
(radians); ``eyes`` holds the left then the right eye's axis-angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import HeadModel


@dataclass
class HeadPose:
    """Per-frame parameters (B frames). Missing shape/expr components count as zero.

    shape [B, S'] (S' <= S), expr [B, E'] (E' <= E), rotation [B, 3], neck [B, 3], jaw [B, 3],
    eyes [B, 6], translation [B, 3] (metres).
    """

    shape: torch.Tensor
    expr: torch.Tensor
    rotation: torch.Tensor
    neck: torch.Tensor
    jaw: torch.Tensor
    eyes: torch.Tensor
    translation: torch.Tensor

    @staticmethod
    def zeros(batch: int, n_shape: int, n_expr: int = 50, device=None, dtype=torch.float32) -> HeadPose:
        def z(k: int) -> torch.Tensor:
            return torch.zeros(batch, k, device=device, dtype=dtype)

        return HeadPose(z(n_shape), z(n_expr), z(3), z(3), z(3), z(6), z(3))


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """[..., 3] axis-angle → [..., 3, 3] rotation (Rodrigues), smooth at zero angle."""
    theta2 = (aa * aa).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    # sin(t)/t and (1-cos t)/t^2 with Taylor series near 0, so gradients stay finite at rest.
    small = theta2 < 1e-6
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def blend(base: torch.Tensor, dirs: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """base [V, 3] + dirs[:, :, :K] · coeffs [B, K] → [B, V, 3]."""
    k = coeffs.shape[1]
    if k == 0:
        return base.expand(coeffs.shape[0], -1, -1)
    return base + torch.einsum("vck,bk->bvc", dirs[:, :, :k], coeffs)


def flame_forward(model: HeadModel, pose: HeadPose, return_joints: bool = False):
    """Posed vertices [B, V, 3] in metres (and joints [B, J, 3] when ``return_joints``).

    1. v_shaped = v_template + shapedirs·shape + exprdirs·expr
    2. joints J = J_regressor · v_shaped
    3. v_posed = v_shaped + posedirs · (R_j − I) for j ≥ 1
    4. v = Σ_j w_vj G_j (v_posed − J_j^rest) + translation, G_j the world transform of joint j
    """
    b = pose.rotation.shape[0]
    v = blend(model.v_template, model.shapedirs, pose.shape)
    v = v + (blend(torch.zeros_like(model.v_template), model.exprdirs, pose.expr))
    joints = torch.einsum("jv,bvc->bjc", model.J_regressor, v)                          # [B, J, 3]

    aa = torch.stack([pose.rotation, pose.neck, pose.jaw, pose.eyes[:, :3], pose.eyes[:, 3:]], 1)
    rot = axis_angle_to_matrix(aa)                                                      # [B, J, 3, 3]
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
    pose_feature = (rot[:, 1:] - eye).reshape(b, -1)                                    # [B, (J-1)*9]
    v = v + (pose_feature @ model.posedirs).reshape(b, -1, 3)

    parents = model.parents.tolist()
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    world_r, world_t = [rot[:, 0]], [rel[:, 0]]
    for j in range(1, len(parents)):
        p = parents[j]
        world_r.append(world_r[p] @ rot[:, j])
        world_t.append(world_t[p] + (world_r[p] @ rel[:, j, :, None])[..., 0])
    g_r = torch.stack(world_r, 1)                                                       # [B, J, 3, 3]
    g_t = torch.stack(world_t, 1)                                                       # [B, J, 3]
    # Transform relative to the rest pose: x ↦ G_r (x − J_rest) + G_t.
    g_t = g_t - (g_r @ joints[..., None])[..., 0]
    w = model.lbs_weights
    t_r = torch.einsum("vj,bjxy->bvxy", w, g_r)                                         # [B, V, 3, 3]
    t_t = torch.einsum("vj,bjx->bvx", w, g_t)                                           # [B, V, 3]
    verts = (t_r @ v[..., None])[..., 0] + t_t + pose.translation[:, None]
    if return_joints:
        posed_joints = torch.stack(world_t, 1) + pose.translation[:, None]
        return verts, posed_joints
    return verts


def landmarks_from_vertices(model: HeadModel, verts: torch.Tensor) -> torch.Tensor:
    """[B, V, 3] → [B, L, 3] through the barycentric landmark embedding."""
    tri = model.faces[model.lmk_faces]                                                  # [L, 3]
    return torch.einsum("blkc,lk->blc", verts[:, tri], model.lmk_bary)


def landmark_expression_basis(model: HeadModel, rows: list[int], n_expr: int) -> torch.Tensor:
    """[K, 3, n_expr] float64: how far the model's landmarks ``rows`` move per unit of each of the
    first ``n_expr`` expression coefficients, rest pose (the expression basis through the
    barycentric embedding; metres)."""
    rows_t = torch.as_tensor(rows, dtype=torch.long)
    tri = model.faces[model.lmk_faces[rows_t]].long()                                  # [K, 3]
    dirs = model.exprdirs[..., :n_expr].double()                                        # [V, 3, E]
    return torch.einsum("kj,kjce->kce", model.lmk_bary[rows_t].double(), dirs[tri])
