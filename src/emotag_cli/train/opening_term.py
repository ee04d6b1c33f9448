"""The mouth-opening term of adaptation: the tuned network must keep opening the mouth as the
adaptation clip's tracked mouth opens.

The flame loss (MSE over 50 expression coefficients and the jaw) leaves the mouth opening loosely
tied: a few coefficients, each a little off, can hold the lips millimetres apart. Tuned on a few
seconds with that loss alone, adapted avatars kept the prior's correlation with the speech but
not its amplitude (a mouth 7 mm open throughout, or one that barely opened; docs/models/prior.md).
The motion stage has the same term (``w_open``); adaptation adds, each step,

    w_open · MSE(opening(GRMN(audio, AUs of a stretch of the clip, identity)) ; tracked opening)   [cm²]

on a random stretch of the training frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch import Tensor

from ..motion.grmn import GRMN
from .motion_data import MotionClip
from .mouth_opening import MouthGauge, opening_loss


def opening_term(grmn: GRMN, gauge: MouthGauge, clip: MotionClip, n_train: int, length: int, weight: float,
                 rng: np.random.Generator) -> Callable[[], dict[str, Tensor]]:
    """The extra loss term for ``train_step``: a callable returning {"open": weighted loss}."""
    length = min(length, n_train)
    device = next(grmn.parameters()).device

    def term() -> dict[str, Tensor]:
        cut = slice(start := int(rng.integers(n_train - length + 1)), start + length)
        out = grmn.stretches(clip.audio[None, cut].float().to(device), clip.aus[None, cut].to(device),
                             clip.identity[None].to(device))
        opening = gauge(clip.shape.to(device), out.expr, out.jaw)
        return {"open": weight * opening_loss(opening, clip.opening[cut].to(device))}

    return term
