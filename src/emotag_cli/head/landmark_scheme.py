"""Which MediaPipe landmark each of a head model's landmarks is (its landmark scheme)."""

from __future__ import annotations

import numpy as np

from ..contract import N_LANDMARKS
from .model import HeadModel


def mediapipe_indices(model: HeadModel) -> np.ndarray:
    """[L] int: the MediaPipe landmark (0..477) each model landmark corresponds to.

    From ``model.meta["landmark_indices"]``; a model with 478 landmarks and no such entry is taken
    to be in MediaPipe order.
    """
    idx = model.meta.get("landmark_indices")
    if idx is None:
        if model.n_landmarks != N_LANDMARKS:
            raise ValueError(f"{model.id}: {model.n_landmarks} landmarks and no meta['landmark_indices']")
        return np.arange(N_LANDMARKS)
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    if idx.shape[0] != model.n_landmarks or idx.min() < 0 or idx.max() >= N_LANDMARKS:
        raise ValueError(f"{model.id}: meta['landmark_indices'] does not map its {model.n_landmarks} "
                         f"landmarks into the {N_LANDMARKS} MediaPipe landmarks")
    return idx
