"""The rasterizer against a float64 per-pixel reference (tests/raster_reference.py)."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from emotag_cli.errors import EmotagError
from emotag_cli.raster import rasterize
from emotag_cli.raster.projection import project
from emotag_cli.raster.sh import sh_basis
from emotag_cli.raster.tiles import bin_gaussians
from emotag_cli.raster.torch_rasterizer import rasterize_torch

import raster_reference as ref

SIZE = 32
PARAMS = ("means", "quats", "scales", "opacities", "colors")


def cameras(n: int, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """n pinhole cameras looking at (0, 0, 2), the i-th turned 0.25 i rad about the y axis."""
    f = 1.2 * size
    Ks = torch.tensor([[f, 0.0, size / 2], [0.0, f, 0.45 * size], [0.0, 0.0, 1.0]]).repeat(n, 1, 1)
    viewmats = torch.eye(4).repeat(n, 1, 1)
    target = torch.tensor([0.0, 0.0, 2.0])
    for i in range(1, n):
        a = 0.25 * i
        rot = torch.tensor([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
        viewmats[i, :3, :3] = rot
        viewmats[i, :3, 3] = target - rot @ target
    return viewmats, Ks


def random_scene(n: int, seed: int, sh_degree: int | None = None, dense: bool = False,
                 channels: int = 3) -> dict[str, torch.Tensor]:
    """n Gaussians in front of the cameras: log-uniform anisotropic scales (some thin), random
    orientations, opacities in (0.05, 0.95). ``dense`` makes the scales 2.5 times larger, 40 %
    of the Gaussians opaque and the first 8 large and opaque, so that many pixels stop early and
    some alphas clamp at 0.999."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) - 0.5) * torch.tensor([1.4, 1.4, 1.5]) + torch.tensor([0.0, 0.0, 2.2])
    scales = torch.exp(torch.empty(n, 3).uniform_(math.log(0.008), math.log(0.09), generator=g))
    opacities = 0.05 + 0.9 * torch.rand(n, generator=g)
    if dense:
        scales = 2.5 * scales
        opacities[torch.rand(n, generator=g) < 0.4] = 1.0
        scales[:8], opacities[:8] = 0.4, 1.0
    if sh_degree is None:
        colors = torch.rand(n, channels, generator=g)
    else:
        colors = 0.4 * torch.randn(n, (sh_degree + 1) ** 2, 3, generator=g)
    return {"means": means, "quats": torch.randn(n, 4, generator=g), "scales": scales,
            "opacities": opacities, "colors": colors}


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b).norm() / b.norm()).item()


@pytest.mark.parametrize("seed, n_cams, sh_degree, dense, tile_size", [
    (0, 1, None, False, None),
    (1, 2, 3, True, None),
    (2, 1, 1, True, 8),
    (3, 2, None, True, 16),
])
def test_forward_matches_reference(seed, n_cams, sh_degree, dense, tile_size):
    scene = random_scene(200, seed, sh_degree, dense)
    viewmats, Ks = cameras(n_cams)
    bg = torch.rand(n_cams, 3, generator=torch.Generator().manual_seed(seed))
    out = rasterize(*scene.values(), viewmats, Ks, SIZE, SIZE, sh_degree=sh_degree, backgrounds=bg,
                    tile_size=tile_size, normals=True, rasterizer="torch")
    want = ref.render(*scene.values(), viewmats, Ks, SIZE, SIZE, sh_degree=sh_degree, backgrounds=bg)
    if dense:  # the scene really exercises early termination and alpha clamping
        assert want["stopped"] > 0 and want["clamped"] > 0
    assert 0.2 < want["alphas"].mean() < 0.99
    assert out.colors.shape == (n_cams, SIZE, SIZE, 3) and out.alphas.shape == (n_cams, SIZE, SIZE, 1)
    for key in ("colors", "alphas", "depths", "normals"):
        assert max_err(getattr(out, key), want[key]) < 1e-4, key
    assert max_err(out.meta["means2d"], want["means2d"]) < 1e-4


def test_per_camera_features_of_any_width():
    scene = random_scene(150, 4, channels=5)
    viewmats, Ks = cameras(2)
    feats = torch.rand(2, 150, 5, generator=torch.Generator().manual_seed(1))
    scene["colors"] = feats
    bg = torch.rand(2, 5)
    out = rasterize(*scene.values(), viewmats, Ks, 40, 24, backgrounds=bg, rasterizer="torch")
    want = ref.render(*scene.values(), viewmats, Ks, 40, 24, backgrounds=bg)
    assert out.colors.shape == (2, 24, 40, 5)
    assert max_err(out.colors, want["colors"]) < 1e-4
    assert max_err(out.depths, want["depths"]) < 1e-4


