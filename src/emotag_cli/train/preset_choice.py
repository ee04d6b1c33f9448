"""Which training preset ``emotag adapt`` uses when none is named, and how long it will take.

The ``paper`` preset (20,000 steps, 60K Gaussians) is a GPU schedule: on a CPU it runs for well
over an hour. Without CUDA the default is therefore the ``cpu`` preset, and a one-line notice names
the preset and its estimated time before the first step, whichever preset runs on a CPU.
"""

from __future__ import annotations

import torch

# Seconds per adaptation step on one CPU thread of a shared 2-core machine: cpu preset 132–144 s for
# 1500 steps (docs/commands/adapt.md, "Measured"); paper preset ~85 min for 20,000 steps (issue 13).
CPU_SECONDS_PER_STEP = {"cpu": 0.092, "paper": 0.255}


def uses_cuda(device: str | None) -> bool:
    """Whether training will run on CUDA (``device`` None: when torch sees a GPU)."""
    return torch.cuda.is_available() if device is None else device.startswith("cuda")


def default_preset(device: str | None) -> str:
    """``paper`` on CUDA, ``cpu`` otherwise."""
    return "paper" if uses_cuda(device) else "cpu"


def cpu_notice(preset: str, iterations: int, chosen: bool) -> str:
    """The line printed before a CPU run: the preset, its steps and the estimated time."""
    minutes = iterations * CPU_SECONDS_PER_STEP.get(preset, CPU_SECONDS_PER_STEP["paper"]) / 60
    why = "no CUDA device: using" if not chosen else "on a CPU:"
    hint = " (--preset paper for the paper's 20,000-step schedule)" if preset == "cpu" and not chosen else ""
    return f"{why} the {preset} preset, {iterations} steps, about {max(1, round(minutes))} min{hint}"
