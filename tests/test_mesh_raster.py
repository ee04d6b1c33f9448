"""The z-buffer mesh rasterizer used for depth / normal targets."""

from __future__ import annotations

import numpy as np

from emotag_cli.raster.mesh import render_depth_normals


def test_a_plane_facing_the_camera_renders_its_depth_and_normal():
    # A square at z = 2 spanning x, y in [-1, 1]; camera f = 32, 64×64 pixels, centre 32.
    v = np.array([[-1, -1, 2], [1, -1, 2], [1, 1, 2], [-1, 1, 2]], np.float64)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    K = np.array([[32.0, 0, 32], [0, 32.0, 32], [0, 0, 1]])
    depth, normals, ids = render_depth_normals(v, faces, K, 64, 64)
    hit = ids >= 0
    # The square projects to [16, 48] in both axes: 32×32 pixels.
    assert abs(hit.sum() - 32 * 32) <= 64
    assert np.allclose(depth[hit], 2.0, atol=1e-6)
    assert np.allclose(normals[hit], [0, 0, -1], atol=1e-6)                 # towards the camera
    assert not hit[0, 0] and hit[32, 32]


def test_nearer_surface_wins():
    far = np.array([[-1, -1, 3], [1, -1, 3], [0, 1, 3]], np.float64)
    near = far.copy()
    near[:, 2] = 2
    v = np.concatenate([far, near])
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    K = np.array([[20.0, 0, 16], [0, 20.0, 16], [0, 0, 1]])
    depth, _, ids = render_depth_normals(v, faces, K, 32, 32)
    assert ids[16, 16] == 1 and np.isclose(depth[16, 16], 2.0)


def test_tilted_plane_has_perspective_correct_depth():
    # Plane z = 2 + 0.5 x: depth at each pixel must satisfy the plane equation along its ray.
    v = np.array([[-1, -1, 1.5], [1, -1, 2.5], [1, 1, 2.5], [-1, 1, 1.5]], np.float64)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    K = np.array([[30.0, 0, 32], [0, 30.0, 32], [0, 0, 1]])
    depth, _, ids = render_depth_normals(v, faces, K, 64, 64)
    ys, xs = np.nonzero(ids >= 0)
    x_cam = (xs + 0.5 - 32) / 30 * depth[ys, xs]
    assert np.allclose(depth[ys, xs], 2 + 0.5 * x_cam, atol=1e-6)
