"""Parameter selection: what adaptation tunes, optimiser groups, parameter counts.

Adaptation (docs/commands/adapt.md) tunes only the AdaIN MLPs — about 0.4 M of the GRMN's ~4 M
parameters — so that five seconds of video personalise the motion without overwriting the prior;
``tune(model, "all")`` is the official code's default without ``--adapt_adain_only``.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from .adain import AdaIN
from .hashgrid import HashGrid2D

TUNE_MODES = ("adain", "all")


def adain_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The parameters of every AdaIN block in ``model``."""
    for module in model.modules():
        if isinstance(module, AdaIN):
            yield from module.parameters()


def tune(model: nn.Module, mode: str) -> list[nn.Parameter]:
    """Set requires_grad for ``mode`` ("adain": the AdaIN MLPs only; "all": everything) and return
    the trainable parameters."""
    if mode not in TUNE_MODES:
        raise ValueError(f"tune mode must be one of {TUNE_MODES}, got {mode!r}")
    selected = {id(p) for p in (adain_parameters(model) if mode == "adain" else model.parameters())}
    for p in model.parameters():
        p.requires_grad_(id(p) in selected)
    return [p for p in model.parameters() if p.requires_grad]


def optimizer_groups(model: nn.Module, lr_net: float, lr_grid: float, weight_decay: float = 0.0) -> list[dict]:
    """AdamW parameter groups of the trainable parameters: hash-grid tables at ``lr_grid``, every
    network weight at ``lr_net`` (the official code: 5e-3 and 5e-5 in pretraining). Hash tables get
    no weight decay (most entries see no gradient on a given step)."""
    grid_ids = {id(p) for m in model.modules() if isinstance(m, HashGrid2D) for p in m.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"name": "net", "params": [p for p in trainable if id(p) not in grid_ids], "lr": lr_net,
         "weight_decay": weight_decay},
        {"name": "grid", "params": [p for p in trainable if id(p) in grid_ids], "lr": lr_grid, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts per top-level child and sub-child (``encoder.audio`` …) plus ``total``."""
    counts: dict[str, int] = {}
    for name, child in model.named_children():
        counts[name] = sum(p.numel() for p in child.parameters())
        for sub, grandchild in child.named_children():
            counts[f"{name}.{sub}"] = sum(p.numel() for p in grandchild.parameters())
    counts["adain"] = sum(p.numel() for p in adain_parameters(model))
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