@pytest.mark.parametrize("seed, sh_degree, dense", [(5, 2, False), (6, None, True)])
def test_gradients_match_reference(seed, sh_degree, dense):
    scene = random_scene(120, seed, sh_degree, dense)
    viewmats, Ks = cameras(2)
    bg = torch.rand(2, 3, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(100 + seed)
    weights = {k: torch.randn(2, SIZE, SIZE, d, generator=g)
               for k, d in (("colors", 3), ("alphas", 1), ("depths", 1), ("normals", 3))}

    def loss(images: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum((images[k] * w).sum() for k, w in weights.items())

    fast_in = {k: v.clone().requires_grad_(True) for k, v in {**scene, "viewmats": viewmats}.items()}
    out = rasterize(*(fast_in[k] for k in PARAMS), fast_in["viewmats"], Ks, SIZE, SIZE,
                    sh_degree=sh_degree, backgrounds=bg, normals=True, rasterizer="torch")
    out.meta["means2d"].retain_grad()
    loss(out._asdict()).backward()

    ref_in = {k: v.double().clone().requires_grad_(True) for k, v in {**scene, "viewmats": viewmats}.items()}
    want = ref.render(*(ref_in[k] for k in PARAMS), ref_in["viewmats"], Ks, SIZE, SIZE,
                      sh_degree=sh_degree, backgrounds=bg)
    want["means2d"].retain_grad()
    loss(want).backward()

    if dense:
        assert want["stopped"] > 0 and want["clamped"] > 0
    for name in (*PARAMS, "viewmats"):
        assert rel_err(fast_in[name].grad, ref_in[name].grad) < 1e-3, name
    assert rel_err(out.meta["means2d"].grad, want["means2d"].grad) < 1e-3


def test_culled_gaussians_leave_no_trace():
    viewmats, Ks = cameras(1)
    scene = random_scene(60, 7)
    # Behind the camera, between it and the near plane, beyond the far plane, far off-screen,
    # and too transparent to reach 1/255 anywhere.
    culled = {
        "means": torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 0.005], [0.0, 0.0, 50.0], [-3.0, 0.0, 2.0],
                               [0.0, 0.0, 2.0]]),
        "quats": torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(5, 1),
        "scales": torch.full((5, 3), 0.05),
        "opacities": torch.tensor([0.9, 0.9, 0.9, 0.9, 0.003]),
        "colors": torch.ones(5, 3),
    }
    # Centres off the left edge with footprints still inside: they must be kept. The second lies
    # beyond the 30 % margin where the projection's Jacobian is evaluated at a clamped point.
    edge = {"means": torch.tensor([[-0.9, 0.0, 2.0], [-1.4, 0.1, 2.0]]), "quats": torch.randn(2, 4),
            "scales": torch.tensor([[0.1, 0.1, 0.1], [0.5, 0.2, 0.3]]), "opacities": torch.tensor([0.9, 0.8]),
            "colors": torch.ones(2, 3)}
    full = {k: torch.cat([scene[k], culled[k], edge[k]]).requires_grad_(True) for k in PARAMS}
    kept = {k: torch.cat([scene[k], edge[k]]) for k in PARAMS}
    kw = dict(far_plane=20.0, backgrounds=torch.tensor([[0.2, 0.3, 0.4]]), rasterizer="torch")
    out = rasterize(*full.values(), viewmats, Ks, SIZE, SIZE, **kw)
    (out.colors.sum() + out.depths.sum()).backward()

    radii = out.meta["radii"][0]
    assert (radii[60:65] == 0).all()
    assert (radii[65:] > 0).all() and (out.meta["means2d"][0, 65:, 0] < 0).all()
    assert (radii[:60] > 0).any(dim=-1).sum() >= 50
    without = rasterize(*kept.values(), viewmats, Ks, SIZE, SIZE, **kw)
    assert max_err(out.colors, without.colors) < 1e-6
    assert max_err(out.depths, without.depths) < 1e-6
    want = ref.render(*full.values(), viewmats, Ks, SIZE, SIZE, far_plane=20.0, backgrounds=kw["backgrounds"])
    assert max_err(out.colors, want["colors"]) < 1e-4
    for p in full.values():
        assert torch.isfinite(p.grad).all()
        assert (p.grad[60:65] == 0).all()


@pytest.mark.parametrize("n", [0, 3])
def test_empty_scene_is_background(n):
    viewmats, Ks = cameras(2)
    bg = torch.tensor([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7]])
    scene = {"means": torch.tensor([[0.0, 0.0, -2.0]]).repeat(n, 1), "quats": torch.randn(n, 4),
             "scales": torch.full((n, 3), 0.1), "opacities": torch.full((n,), 0.9), "colors": torch.rand(n, 3)}
    out = rasterize(*scene.values(), viewmats[:1], Ks[:1], 20, 12, backgrounds=bg[:1], normals=True,
                    rasterizer="torch")
    assert torch.equal(out.colors, bg[:1, None, None, :].expand(1, 12, 20, 3))
    assert not out.alphas.any() and not out.depths.any() and not out.normals.any()


def test_sh_basis_matches_legendre_derivation():
    dirs = torch.randn(50, 3, dtype=torch.float64)
    for degree in range(4):
        assert torch.allclose(sh_basis(degree, dirs), ref.sh_basis(degree, dirs), atol=1e-12)


