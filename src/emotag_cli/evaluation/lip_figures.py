"""The lip-sync figures beside the AV-sync proxy, each answering a narrower question.

- ``mouth_opening_vs_reference``: Pearson r, frame by frame, of the rendered video's inner-lip
  opening with the reference's (MediaPipe landmarks on both; ``sync.mouth_opening``). The figure
  closest to ground truth: it rewards a mouth that opens and closes when the real one did.
- ``phone_sync``: r at lag 0 of the video's opening with a phonetic mouth-opening track of its
  audio (how far open the mouth should be for the phones being spoken), which rewards
  articulation rather than loudness. The track is ``PHONETIC_TRACK`` (the phones mouth-opening
  track of preprocess/audio_features/visemes.py).

The zero-lag AV-sync proxy lives with the proxy (``run._sync_proxy``). docs/reference/metrics.md
says what each figure can and cannot show.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..preprocess.audio_features import visemes
from . import sync
from .report import Metric

# (wav [S] float32 at 16 kHz, fps) -> [T] float32 mouth opening in [0, 1] for the phones heard
# (pocketsphinx; docs/reference/audio-features.md). None turns ``phone_sync`` off.
PHONETIC_TRACK: Callable[[np.ndarray, float], np.ndarray] | None = visemes.mouth_opening
PHONE_SYNC_MISSING = "no phonetic mouth-opening track is installed in this emotag (the phone-aware figure's slot)"


def _correlate(metric: Metric, a: np.ndarray, b: np.ndarray, source: str) -> Metric:
    n = min(len(a), len(b))
    r, used = sync.lagged_correlation(np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64), 0)
    metric.frames_scored, metric.frames_unscored = used, n - used
    if not np.isfinite(r):
        return metric.missing(f"fewer than {sync.MIN_FRAMES} frames with a face on both sides, or a constant signal")
    metric.value, metric.source = r, source
    return metric


def mouth_opening_vs_reference(mesh_video: np.ndarray, mesh_ref: np.ndarray | None, no_reference: str) -> Metric:
    """r of the openings of ``mesh_video [N, 478, 3]`` and ``mesh_ref [N, 478, 3]``, paired frames."""
    m = Metric("mouth_opening_vs_reference", "Mouth opening vs reference", "", "higher")
    if mesh_ref is None:
        return m.missing(no_reference)
    return _correlate(m, sync.mouth_opening(mesh_video), sync.mouth_opening(mesh_ref),
                      "inner-lip opening of the video vs the reference, frame by frame (lag 0)")


def phone_sync(mesh_video: np.ndarray, audio: np.ndarray | None, fps: float, no_audio: str) -> Metric:
    """r at lag 0 of the video's opening with ``PHONETIC_TRACK`` of its own audio."""
    m = Metric("phone_sync", "Phone-aware sync", "", "higher")
    if PHONETIC_TRACK is None:
        return m.missing(PHONE_SYNC_MISSING)
    if audio is None:
        return m.missing(no_audio)
    return _correlate(m, sync.mouth_opening(mesh_video), PHONETIC_TRACK(audio, fps),
                      "mouth opening vs the phonetic opening of the audio (lag 0)")
