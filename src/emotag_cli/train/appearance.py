"""The per-scene appearance fit: Gaussians on the tracked mesh, no motion network.

Each step takes one training frame, deforms the Gaussians with that frame's tracked mesh, renders
them over the frame's backdrop (the frame with the head replaced by the background plate) and
minimises L1 + 0.2 D-SSIM against the frame, plus the geometric loss against the tracked mesh's
depth and normals and the GaussianAvatars regularisers. ``emotag adapt`` runs the same loop with
the meshes driven by the motion network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..forward.clip import TrackedClip
from ..gaussians.densify import BindingStrategy
from ..gaussians.init import init_on_mesh
from ..gaussians.params import GaussianParams
from ..gaussians.regularizers import position_loss, scale_loss
from ..gaussians.render import composite, render_on_mesh
from ..image_metrics import psnr, ssim
from ..motion.losses import depth_loss, normal_loss, render_loss
from ..progress import Reporter, quiet


@dataclass
class AppearanceConfig:
    """Settings of the appearance fit (learning rates are GaussianAvatars'; positions and scales
    are in units of the parent triangle's size).

    iterations: optimisation steps (one frame each). n_gaussians: initial count. sh_degree: 1 in
    adaptation (docs/reference/head-models.md). depth_weight / normal_weight: L_Geo (0.01 / 0.001).
    densify: run the clone/split/prune strategy (its schedule scales with ``iterations``).
    """

    iterations: int = 3000
    n_gaussians: int = 20_000
    sh_degree: int = 1
    dssim_weight: float = 0.2
    depth_weight: float = 0.01
    normal_weight: float = 0.001
    position_weight: float = 0.01
    scale_weight: float = 1.0
    lr: dict[str, float] = field(default_factory=lambda: {
        "means": 5e-3, "quats": 1e-3, "scales": 1.7e-2, "opacities": 5e-2, "sh0": 2.5e-3, "shN": 2.5e-3 / 20})
    lr_final_ratio: float = 0.01
    densify: bool = True
    max_gaussians: int = 60_000
    seed: int = 0


def make_optimizers(gs: GaussianParams, lr: dict[str, float]) -> dict[str, torch.optim.Adam]:
    return {k: torch.optim.Adam([p], lr=lr[k], eps=1e-15) for k, p in gs.params.items()}


def fit_appearance(clip: TrackedClip, frames: list[int], config: AppearanceConfig | None = None,
                   reporter: Reporter | None = None, log_every: int = 100) -> tuple[GaussianParams, list[dict]]:
    """Optimise Gaussians on ``frames`` of the clip. Returns the Gaussians and a loss log."""
    config = config or AppearanceConfig()
    reporter = reporter or quiet()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    faces = clip.model.faces
    gs = init_on_mesh(clip.canonical_vertices(), faces, config.n_gaussians, sh_degree=config.sh_degree,
                      seed=config.seed)
    opts = make_optimizers(gs, config.lr)
    extent = float(clip.canonical_vertices().max(0).values.sub(clip.canonical_vertices().min(0).values).max())
    strategy = BindingStrategy(
        extent=extent, refine_start=max(1, config.iterations // 10), refine_stop=int(config.iterations * 0.7),
        refine_every=max(1, min(100, config.iterations // 20)), reset_every=10**9,
        max_gaussians=config.max_gaussians)
    state = strategy.initialize_state()
    log: list[dict] = []
    t0 = time.perf_counter()
    with reporter.step("appearance fit", total=config.iterations) as advance:
        for step in range(1, config.iterations + 1):
            decay = config.lr_final_ratio ** (step / config.iterations)
            for name, opt in opts.items():
                for group in opt.param_groups:
                    group["lr"] = config.lr[name] * (decay if name == "means" else 1.0)
            i = int(rng.choice(frames))
            fd = clip.frame(i)
            use_geo = config.depth_weight > 0 or config.normal_weight > 0
            out, world_scales = render_on_mesh(gs, fd.verts, faces, clip.K, clip.w2c(i), clip.size,
                                               normals=use_geo)
            strategy.step_pre_backward(out.meta)
            pred = composite(out, fd.backdrop)
            loss_img = render_loss(pred[None], fd.image[None], dssim_weight=config.dssim_weight)
            loss = loss_img
            if use_geo:
                depth_t, normal_t = clip.mesh_geometry(i)
                m = fd.head * (depth_t > 0)
                alpha = out.alphas[0].permute(2, 0, 1)
                loss = loss + config.depth_weight * depth_loss(out.depths.permute(0, 3, 1, 2), depth_t[None], m[None])
                n_pred = out.normals[0].permute(2, 0, 1) / alpha.clamp_min(1e-4)
                loss = loss + config.normal_weight * normal_loss(n_pred[None], normal_t[None], m[None])
            loss = loss + config.position_weight * position_loss(gs.params["means"]) \
                + config.scale_weight * scale_loss(gs.local_scales())
            loss.backward()
            for opt in opts.values():
                opt.step()
                opt.zero_grad(set_to_none=True)
            if config.densify:
                strategy.step_post_backward(gs, opts, state, step, out.meta, world_scales.detach())
            if step % log_every == 0 or step == config.iterations:
                log.append({"step": step, "loss": loss.item(), "image_loss": loss_img.item(), "n": gs.n,
                            "seconds": round(time.perf_counter() - t0, 2)})
            advance(1)
    return gs, log


@torch.no_grad()
def evaluate_appearance(clip: TrackedClip, gs: GaussianParams, frames: list[int]) -> dict[str, float]:
    """Mean PSNR / SSIM on the head region of ``frames``, rendered with their tracked meshes and
    composited over their backdrops (InsTaG's protocol; the released EmoTaG code renders on a plain background)."""
    p, s = [], []
    for i in frames:
        fd = clip.frame(i)
        out, _ = render_on_mesh(gs, fd.verts, clip.model.faces, clip.K, clip.w2c(i), clip.size)
        pred = composite(out, fd.backdrop).clamp(0, 1)
        p.append(float(psnr(pred[None], fd.image[None], fd.head[None])))
        s.append(float(ssim(pred[None], fd.image[None], fd.head[None])))
    return {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "frames": len(frames)}


@torch.no_grad()
def render_frame(clip: TrackedClip, gs: GaussianParams, i: int) -> np.ndarray:
    """RGB uint8 [S, S, 3]: frame i rendered with its tracked mesh over its backdrop."""
    fd = clip.frame(i)
    out, _ = render_on_mesh(gs, fd.verts, clip.model.faces, clip.K, clip.w2c(i), clip.size)
    img = composite(out, fd.backdrop).clamp(0, 1)
    return (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
