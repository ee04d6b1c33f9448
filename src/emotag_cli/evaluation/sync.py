"""Lip sync: the weight-free AV-sync proxy, and where SyncNet's Sync-C / Sync-E would come from.

**AV-sync proxy** (not SyncNet; its numbers are not comparable to Sync-C / Sync-E). Two per-frame
signals at 25 fps:

- mouth opening: the mean 3D gap between three facing inner-lip points of MediaPipe's mesh
  (82-87, 13-14, 312-317), divided by the 3D inter-ocular distance (eye-corner midpoints), so it
  does not depend on face size or, to first order, on head turn;
- audio energy: log-RMS of each frame's 640 samples (16 kHz) in dB, floored 60 dB below the
  clip's loudest frame so that digital silence does not dominate.

Both signals are smoothed with a 3-frame (120 ms) moving average, which ignores missing frames.
The score is the Pearson correlation of ``opening[t]`` with ``energy[t + k]`` over the frames where
both exist, maximised over ``|k| <= max_offset`` frames (3 by default, 120 ms); ``k`` is reported
too (k > 0: the sound comes k frames after the mouth motion it best matches). Speech opens the
mouth for loud vowels and closes it in pauses, so a talking face with its own audio scores above
0 (0.15-0.61 on the 8 real clips, mean 0.33) and the same face with its audio delayed by 0.5 s or
1 s scores lower (means 0.10 and 0.04). It is a coarse check on clips of a few seconds: own audio
beat both delays on all 8 clips, by as little as 0.03, and lost to the 1 s delay on one of them
re-encoded at 256 px; see docs/reference/metrics.md.

**Sync-C / Sync-E** come from SyncNet v2 (the ``syncnet`` package), run when its weights are at
``syncnet_weights_path()``; without them both are reported unavailable with a message saying
where the file goes (``load_syncnet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backends import BackendStatus, cache_dir
from ..errors import MissingBackendError
from ..lip_signals import (  # noqa: F401 (re-exported: the proxy's signals)
    EYE_CORNERS,
    INNER_LIP_PAIRS,
    MIN_FRAMES,
    SMOOTH_FRAMES,
    lagged_correlation,
    mouth_opening,
    smooth,
)
from . import syncnet

ENERGY_FLOOR_DB = 60.0
DEFAULT_MAX_OFFSET = 3  # frames (120 ms): natural audio-visual lags in speech stay inside it

SYNCNET_FILE = "syncnet_v2.model"
SYNCNET_SOURCE = "joonson/syncnet_python's download_model.sh fetches it"


def frame_energy(audio: np.ndarray, n_frames: int, samples_per_frame: int = 640) -> np.ndarray:
    """Mono audio ``[S]`` -> float64 ``[n_frames]`` log-RMS in dB per frame (short tail zero-padded),
    floored ``ENERGY_FLOOR_DB`` below the loudest frame."""
    audio = np.asarray(audio, np.float64)
    need = n_frames * samples_per_frame
    audio = np.pad(audio[:need], (0, max(0, need - len(audio))))
    power = (audio.reshape(n_frames, samples_per_frame) ** 2).mean(axis=1)
    db = 10 * np.log10(np.maximum(power, 1e-20))
    return np.maximum(db, db.max() - ENERGY_FLOOR_DB)


@dataclass(frozen=True)
class SyncProxy:
    """correlation: best Pearson r over the offsets; offset: its k in frames (k > 0: audio late);
    at_zero: r at k = 0; frames: pairs used at the best offset."""

    correlation: float
    offset: int
    at_zero: float
    frames: int


def av_sync_proxy(opening: np.ndarray, energy: np.ndarray, max_offset: int = DEFAULT_MAX_OFFSET) -> SyncProxy:
    """The AV-sync proxy of per-frame ``opening [N]`` and ``energy [N]`` (see the module docstring).

    Ties go to the smallest |k|. All-NaN result (correlation NaN, frames 0) when no offset has
    ``MIN_FRAMES`` usable pairs.
    """
    opening, energy = smooth(opening), smooth(energy)
    best = SyncProxy(float("nan"), 0, float("nan"), 0)
    at_zero = float("nan")
    for k in sorted(range(-max_offset, max_offset + 1), key=abs):
        r, used = lagged_correlation(opening, energy, k)
        if k == 0:
            at_zero = r
        if np.isfinite(r) and (not np.isfinite(best.correlation) or r > best.correlation):
            best = SyncProxy(r, k, float("nan"), used)
    return SyncProxy(best.correlation, best.offset, at_zero, best.frames)


def syncnet_weights_path() -> Path:
    """Where emotag looks for SyncNet's weights: ``$EMOTAG_HOME/syncnet/syncnet_v2.model``."""
    return cache_dir() / "syncnet" / SYNCNET_FILE


def syncnet_status() -> BackendStatus:
    """``emotag doctor`` line: whether SyncNet's weights are in place (the file is not opened)."""
    path = syncnet_weights_path()
    if path.is_file():
        return BackendStatus("eval/syncnet", True, str(path))
    return BackendStatus("eval/syncnet", False, str(path),
                         f"for Sync-C / Sync-E put {SYNCNET_FILE} there ({SYNCNET_SOURCE})")


def load_syncnet() -> syncnet.SyncNet:
    """SyncNet v2 with the user's weights.

    MissingBackendError (saying where the file goes) without the file; EmotagError when the file
    is not a SyncNet v2 state dict.
    """
    path = syncnet_weights_path()
    if not path.is_file():
        raise MissingBackendError(f"Sync-C / Sync-E need SyncNet's weights {SYNCNET_FILE} ({SYNCNET_SOURCE}) "
                                  f"at {path}; the AV-sync proxy is reported instead")
    return syncnet.load_syncnet(path)
