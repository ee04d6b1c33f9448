"""The silence guard of adaptation: silent audio with the clip's own AUs must keep the mouth shut.

Adaptation tunes the prior on a few seconds whose upper-face AUs may happen to go with the mouth
opening (a smile while talking, blinks on stressed syllables). Each step adds

    w_silence · MSE(opening(GRMN(silence, AUs of a stretch of the clip, identity)) ; neutral opening)

on a random stretch of the training frames, with silent audio of the avatar's audio encoder
(motion_data.silent_stretches), so the avatar cannot learn to open its mouth from the drive: at
render time the drive supplies exactly these AUs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch import Tensor

from ..motion.grmn import GRMN
from .motion_data import MotionClip, silent_stretches
from .mouth_opening import MouthGauge, opening_loss


def silence_guard(grmn: GRMN, gauge: MouthGauge, clip: MotionClip, n_train: int, length: int, weight: float,
                  rng: np.random.Generator, scene_path) -> Callable[[], dict[str, Tensor]]:
    """The extra loss term for ``train_step``: a callable returning {"silence": weighted loss}."""
    length = min(length, n_train)
    silence = silent_stretches(scene_path, length)
    device = next(grmn.parameters()).device

    def term() -> dict[str, Tensor]:
        start = int(rng.integers(n_train - length + 1))
        level = int(rng.integers(len(silence)))
        out = grmn.stretches(silence[level:level + 1].to(device), clip.aus[None, start:start + length].to(device),
                             clip.identity[None].to(device))
        opening = gauge(clip.shape.to(device), out.expr, out.jaw)
        return {"silence": weight * opening_loss(opening, opening.new_full(opening.shape, clip.neutral))}

    return term
