"""The head model's landmarks as a direct function of its parameters: exact, and cheap to evaluate.

The tracker evaluates the model hundreds of times for every frame of a clip, but only its L
landmarks enter the loss. Skinning is linear in the rest-pose vertices, so a landmark (a
barycentric point of three vertices k with weights b_k) is

    x = Σ_j  R_j · a_j  +  c_j · t_j,       a_j = Σ_k b_k w_kj v_k,   c_j = Σ_k b_k w_kj,

with (R_j, t_j) the posed transform of joint j and v_k the shaped, pose-corrected rest vertex —
linear in shape, expression and pose features. Keeping only the (landmark, joint) pairs with
c_j > 0, the whole evaluation is one small matrix product and a handful of [B, P, 3] operations,
instead of skinning every vertex (FLAME: 5023; the open model: 478 + the rest of the head). The
result equals ``landmarks_from_vertices(model, flame_forward(model, pose))`` to float precision.
"""

from __future__ import annotations

import torch

from ..head.lbs import axis_angle_to_matrix
from ..head.model import HeadModel


class LandmarkModel:
    """Landmarks [B, L, 3] (metres, world frame) of a HeadModel, from its parameters."""

    def __init__(self, model: HeadModel, n_shape: int | None = None, n_expr: int = 50,
                 dtype: torch.dtype = torch.float32):
        self.id = model.id
        self.parents = model.parents.tolist()
        n_shape = model.n_shape if n_shape is None else min(n_shape, model.n_shape)
        n_expr = min(n_expr, model.n_expr)
        self.n_shape, self.n_expr = n_shape, n_expr
        self.n_landmarks = model.n_landmarks
        n_joints = len(self.parents)
        dt = torch.float64

        tri = model.faces[model.lmk_faces]                                    # [L, 3]
        bary = model.lmk_bary.to(dt)                                          # [L, 3]
        w = model.lbs_weights.to(dt)[tri]                                     # [L, 3, J]
        weight = torch.einsum("lk,lkj->lkj", bary, w)                         # b_k w_kj
        c = weight.sum(1)                                                     # [L, J]
        lmk, joint = torch.nonzero(c > 1e-8, as_tuple=True)                   # the P pairs
        order = torch.argsort(joint, stable=True)                             # grouped by joint
        lmk, joint = lmk[order], joint[order]
        self.pair_landmark, self.pair_joint = lmk, joint
        counts = torch.bincount(joint, minlength=n_joints).tolist()
        self.joint_slices = [(j, sum(counts[:j]), sum(counts[:j + 1])) for j in range(n_joints) if counts[j]]
        # ancestry[j]: j and the joints above it (a rotation of any of them moves j's points).
        self.ancestry = []
        for j in range(n_joints):
            chain, k = set(), j
            while k >= 0:
                chain.add(k)
                k = self.parents[k]
            self.ancestry.append(chain)
        self.pair_c = c[lmk, joint].to(dtype)                                   # [P]
        pw = weight[lmk, :, joint]                                            # [P, 3] over the 3 vertices
        pv = tri[lmk]                                                         # [P, 3] vertex ids

        def pairs(per_vertex: torch.Tensor) -> torch.Tensor:
            """[V, 3, K] → [K, P*3]: each pair's weighted sum of its triangle's vertices."""
            x = torch.einsum("pk,pkcq->qpc", pw, per_vertex.to(dt)[pv])
            return x.reshape(x.shape[0], -1)

        n_pose = (n_joints - 1) * 9
        posedirs = model.posedirs.reshape(n_pose, -1, 3).permute(1, 2, 0)  # [V, 3, 9(J-1)]
        self.template = pairs(model.v_template[..., None])[0].to(dtype)          # [P*3]
        self.shape_basis = pairs(model.shapedirs[:, :, :n_shape]).to(dtype)      # [S, P*3]
        # Expression and pose correctives vary per frame: one matrix, one product.
        self.frame_basis = torch.cat([pairs(model.exprdirs[:, :, :n_expr]), pairs(posedirs)]).to(dtype)
        self.has_posedirs = bool(model.posedirs.abs().max() > 0)

        jr = model.J_regressor.to(dt)
        self.joint_template = (jr @ model.v_template.to(dt)).to(dtype)                         # [J, 3]
        self.joint_shape = torch.einsum("jv,vck->kjc", jr, model.shapedirs[:, :, :n_shape].to(dt)).to(dtype)
        self.joint_expr = torch.einsum("jv,vck->kjc", jr, model.exprdirs[:, :, :n_expr].to(dt)).to(dtype)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_landmark.shape[0])

    def rest_joints(self, shape: torch.Tensor, expr: torch.Tensor) -> torch.Tensor:
        """Joint rest positions [B, J, 3] for shape [S'] or [B, S'] and expr [B, E']."""
        j = self.joint_template + torch.einsum("...k,kjc->...jc", shape, self.joint_shape[: shape.shape[-1]])
        return j + torch.einsum("bk,kjc->bjc", expr, self.joint_expr[: expr.shape[-1]])

    def _posed(self, shape, expr, rotation, neck, jaw, eyes):
        """Intermediates of the evaluation: rotations [B, J, 3, 3], world joint rotations g_r and
        positions world_t, skinning offsets g_t, rest joints, and the pair points x [B, P, 3]
        (without translation)."""
        b = rotation.shape[0]
        aa = torch.stack([rotation, neck, jaw, eyes[:, :3], eyes[:, 3:]], 1)
        rot = axis_angle_to_matrix(aa)                                        # [B, J, 3, 3]
        eye = torch.eye(3, dtype=rot.dtype)
        pose_feature = (rot[:, 1:] - eye).reshape(b, -1)                      # [B, 9(J-1)]

        s, e = shape.shape[-1], expr.shape[-1]
        a = self.template + shape @ self.shape_basis[:s]                       # [P*3] or [B, P*3]
        frame_coeffs = torch.cat([expr, pose_feature], 1)
        a = (a + frame_coeffs @ self._frame_basis(e)).reshape(b, -1, 3)       # [B, P, 3]

        joints = self.rest_joints(shape, expr)                                # [B, J, 3]
        world_r, world_t = [rot[:, 0]], [joints[:, 0]]
        for j in range(1, len(self.parents)):
            p = self.parents[j]
            world_r.append(world_r[p] @ rot[:, j])
            world_t.append(world_t[p] + (world_r[p] @ (joints[:, j] - joints[:, p])[..., None])[..., 0])
        g_r = torch.stack(world_r, 1)                                         # [B, J, 3, 3]
        world_t = torch.stack(world_t, 1)                                     # [B, J, 3]
        g_t = world_t - (g_r @ joints[..., None])[..., 0]

        x = torch.cat([a[:, lo:hi] @ g_r[:, j].transpose(1, 2) + self.pair_c[lo:hi, None] * g_t[:, None, j]
                       for j, lo, hi in self.joint_slices], 1)                # [B, P, 3]
        return rot, g_r, world_t, x

    def _frame_basis(self, e: int) -> torch.Tensor:
        if e == self.n_expr:
            return self.frame_basis
        return torch.cat([self.frame_basis[:e], self.frame_basis[self.n_expr:]])

    def _to_landmarks(self, pairs: torch.Tensor) -> torch.Tensor:
        """Sum per-pair values [B, P, ...] into landmarks [B, L, ...]."""
        out = pairs.new_zeros(pairs.shape[0], self.n_landmarks, *pairs.shape[2:])
        return out.index_add(1, self.pair_landmark, pairs)

    def __call__(self, shape: torch.Tensor, expr: torch.Tensor, rotation: torch.Tensor, neck: torch.Tensor,
                 jaw: torch.Tensor, eyes: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
        """Landmarks [B, L, 3]. shape [S'] (shared) or [B, S']; expr [B, E']; poses axis-angle [B, 3]
        (eyes [B, 6], left then right); translation [B, 3] metres. Components beyond S', E' count as 0.
        """
        x = self._posed(shape, expr, rotation, neck, jaw, eyes)[-1]
        return self._to_landmarks(x) + translation[:, None]

    def jacobian(self, shape: torch.Tensor, expr: torch.Tensor, rotation: torch.Tensor, neck: torch.Tensor,
                 jaw: torch.Tensor, eyes: torch.Tensor, translation: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Landmarks [B, L, 3] and their exact derivatives (float32, no autograd):

        frame [B, L, 3, 18 + E'] with respect to the per-frame parameters in the order of
        FRAME_COLUMNS (rotation, neck, translation, jaw, eyes, expr); shape [B, L, 3, S'] with
        respect to the shared shape [S'].

        A rotation ω_k of joint k turns everything skinned below k about the posed joint o_k:
        dx/dω_k = (G_parent J_l(ω_k) e_i) × (x − c o_k) per pair, J_l the left Jacobian of SO(3),
        plus the pose correctives' change. Shape and expression move the rest vertices and, through
        the joint regressor, the joints; both enter linearly for fixed rotations.
        """
        b = rotation.shape[0]
        s, e = shape.shape[-1], expr.shape[-1]
        with torch.no_grad():
            rot, g_r, world_t, x = self._posed(shape, expr, rotation, neck, jaw, eyes)
            n_pairs = x.shape[1]
            frame = x.new_zeros(b, n_pairs, 3, N_POSE_COLUMNS + e)
            eye3 = torch.eye(3, dtype=x.dtype)
            joints = ((0, 0, rotation), (3, 1, neck), (9, 2, jaw), (12, 3, eyes[:, :3]), (15, 4, eyes[:, 3:]))
            for col, k, aa in joints:
                jl = left_jacobian(aa)                                        # [B, 3, 3]
                q = jl if self.parents[k] < 0 else g_r[:, self.parents[k]] @ jl
                for j, lo, hi in self.joint_slices:
                    if k in self.ancestry[j]:
                        w = x[:, lo:hi] - self.pair_c[lo:hi, None] * world_t[:, None, k]
                        d = torch.cross(q.transpose(1, 2)[:, None], w[:, :, None].expand(-1, -1, 3, -1), dim=-1)
                        frame[:, lo:hi, :, col:col + 3] += d.transpose(2, 3)
                if k > 0 and self.has_posedirs:
                    # d vec(R_k)/dω_i = vec([J_l e_i]× R_k); the correctives move every pair's rest point.
                    skew_cols = _skew(jl.transpose(1, 2))                     # [B, 3(i), 3, 3]
                    d_rot = (skew_cols @ rot[:, k, None]).reshape(b, 3, 9)    # [B, 3(i), 9]
                    rows = self.n_expr + 9 * (k - 1)
                    da = (d_rot @ self.frame_basis[rows:rows + 9]).reshape(b, 3, n_pairs, 3)
                    for j, lo, hi in self.joint_slices:
                        frame[:, lo:hi, :, col:col + 3] += torch.einsum("bxy,bipy->bpxi", g_r[:, j], da[:, :, lo:hi])
            frame[:, :, :, 6:9] = eye3 * self.pair_c[None, :, None, None]  # translation: Σ c = 1 per landmark
            d_joints = self._joint_offsets_jacobian(g_r)                      # [B, J, 3, J, 3]
            frame[..., N_POSE_COLUMNS:] = self._linear_part(g_r, d_joints, self.frame_basis[:e], self.joint_expr[:e])
            shape_j = self._linear_part(g_r, d_joints, self.shape_basis[:s], self.joint_shape[:s])
            landmarks = self._to_landmarks(x) + translation[:, None]
            return landmarks, self._to_landmarks(frame), self._to_landmarks(shape_j)

    def _joint_offsets_jacobian(self, g_r: torch.Tensor) -> torch.Tensor:
        """d g_t[j] / d J_rest[i] as [B, J, 3, J, 3] for fixed rotations (g_t is linear in the joints)."""
        b, n_joints = g_r.shape[0], g_r.shape[1]
        eye = torch.eye(3, dtype=g_r.dtype).expand(b, 3, 3)
        zero = torch.zeros_like(eye)
        w = [[eye if i == 0 else zero for i in range(n_joints)]]            # d world_t[0] / d J[i]
        for j in range(1, n_joints):
            p = self.parents[j]
            w.append([w[p][i] + g_r[:, p] * ((i == j) - (i == p)) for i in range(n_joints)])
        d = [[w[j][i] - (g_r[:, j] if i == j else 0) for i in range(n_joints)] for j in range(n_joints)]
        return torch.stack([torch.stack(row, 2) for row in d], 1)            # [B, J, 3, J, 3]

    def _linear_part(self, g_r: torch.Tensor, d_joints: torch.Tensor, basis: torch.Tensor,
                     joint_basis: torch.Tensor) -> torch.Tensor:
        """d x_pairs / d coefficients [B, P, 3, K] of a basis [K, P*3] moving rest points and joints
        (joint_basis [K, J, 3])."""
        k = basis.shape[0]
        b = g_r.shape[0]
        if k == 0:
            return g_r.new_zeros(b, self.n_pairs, 3, 0)
        per_pair = basis.reshape(k, -1, 3)                                    # [K, P, 3]
        moved_joints = torch.einsum("bjxiy,kiy->bjxk", d_joints, joint_basis)  # [B, J, 3, K]
        out = g_r.new_zeros(b, per_pair.shape[1], 3, k)
        for j, lo, hi in self.joint_slices:
            out[:, lo:hi] = torch.einsum("bxy,kpy->bpxk", g_r[:, j], per_pair[:, lo:hi])
            out[:, lo:hi] += self.pair_c[lo:hi, None, None] * moved_joints[:, None, j]
        return out


FRAME_COLUMNS = {"rotation": slice(0, 3), "neck": slice(3, 6), "translation": slice(6, 9), "jaw": slice(9, 12),
                 "eyes": slice(12, 18), "expr": slice(18, None)}
N_POSE_COLUMNS = 18


def _skew(v: torch.Tensor) -> torch.Tensor:
    """[..., 3] → [..., 3, 3] cross-product matrices."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*v.shape, 3)


def left_jacobian(aa: torch.Tensor) -> torch.Tensor:
    """[B, 3] axis-angle → [B, 3, 3] left Jacobian of SO(3): Exp(ω + δ) ≈ Exp(J_l(ω) δ) Exp(ω)."""
    theta2 = (aa * aa).sum(-1)[:, None, None]
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-6
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    c = torch.where(small, 1 / 6 - theta2 / 120, (theta - torch.sin(theta)) / (theta2 * theta).clamp_min(1e-18))
    k = _skew(aa)
    return torch.eye(3, dtype=aa.dtype) + b * k + c * (k @ k)
