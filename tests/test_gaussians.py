"""Mesh-bound Gaussians: frames, rigging, initialisation, densification, PLY export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from emotag_cli.gaussians import init_on_mesh, triangle_frames
from emotag_cli.gaussians.densify import BindingStrategy
from emotag_cli.gaussians.ply import read_ply, write_ply
from emotag_cli.gaussians.quat import matrix_to_quat, quat_multiply, quat_to_matrix
from emotag_cli.gaussians.regularizers import position_loss, scale_loss
from emotag_cli.raster import rasterize


def wavy_grid(n: int = 8, size: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """A bumpy square sheet facing +z: verts [(n+1)², 3], faces [2n², 3]."""
    xs = torch.linspace(-size / 2, size / 2, n + 1)
    y, x = torch.meshgrid(xs, xs, indexing="ij")
    z = 0.02 * torch.sin(x * 30) * torch.cos(y * 20)
    verts = torch.stack([x, y, z], -1).reshape(-1, 3)
    faces = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = i * (n + 1) + j, i * (n + 1) + j + 1, (i + 1) * (n + 1) + j, (i + 1) * (n + 1) + j + 1
            faces += [(a, b, d), (a, d, c)]
    return verts, torch.tensor(faces)


def test_triangle_frame_is_a_rotation_with_the_documented_scale():
    verts = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0.5, 3, 0]])
    f = triangle_frames(verts, torch.tensor([[0, 1, 2]]))
    r = f.rotation[0, 0]
    assert torch.allclose(r.T @ r, torch.eye(3), atol=1e-6) and torch.det(r) > 0
    assert torch.allclose(r[:, 0], torch.tensor([1.0, 0, 0]))                 # first edge
    assert torch.allclose(r[:, 1], torch.tensor([0, 0, 1.0]))                 # normal
    assert math.isclose(float(f.scale[0, 0]), (2 + 3) / 2, rel_tol=1e-6)     # mean of edge and height
    assert torch.allclose(f.centre[0, 0], verts.mean(0))
    assert torch.allclose(quat_to_matrix(f.quat[0, 0]), r, atol=1e-6)


def test_quaternion_conversions_round_trip():
    rots = Rotation.random(200, random_state=1)
    m = torch.tensor(rots.as_matrix(), dtype=torch.float64)
    q = matrix_to_quat(m)
    assert torch.allclose(quat_to_matrix(q), m, atol=1e-9)
    a, b = q[:100], q[100:]
    assert torch.allclose(quat_to_matrix(quat_multiply(a, b)), m[:100] @ m[100:], atol=1e-9)


def test_initial_gaussians_sit_on_their_triangles():
    verts, faces = wavy_grid()
    gs = init_on_mesh(verts, faces, 500, sh_degree=1)
    means, quats, scales = gs.world(triangle_frames(verts, faces))
    tri = verts[faces[gs.binding]]                                           # [N, 3, 3]
    # Barycentric coordinates of each centre in its parent triangle: inside, and on the plane.
    e1, e2, p = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], means[0] - tri[:, 0]
    normal = torch.linalg.cross(e1, e2)
    assert (p * normal).sum(-1).abs().max() / normal.norm(dim=-1).min() < 1e-5
    gram = torch.stack([torch.stack([(e1 * e1).sum(-1), (e1 * e2).sum(-1)], -1),
                        torch.stack([(e1 * e2).sum(-1), (e2 * e2).sum(-1)], -1)], -2)
    uv = torch.linalg.solve(gram, torch.stack([(p * e1).sum(-1), (p * e2).sum(-1)], -1))
    assert (uv >= -1e-4).all() and (uv.sum(-1) <= 1 + 1e-4).all()
    assert gs.sh().shape == (500, 4, 3) and torch.allclose(gs.opacities(), torch.tensor(0.1))


def test_rigid_mesh_motion_moves_gaussians_rigidly():
    verts, faces = wavy_grid()
    gs = init_on_mesh(verts, faces, 300)
    rot = torch.tensor(Rotation.from_rotvec([0.3, -0.5, 0.2]).as_matrix(), dtype=torch.float32)
    shift = torch.tensor([0.1, -0.2, 0.5])
    both = torch.stack([verts, verts @ rot.T + shift, 2 * verts])
    means, quats, scales = gs.world(triangle_frames(both, faces))
    assert torch.allclose(means[1], means[0] @ rot.T + shift, atol=1e-5)
    assert torch.allclose(quat_to_matrix(quats[1]), rot @ quat_to_matrix(quats[0]), atol=1e-5)
    assert torch.allclose(scales[1], scales[0], atol=1e-7)
    assert torch.allclose(means[2], 2 * means[0], atol=1e-5)                  # scale follows the mesh
    assert torch.allclose(scales[2], 2 * scales[0], atol=1e-6)


def test_deform_is_differentiable_in_vertices_and_local_parameters():
    verts, faces = wavy_grid(4)
    verts = verts.clone().requires_grad_(True)
    gs = init_on_mesh(verts.detach(), faces, 50)
    means, quats, scales = gs.world(triangle_frames(verts, faces))
    (means.sum() + scales.sum() + quats[..., 1].sum()).backward()
    assert verts.grad.abs().sum() > 0
    assert all(gs.params[k].grad is not None for k in ("means", "scales", "quats"))


def render_loss(gs, verts, faces, target):
    frames = triangle_frames(verts, faces)
    means, quats, scales = gs.world(frames)
    view = torch.eye(4)[None]
    view[0, 2, 3] = 0.5
    K = torch.tensor([[[80.0, 0, 16], [0, 80.0, 16], [0, 0, 1]]])
    out = rasterize(means[0], quats[0], scales[0], gs.opacities(), gs.sh(), view, K, 32, 32, sh_degree=gs.sh_degree,
                    rasterizer="torch")
    return (out.colors - target).abs().mean(), out.meta, scales[0]


def test_densification_keeps_bindings_parameters_and_adam_state_aligned():
    torch.manual_seed(0)
    verts, faces = wavy_grid()
    gs = init_on_mesh(verts, faces, 200, sh_degree=0)
    with torch.no_grad():
        gs.params["opacities"][:20] = -10.0                                   # to be pruned
    opts = {k: torch.optim.Adam([p], lr=1e-3) for k, p in gs.params.items()}
    strategy = BindingStrategy(grad_threshold=0.0, refine_start=0, refine_every=2, reset_every=10_000,
                               grow_scale=0.02, extent=1.0)
    state = strategy.initialize_state()
    target = torch.rand(1, 32, 32, 3)
    counts = {}
    for step in range(1, 3):
        loss, meta, world_scales = render_loss(gs, verts, faces, target)
        strategy.step_pre_backward(meta)
        loss.backward()
        for opt in opts.values():
            opt.step()
            opt.zero_grad()
        counts = strategy.step_post_backward(gs, opts, state, step, meta, world_scales.detach())
    assert counts["pruned"] >= 20 and counts["cloned"] + counts["split"] > 0
    n = gs.n
    assert all(p.shape[0] == n for p in gs.params.values())
    for name, opt in opts.items():
        p = opt.param_groups[0]["params"][0]
        assert p is gs.params[name]
        assert opt.state[p]["exp_avg"].shape == p.shape
    assert int(gs.binding.max()) < len(faces)
    # The new set still renders and trains.
    loss, meta, _ = render_loss(gs, verts, faces, target)
    loss.backward()
    assert gs.params["means"].grad.shape == (n, 3)


def test_split_children_stay_bound_to_the_parent_triangle():
    verts, faces = wavy_grid()
    gs = init_on_mesh(verts, faces, 10, sh_degree=0)
    from emotag_cli.gaussians.densify import _append, _split_children

    idx = torch.tensor([3, 7])
    children = _split_children(gs, idx)
    _append(gs, {}, children, gs.binding[idx].repeat(2))
    assert gs.n == 14 and gs.binding[10:].tolist() == gs.binding[idx].repeat(2).tolist()
    assert torch.allclose(torch.exp(gs.params["scales"][10:12]), torch.exp(gs.params["scales"][idx]) / 1.6)


def test_ply_export_round_trip(tmp_path):
    verts, faces = wavy_grid()
    gs = init_on_mesh(verts, faces, 64, sh_degree=2)
    with torch.no_grad():
        gs.params["shN"].normal_()
    means, quats, scales = gs.world(triangle_frames(verts, faces))
    write_ply(tmp_path / "a.ply", means[0], quats[0], scales[0], gs.opacities(), gs.sh())
    ply = read_ply(tmp_path / "a.ply")
    assert list(ply)[:9] == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    assert len([k for k in ply if k.startswith("f_rest_")]) == 3 * 8
    assert np.allclose(np.stack([ply["x"], ply["y"], ply["z"]], 1), means[0].detach().numpy(), atol=1e-6)
    assert np.allclose(1 / (1 + np.exp(-ply["opacity"])), gs.opacities().detach().numpy(), atol=1e-5)
    assert np.allclose(np.exp(ply["scale_0"]), scales[0, :, 0].detach().numpy(), rtol=1e-5)
    # Channel-major rest coefficients: f_rest_0..7 are red's 8 coefficients.
    red = np.stack([ply[f"f_rest_{i}"] for i in range(8)], 1)
    assert np.allclose(red, gs.params["shN"][:, :, 0].detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("fn,thr", [(position_loss, 1.0), (scale_loss, 0.6)])
def test_regularisers_are_zero_inside_and_grow_outside(fn, thr):
    inside = torch.full((10, 3), 0.1)
    assert fn(inside, thr) == 0
    outside = torch.full((10, 3), 2.0)
    assert fn(outside, thr) > 0