@pytest.mark.parametrize("tile_size", [4, 8])
def test_binning_covers_every_touched_pixel(tile_size):
    # Thin, tilted splats: their bounding boxes are mostly empty.
    n, W, H = 80, 48, 40
    g = torch.Generator().manual_seed(8)
    means = (torch.rand(n, 3, generator=g) - 0.5) * torch.tensor([1.6, 1.4, 0.5]) + torch.tensor([0.0, 0.0, 2.0])
    scales = torch.stack([torch.full((n,), 0.15), torch.full((n,), 0.004), torch.full((n,), 0.004)], 1)
    viewmats, Ks = cameras(1, W)
    proj = project(means, torch.randn(n, 4, generator=g), scales, torch.rand(n, generator=g), viewmats, Ks, W, H)
    bins = bin_gaussians(proj.means2d, proj.conics, proj.cutoffs, proj.depths, proj.visible, W, H, tile_size)
    paired = {(t, gid) for t, gid in zip(bins.pair_tile.tolist(), bins.pair_gaussian.tolist())}

    ys, xs = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    tile_of = (ys // tile_size).long() * bins.tiles_x + (xs // tile_size).long()
    needed = box_tiles = 0
    for i in torch.nonzero(proj.visible[0]).squeeze(1).tolist():
        a, b, c = proj.conics[0, i].double()
        dx, dy = xs - proj.means2d[0, i, 0], ys - proj.means2d[0, i, 1]
        q = a * dx * dx + 2 * b * dx * dy + c * dy * dy
        touched = set(tile_of[q <= proj.cutoffs[0, i]].tolist())
        assert touched <= {t for t, gid in paired if gid == i}
        needed += len(touched)
        r = proj.radii[0, i]
        lo = ((proj.means2d[0, i] - r).clamp_min(0) // tile_size).long()
        hi = ((proj.means2d[0, i] + r).clamp_max(torch.tensor([W - 1, H - 1])) // tile_size).long()
        box_tiles += int((hi - lo + 1).prod())
    assert needed > 0
    assert len(paired) < 0.7 * box_tiles  # the ellipse test pays off for thin splats


def test_layout_does_not_change_the_image():
    scene = random_scene(150, 9, dense=True)
    viewmats, Ks = cameras(2)
    params = [v.clone().requires_grad_(True) for v in scene.values()]
    feats = params[4][None].expand(2, -1, -1)
    grads = []
    for tile_size, chunk in [(4, 1 << 17), (8, 1 << 9), (16, 1 << 17)]:
        out = rasterize_torch(*params[:4], feats, viewmats, Ks, SIZE, SIZE, None, near_plane=0.01,
                              far_plane=1e10, radius_clip=0.0, eps2d=0.3, tile_size=tile_size, normals=False,
                              chunk_elements=chunk)
        out.colors.sum().backward()
        grads.append((out.colors.detach(), params[0].grad.clone()))
        params[0].grad = None
    for image, grad in grads[1:]:
        assert max_err(image, grads[0][0]) < 2e-5
        assert rel_err(grad, grads[0][1].double()) < 1e-4


def test_rasterizer_selection_on_cpu():
    scene = random_scene(10, 10)
    viewmats, Ks = cameras(1)
    sys.modules.pop("gsplat", None)
    assert rasterize(*scene.values(), viewmats, Ks, 8, 8).meta["rasterizer"] == "torch"
    assert "gsplat" not in sys.modules  # imported only on the CUDA path
    with pytest.raises(EmotagError):
        rasterize(*scene.values(), viewmats, Ks, 8, 8, rasterizer="gsplat")
    with pytest.raises(ValueError):
        rasterize(*scene.values(), viewmats, Ks, 8, 8, rasterizer="opengl")
    with pytest.raises(ValueError, match="quats"):
        rasterize(scene["means"], scene["quats"][:5], *list(scene.values())[2:], viewmats, Ks, 8, 8)


def _gsplat_ready() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _gsplat_ready(), reason="needs CUDA and gsplat")
@pytest.mark.parametrize("sh_degree", [None, 2])
def test_gsplat_matches_reference(sh_degree):
    scene = random_scene(200, 11, sh_degree, dense=True)
    viewmats, Ks = cameras(2)
    bg = torch.rand(2, 3)
    cuda = {k: v.cuda().requires_grad_(True) for k, v in scene.items()}
    out = rasterize(*cuda.values(), viewmats.cuda(), Ks.cuda(), SIZE, SIZE, sh_degree=sh_degree,
                    backgrounds=bg.cuda(), normals=True, rasterizer="gsplat")
    assert out.meta["rasterizer"] == "gsplat"
    (out.colors.sum() + out.depths.sum()).backward()
    ref_in = {k: v.double().clone().requires_grad_(True) for k, v in scene.items()}
    want = ref.render(*ref_in.values(), viewmats, Ks, SIZE, SIZE, sh_degree=sh_degree, backgrounds=bg)
    (want["colors"].sum() + want["depths"].sum()).backward()
    for key in ("colors", "alphas", "depths", "normals"):
        assert max_err(getattr(out, key).cpu(), want[key]) < 1e-4, key
    for name in PARAMS:
        assert rel_err(cuda[name].grad.cpu(), ref_in[name].grad) < 1e-3, name
