"""Densification as a pluggable strategy: clone, split and prune, carrying each parent's binding.

The training loop calls, each step::

    strategy.step_pre_backward(meta)                       # keep the screen-space gradients
    loss.backward()
    strategy.step_post_backward(gaussians, optimizers, state, step, meta, world_scales)

A strategy owns no parameters; it edits ``gaussians.params`` (and the matching Adam moments in
``optimizers``) in place. ``BindingStrategy`` is the 3DGS / GaussianAvatars recipe; any object
with these two methods and ``initialize_state`` can replace it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .params import GaussianParams
from .quat import quat_to_matrix


@dataclass
class BindingStrategy:
    """3DGS adaptive density control for mesh-bound Gaussians.

    grad_threshold: mean screen-space gradient norm (px, in NDC-like units of gsplat: the
        gradient is scaled by half the image size) above which a Gaussian is densified.
    grow_scale: a Gaussian whose largest world scale is below ``grow_scale × extent`` is cloned,
        else split in two (3DGS: percent_dense 0.005 of the scene extent).
    prune_opacity: Gaussians below this opacity are removed at every refinement.
    refine_start / refine_stop / refine_every: steps between which, and how often, to refine.
    reset_every: opacities are clamped to ``2 × prune_opacity``… (3DGS: reset to 0.01) this often.
    max_gaussians: hard cap (no growth beyond it).
    """

    grad_threshold: float = 2e-4
    grow_scale: float = 0.005
    extent: float = 0.3
    prune_opacity: float = 0.005
    refine_start: int = 500
    refine_stop: int = 15_000
    refine_every: int = 100
    reset_every: int = 3000
    max_gaussians: int = 200_000

    def initialize_state(self) -> dict[str, Any]:
        return {"grad2d": None, "count": None}

    def step_pre_backward(self, meta: dict[str, Any]) -> None:
        meta["means2d"].retain_grad()

    @torch.no_grad()
    def step_post_backward(self, gaussians: GaussianParams, optimizers: dict[str, torch.optim.Optimizer],
                           state: dict[str, Any], step: int, meta: dict[str, Any],
                           world_scales: Tensor) -> dict[str, int]:
        """Accumulate gradients; refine on schedule. world_scales [N, 3] of this step's frame.

        Returns counts of what happened ({"cloned", "split", "pruned"}; empty when not refining).
        """
        if step >= self.refine_stop:
            return {}
        self._accumulate(state, meta, gaussians.n)
        if step > self.refine_start and step % self.refine_every == 0:
            counts = self._refine(gaussians, optimizers, state, world_scales)
            state["grad2d"].zero_()
            state["count"].zero_()
            if step % self.reset_every == 0:
                self._reset_opacity(gaussians, optimizers)
            return counts
        return {}

    def _accumulate(self, state: dict[str, Any], meta: dict[str, Any], n: int) -> None:
        grad = meta["means2d"].grad                                            # [C, N, 2]
        if grad is None:
            return
        grad = grad.clone()
        grad[..., 0] *= meta["width"] / 2
        grad[..., 1] *= meta["height"] / 2
        norm = grad.norm(dim=-1)                                               # [C, N]
        visible = meta["radii"].max(-1).values > 0 if meta["radii"].dim() == 3 else meta["radii"] > 0
        if state["grad2d"] is None or state["grad2d"].shape[0] != n:
            state["grad2d"] = torch.zeros(n, device=norm.device)
            state["count"] = torch.zeros(n, device=norm.device)
        state["grad2d"] += (norm * visible).sum(0)
        state["count"] += visible.sum(0).float()

    def _refine(self, gs: GaussianParams, optimizers, state, world_scales: Tensor) -> dict[str, int]:
        avg = state["grad2d"] / state["count"].clamp_min(1)
        hot = avg > self.grad_threshold
        small = world_scales.max(-1).values <= self.grow_scale * self.extent
        room = max(0, self.max_gaussians - gs.n)
        clone = hot & small
        split = hot & ~small
        if int(clone.sum() + split.sum()) > room:                             # keep the hottest
            order = torch.argsort(avg * (clone | split), descending=True)[:room]
            keep = torch.zeros_like(hot)
            keep[order] = True
            clone &= keep
            split &= keep
        n_clone, n_split = int(clone.sum()), int(split.sum())
        if n_clone:
            _append(gs, optimizers, {k: v[clone] for k, v in gs.params.items()}, gs.binding[clone])
        if n_split:
            idx = torch.nonzero(split)[:, 0]
            children = _split_children(gs, idx)
            _append(gs, optimizers, children, gs.binding[idx].repeat(2))
            remove = torch.zeros(gs.n, dtype=torch.bool, device=gs.binding.device)
            remove[idx] = True
            _remove(gs, optimizers, remove)
        low = gs.opacities() < self.prune_opacity
        n_pruned = int(low.sum())
        if n_pruned and n_pruned < gs.n:
            _remove(gs, optimizers, low)
        return {"cloned": n_clone, "split": n_split, "pruned": n_pruned}

    def _reset_opacity(self, gs: GaussianParams, optimizers) -> None:
        ceiling = math.log(0.01 / 0.99)
        _replace(gs, optimizers, "opacities", gs.params["opacities"].clamp_max(ceiling))


def _split_children(gs: GaussianParams, idx: Tensor) -> dict[str, Tensor]:
    """Two children per Gaussian: centres drawn from it (in its local frame), scales / 1.6."""
    p = {k: v[idx] for k, v in gs.params.items()}
    s = torch.exp(p["scales"])                                                 # [M, 3] local units
    rot = quat_to_matrix(p["quats"])                                           # [M, 3, 3]
    offsets = torch.randn(2, *s.shape, device=s.device) * s                     # [2, M, 3]
    means = p["means"][None] + (rot[None] @ offsets[..., None])[..., 0]
    out = {k: v.repeat(2, *[1] * (v.dim() - 1)) for k, v in p.items()}
    out["means"] = means.reshape(-1, 3)
    out["scales"] = torch.log(s / 1.6).repeat(2, 1)
    return out


def _append(gs: GaussianParams, optimizers, new: dict[str, Tensor], binding: Tensor) -> None:
    m = len(binding)

    def grow(t: Tensor) -> Tensor:
        return torch.cat([t, torch.zeros(m, *t.shape[1:], device=t.device, dtype=t.dtype)])

    for name, value in new.items():
        old = gs.params[name]
        param = nn.Parameter(torch.cat([old.detach(), value.detach()]))
        _swap_optimizer_state(optimizers.get(name), old, param, grow)
        gs.params[name] = param
    gs.binding = torch.cat([gs.binding, binding])


def _remove(gs: GaussianParams, optimizers, mask: Tensor) -> None:
    keep = ~mask
    for name in list(gs.params.keys()):
        old = gs.params[name]
        param = nn.Parameter(old.detach()[keep])
        _swap_optimizer_state(optimizers.get(name), old, param, lambda t: t[keep])
        gs.params[name] = param
    gs.binding = gs.binding[keep]


def _replace(gs: GaussianParams, optimizers, name: str, value: Tensor) -> None:
    old = gs.params[name]
    param = nn.Parameter(value.detach().clone())
    _swap_optimizer_state(optimizers.get(name), old, param, torch.zeros_like)
    gs.params[name] = param


def _swap_optimizer_state(opt: torch.optim.Optimizer | None, old: nn.Parameter, new: nn.Parameter, edit) -> None:
    """Point ``opt`` at ``new`` instead of ``old``, editing Adam's per-element moments alike."""
    if opt is None:
        return
    for group in opt.param_groups:
        for i, p in enumerate(group["params"]):
            if p is old:
                group["params"][i] = new
                st = opt.state.pop(old, None)
                if st is not None:
                    opt.state[new] = {k: (edit(v) if torch.is_tensor(v) and v.shape == old.shape else v)
                                      for k, v in st.items()}
