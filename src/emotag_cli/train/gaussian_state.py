"""One identity's trainable Gaussians: parameters, their Adam optimisers, densification and step count.

Pretraining keeps one of these per identity (each rank owns its identities' states), adaptation
one. ``state_dict`` holds everything a resumed run needs to continue exactly — the parameters,
every Adam moment, the densification statistics and the identity's own step count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..gaussians.densify import BindingStrategy
from ..gaussians.init import init_on_mesh
from ..gaussians.params import GaussianParams
from .appearance import make_optimizers


@dataclass
class GaussianTrainState:
    gaussians: GaussianParams
    optimizers: dict[str, torch.optim.Adam]
    strategy: BindingStrategy
    lr: dict[str, float]
    densify_state: dict[str, Any] = field(default_factory=dict)
    steps: int = 0

    @classmethod
    def create(cls, canonical_vertices: Tensor, faces: Tensor, n: int, sh_degree: int, seed: int,
               lr: dict[str, float], strategy: BindingStrategy,
               device: torch.device | str = "cpu") -> GaussianTrainState:
        """n Gaussians on the canonical mesh [V, 3] (init_on_mesh), with fresh optimisers."""
        gs = init_on_mesh(canonical_vertices.cpu(), faces.cpu(), n, sh_degree=sh_degree, seed=seed)
        gs.params = gs.params.to(device)
        gs.binding = gs.binding.to(device)
        return cls(gs, make_optimizers(gs, lr), strategy, dict(lr), strategy.initialize_state())

    def set_lr(self, progress: float, means_final: float) -> None:
        """Exponential decay of the position rate to ``means_final`` × start at progress 1."""
        for name, opt in self.optimizers.items():
            factor = means_final ** min(max(progress, 0.0), 1.0) if name == "means" else 1.0
            for group in opt.param_groups:
                group["lr"] = self.lr[name] * factor

    def step(self) -> None:
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)

    def densify(self, meta: dict[str, Any], world_scales: Tensor) -> dict[str, int]:
        """After ``step``: accumulate screen-space gradients and refine on the strategy's schedule
        (counted in this identity's own steps)."""
        return self.strategy.step_post_backward(self.gaussians, self.optimizers, self.densify_state, self.steps,
                                                meta, world_scales.detach())

    def state_dict(self) -> dict[str, Any]:
        return {"gaussians": self.gaussians.state_dict(),
                "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
                "densify": {k: (None if v is None else v.detach().cpu()) for k, v in self.densify_state.items()},
                "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace everything by a saved state (the Gaussian count may differ from now)."""
        device = self.gaussians.binding.device
        gs = GaussianParams.from_state_dict(state["gaussians"])
        gs.params = gs.params.to(device)
        gs.binding = gs.binding.to(device)
        self.gaussians = gs
        self.optimizers = make_optimizers(gs, self.lr)
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self.densify_state = {k: (None if v is None else v.to(device)) for k, v in state["densify"].items()}
        self.steps = int(state["steps"])


def binding_strategy(canonical: Tensor, start: int, stop: int, every: int, max_gaussians: int,
                     reset_every: int = 0) -> BindingStrategy:
    """The densification schedule, in an identity's own steps: refine every ``every`` steps in
    (start, stop), reset opacities every ``reset_every`` (0: never). The clone/split size threshold
    is relative to the canonical mesh's extent [V, 3] (metres)."""
    extent = float((canonical.max(0).values - canonical.min(0).values).max())
    return BindingStrategy(extent=extent, refine_start=start, refine_stop=stop, refine_every=max(1, every),
                           reset_every=reset_every if reset_every > 0 else 10**12, max_gaussians=max_gaussians)
