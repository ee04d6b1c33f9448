"""scripts/lip_sync_report.py's lag profile: r of the prediction at t against the recording at t + k."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from lip_sync_report import lagged_corr  # noqa: E402


def test_a_prediction_two_frames_early_peaks_at_lag_plus_two():
    rng = np.random.default_rng(0)
    recorded = np.convolve(rng.normal(size=80), np.ones(3) / 3, mode="same")     # smooth, like a lip gap
    early = np.roll(recorded, -2)                                               # early[t] = recorded[t + 2]
    profile = lagged_corr(early[:-2], recorded[:-2], 4)
    assert sorted(profile) == list(range(-4, 5))
    assert max(profile, key=profile.get) == 2 and profile[2] > 0.999
    assert profile[0] < 0.9 and profile[-2] < profile[0]
    late = lagged_corr(recorded[2:], early[2:], 4)                              # the other way round
    assert max(late, key=late.get) == -2
