"""How much of a face change a head model's expression space can express.

A change ``d`` of the 468 face landmarks (an emotional face minus the same person's neutral one,
aligned to the canonical face as the builder aligns them, metres) is projected by least squares
onto the span of the model's motion at rest: its expression components and the three jaw
rotation directions. What is left outside that span is what no expression coefficients or jaw
could ever produce; its share of the change's energy is the coverage gap (0 = fully expressible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .topology import N_FACE

NOSE_TIP = 1  # MediaPipe landmark: points above it are the upper face (brows, lids), below it the lower


@dataclass(frozen=True)
class SpanResidual:
    """Energy share of a change outside the model's motion span: whole face, upper and lower face."""

    total: float
    upper: float
    lower: float


def motion_span(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(``basis [468·3, K + 3]``, ``upper [468]`` bool) of an open-model asset's arrays.

    The columns are the expression components on the face points and the jaw's derivative
    directions at rest: a vertex v with jaw weight w moves by w · (e_a × (v − J)) per radian about
    axis a (linear blend skinning of a small turn about the jaw joint J).
    """
    v = np.asarray(arrays["v_template"], np.float64)
    expr = np.asarray(arrays["exprdirs"], np.float64)[:N_FACE]                    # [468, 3, K]
    joint = np.asarray(arrays["J_regressor"], np.float64)[2] @ v
    w = np.asarray(arrays["lbs_weights"], np.float64)[:N_FACE, 2]
    arm = v[:N_FACE] - joint
    jaw = np.stack([w[:, None] * np.cross(np.eye(3)[a], arm) for a in range(3)], axis=-1)   # [468, 3, 3]
    basis = np.concatenate([expr, jaw], axis=2).reshape(N_FACE * 3, -1)
    return basis, v[:N_FACE, 1] > v[NOSE_TIP, 1]


def span_residual(basis: np.ndarray, upper: np.ndarray, changes: np.ndarray) -> SpanResidual:
    """Pooled energy share of ``changes [M, 468, 3]`` outside span(``basis``), per face region."""
    d = changes.reshape(len(changes), -1).T                                       # [468·3, M]
    coef, *_ = np.linalg.lstsq(basis, d, rcond=None)
    r = (d - basis @ coef).T.reshape(len(changes), N_FACE, 3)
    d = changes

    def share(mask: np.ndarray) -> float:
        return float((r[:, mask] ** 2).sum() / max((d[:, mask] ** 2).sum(), 1e-30))

    return SpanResidual(share(np.ones(N_FACE, bool)), share(upper), share(~upper))
