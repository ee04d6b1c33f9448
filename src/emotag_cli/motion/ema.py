"""Exponential moving average of a module's parameters (the pretrained prior is the EMA copy).

    shadow ← decay · shadow + (1 − decay) · parameter,      after every optimiser step

Official code: decay 0.995 (torch_ema), and the prior saved for adaptation is the EMA weights
(docs/commands/pretrain.md). With ``warmup`` the decay is min(decay, (1 + n) / (10 + n)) after n updates
(torch_ema's ``use_num_updates``), so early shadows are not dominated by the random initialisation.
Buffers are not averaged; ``copy_to`` leaves them as they are. Parameters are matched by name, so a
DDP-wrapped module should be passed as ``ddp.module``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn


class EMA:
    def __init__(self, model: nn.Module, decay: float = 0.995, warmup: bool = True):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.warmup = decay, warmup
        self.updates = 0
        self.shadow: dict[str, Tensor] = {k: p.detach().clone() for k, p in model.named_parameters()}

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        for name, p in model.named_parameters():
            self.shadow[name].lerp_(p.detach(), 1.0 - decay)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for name, p in model.named_parameters():
            p.copy_(self.shadow[name])

    @contextmanager
    def average_parameters(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the EMA weights into ``model`` (to evaluate or save them)."""
        saved = {k: p.detach().clone() for k, p in model.named_parameters()}
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(saved[name])

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "warmup": self.warmup, "updates": self.updates,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise ValueError(f"EMA state does not match the model: {sorted(missing)[:5]}")
        self.decay, self.warmup, self.updates = state["decay"], state["warmup"], int(state["updates"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)
