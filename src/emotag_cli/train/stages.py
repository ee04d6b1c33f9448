"""The stages of ``emotag pretrain``: ``motion`` (no rendering, train/motion_pretrain.py),
``render`` (per-identity Gaussians, train/pretrain.py) or ``full`` (the motion stage, then the
render stage starting from its network, on the scenes with audio)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from ..config import PRETRAIN_STAGES, MotionPretrainConfig, PretrainConfig
from ..errors import EmotagError
from ..prior import Prior
from ..progress import Reporter
from .motion_pretrain import pretrain_motion
from .pretrain import identity_names, pretrain


def run_pretrain(stage: str, scenes: Sequence[Path], out: Path, motion: MotionPretrainConfig,
                 render: PretrainConfig, overwrite: bool = False, reporter: Reporter | None = None,
                 resume: bool = False, device: str | None = None) -> Path:
    """Run ``stage`` on ``scenes``; returns the prior written to ``out``. ``full`` keeps the motion
    stage's prior in ``<out>.motion/`` until the render stage has published ``out``."""
    if stage not in PRETRAIN_STAGES:
        raise EmotagError(f"--stage must be one of {', '.join(PRETRAIN_STAGES)}, got {stage!r}")
    out = Path(out).absolute()
    if out.exists() and not overwrite and not resume:
        raise EmotagError(f"{out} already exists; pass --overwrite to replace it")
    paths = [Path(p).absolute() for p in scenes]
    if stage == "render":
        return pretrain(paths, out, render, overwrite=overwrite, reporter=reporter, resume=resume, device=device)
    if resume:
        raise EmotagError("--resume continues the render stage only (the motion stage takes minutes: re-run it)")
    if stage == "motion":
        return pretrain_motion(paths, identity_names(paths), out, motion, overwrite, reporter, device)
    first = out.parent / f"{out.name}.motion"
    pretrain_motion(paths, identity_names(paths), first, motion, True, reporter, device)
    used = [Path(s["path"]) for s in Prior.open(first).manifest["scenes"]]
    path = pretrain(used, out, render, overwrite=overwrite, reporter=reporter, device=device, init=first)
    shutil.rmtree(first, ignore_errors=True)
    return path
