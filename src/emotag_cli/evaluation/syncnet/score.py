"""Embeddings of whole clips, window by window, and the offset search that gives Sync-C / Sync-E
(syncnet_python's ``SyncNetInstance.evaluate``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .model import EMBEDDING, SyncNet

WINDOW = 5  # video frames per input: 0.2 s at 25 fps
MFCC_PER_FRAME = 4  # 100 Hz MFCC steps per 25 fps frame
MFCC_WINDOW = WINDOW * MFCC_PER_FRAME  # 20
VSHIFT = 15  # offset search, frames (syncnet_python's default)
BATCH = 20  # windows per forward pass (syncnet_python's default; peak memory about 0.3 GB)


def n_windows(n_frames: int) -> int:
    """syncnet_python's window count for ``n_frames`` frames with as much audio: ``n - 5``."""
    return max(0, n_frames - WINDOW)


def audio_embeddings(model: SyncNet, coeffs: np.ndarray, count: int) -> Tensor:
    """MFCCs ``[M, 13]`` (M >= 4 count + 16) -> ``[count, 1024]``: window t from steps [4t, 4t + 20)."""
    cc = torch.from_numpy(np.ascontiguousarray(coeffs.T)).float()  # [13, M]
    windows = cc.unfold(1, MFCC_WINDOW, MFCC_PER_FRAME)[:, :count].permute(1, 0, 2)[:, None]  # [count, 1, 13, 20]
    with torch.no_grad():
        return torch.cat([model.audio(windows[i:i + BATCH]) for i in range(0, count, BATCH)])


def lip_embeddings(model: SyncNet, crops: Iterable[np.ndarray], count: int,
                   advance=lambda n: None) -> Tensor:
    """BGR crops ``[224, 224, 3]``, one per frame (at least count + 4) -> ``[count, 1024]``.

    Window t stacks crops t..t+4. Crops are consumed as a stream, ``BATCH`` windows at a time, so
    memory does not grow with the clip. ``advance(n)`` is called after each batch.
    """
    it: Iterator[np.ndarray] = iter(crops)
    held: list[np.ndarray] = []
    out = []
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        while len(held) < size + WINDOW - 1:
            held.append(next(it))
        x = torch.from_numpy(np.stack(held)).float().permute(3, 0, 1, 2)  # [3, F, 224, 224]
        batch = torch.stack([x[:, i:i + WINDOW] for i in range(size)])  # [size, 3, 5, 224, 224]
        with torch.no_grad():
            out.append(model.lips(batch))
        held = held[size:]
        advance(size)
    return torch.cat(out) if out else torch.zeros(0, EMBEDDING)


@dataclass(frozen=True)
class SyncScore:
    """confidence: Sync-C (LSE-C); min_distance: Sync-E (LSE-D); offset: syncnet_python's AV offset
    in frames (> 0: the audio is ahead of the video); mean_distances: ``[31]`` the mean distance at
    each audio shift -15..15 (index ``vshift + s``)."""

    confidence: float
    min_distance: float
    offset: int
    mean_distances: np.ndarray


def sync_scores(lip: Tensor, audio: Tensor, vshift: int = VSHIFT) -> SyncScore:
    """Lip and audio embeddings ``[N, D]`` -> the scores (see the module docstring).

    Distances are ``F.pairwise_distance`` (Euclidean, with its 1e-6 added to the difference), as in
    syncnet_python. The first minimum wins ties, i.e. the most negative shift.
    """
    n = len(lip)
    padded = torch.nn.functional.pad(audio, (0, 0, vshift, vshift))  # zero rows: out-of-clip audio
    mean = torch.stack([torch.nn.functional.pairwise_distance(lip, padded[j:j + n]).mean()
                        for j in range(2 * vshift + 1)]).double().numpy()
    best = int(np.argmin(mean))
    return SyncScore(float(np.median(mean) - mean[best]), float(mean[best]), vshift - best, mean)
