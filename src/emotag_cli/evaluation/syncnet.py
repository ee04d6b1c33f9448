"""SyncNet v2 (Chung & Zisserman 2016, "Out of time") and its Sync-C / Sync-E scores.

A re-implementation of what joonson/syncnet_python's ``SyncNetInstance.evaluate`` computes with
``syncnet_v2.model`` (the LSE-C / LSE-D of Wav2Lip and most talking-head papers). Facts carried
over from it:

- **Network.** Two branches into a shared 1024-d space. Audio: 2D convolutions over an MFCC
  window ``[B, 1, 13, 20]`` (13 coefficients x 20 steps of 10 ms = 0.2 s), then
  Linear 512->512, BatchNorm1d, ReLU, Linear 512->1024. Lips: 3D convolutions over 5 consecutive
  224 x 224 face crops ``[B, 3, 5, 224, 224]``, then the same head. Module and index names
  (``netcnnaud``, ``netfcaud``, ``netcnnlip``, ``netfclip``) are those of the published state dict.
- **Inputs.** Crops are BGR (syncnet_python reads frames with OpenCV) with values 0..255, not
  normalised. MFCCs are python_speech_features' ``mfcc(int16 samples, 16000)`` defaults, see
  ``mfcc``. Window t covers video frames ``[t, t + 5)`` and MFCC steps ``[4t, 4t + 20)``; with N
  frames there are ``N - 5`` windows (syncnet_python stops one short of the last full window).
- **Scoring** (``sync_scores``): for each shift ``s`` in -15..15 the mean over windows t of
  ``||lip[t] - audio[t + s]||``, where an audio index outside the clip is a zero vector (the
  original zero-pads, it does not repeat the edge). Sync-E (LSE-D) = the minimum of these 31
  means, Sync-C (LSE-C) = their median minus that minimum, and the AV offset = ``-s`` at the
  minimum (syncnet_python's sign: lip window t matches audio window ``t - offset``, so a
  positive offset means the sound comes *earlier* than the mouth motion).

What differs: syncnet_python finds faces with S3FD and crops an XVID-compressed track; emotag
crops around MediaPipe's landmarks with the same geometry (``face_boxes``, ``crop_face``) from the
decoded frames. Numbers are close to, not identical with, those of the original pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.fft
import scipy.ndimage
import torch
from torch import Tensor, nn

from ..errors import EmotagError
from ..preprocess.face_align import landmark_boxes

EMBEDDING = 1024
WINDOW = 5  # video frames per input: 0.2 s at 25 fps
MFCC_PER_FRAME = 4  # 100 Hz MFCC steps per 25 fps frame
MFCC_WINDOW = WINDOW * MFCC_PER_FRAME  # 20
CROP = 224
VSHIFT = 15  # offset search, frames (syncnet_python's default)
BATCH = 20  # windows per forward pass (syncnet_python's default; peak memory about 0.3 GB)

# python_speech_features.mfcc defaults (winlen 0.025 s, winstep 0.01 s at 16 kHz).
AUDIO_RATE = 16000
N_MFCC = 13
N_FILTERS = 26
NFFT = 512
PREEMPH = 0.97
CEPLIFTER = 22
INT16_SCALE = 32768.0  # syncnet_python feeds int16 samples; the scale sets coefficient 0 (log energy)

# run_pipeline.py's crop: a square 2.8 detection half-sizes wide, its top one half-size above the
# box centre, so the extra height lies below the face; off-frame pixels are grey 110; tracks
# median-smoothed over 13 frames.
CROP_SCALE = 0.4
PAD_GREY = 110
SMOOTH_FRAMES = 13


def _conv_bn(conv: nn.Module, bn: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)]


def _head() -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, EMBEDDING))


class SyncNet(nn.Module):
    """SyncNet v2 in inference mode. ``audio``: ``[B, 1, 13, 20]`` MFCC -> ``[B, 1024]``;
    ``lips``: ``[B, 3, 5, 224, 224]`` BGR 0..255 -> ``[B, 1024]``.

    The Sequential indices (convolutions at 0, 4, 8, 11, 14, 18, their BatchNorms one after)
    follow the published state dict, so ``syncnet_v2.model`` loads as is.
    """

    def __init__(self) -> None:
        super().__init__()
        c2, b2, c3, b3 = nn.Conv2d, nn.BatchNorm2d, nn.Conv3d, nn.BatchNorm3d
        self.netcnnaud = nn.Sequential(
            *_conv_bn(c2(1, 64, 3, padding=1), b2(64)), nn.MaxPool2d(1, 1),
            *_conv_bn(c2(64, 192, 3, padding=1), b2(192)), nn.MaxPool2d(3, (1, 2)),
            *_conv_bn(c2(192, 384, 3, padding=1), b2(384)),
            *_conv_bn(c2(384, 256, 3, padding=1), b2(256)),
            *_conv_bn(c2(256, 256, 3, padding=1), b2(256)), nn.MaxPool2d(3, 2),
            *_conv_bn(c2(256, 512, (5, 4)), b2(512)),  # 5 x 4 -> 1 x 1
        )
        self.netfcaud = _head()
        self.netcnnlip = nn.Sequential(
            *_conv_bn(c3(3, 96, (5, 7, 7), (1, 2, 2)), b3(96)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn(c3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), b3(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_conv_bn(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_bn(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_bn(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn(c3(256, 512, (1, 6, 6)), b3(512)),  # 1 x 6 x 6 -> 1 x 1 x 1
        )
        self.netfclip = _head()
        self.requires_grad_(False)
        self.eval()

    def audio(self, mfcc: Tensor) -> Tensor:
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def lips(self, frames: Tensor) -> Tensor:
        return self.netfclip(self.netcnnlip(frames).flatten(1))


# Lines of torch's weights_only refusal that are the same for every file; the rest says why.
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _reason(exc: Exception) -> str:
    lines = [s.strip() for s in str(exc).splitlines() if s.strip() and not s.strip().startswith(_TORCH_BOILERPLATE)]
    return f"{exc.__class__.__name__}: {lines[0][:160] if lines else 'no reason given'}"


def load_syncnet(path: Path) -> SyncNet:
    """The network with the weights of ``path`` (read with ``weights_only=True``: no code runs).

    The file must hold every parameter and BatchNorm statistic of ``SyncNet`` with its shape;
    ``num_batches_tracked`` may be absent (files saved by old PyTorch lack it). Anything else is a
    one-line EmotagError.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - random bytes, a code payload, a zip of another kind: one problem
        raise EmotagError(f"{path} is not a SyncNet v2 state dict: torch.load(weights_only=True) "
                          f"refused it ({_reason(exc)})") from None
    if not isinstance(state, dict):
        raise EmotagError(f"{path} is not a SyncNet v2 state dict: it holds a {type(state).__name__}")
    model = SyncNet()
    want = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in want if not isinstance(state.get(k), Tensor)]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise EmotagError(f"{path} is not a SyncNet v2 state dict: missing keys {shown} "
                          f"({len(missing)} of {len(want)})")
    for key, ref in want.items():
        if state[key].shape != ref.shape:
            raise EmotagError(f"{path} is not a SyncNet v2 state dict: {key} is {tuple(state[key].shape)}, "
                              f"expected {tuple(ref.shape)}")
    model.load_state_dict({k: state[k].float() for k in want}, strict=False)
    return model


# ---------------------------------------------------------------- audio

def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(rate: int = AUDIO_RATE) -> np.ndarray:
    """``[26, 257]`` triangles on FFT bins: 28 points equally spaced in mel from 0 Hz to rate / 2,
    each rounded down to bin ``floor(513 * hz / rate)``; filter j rises from point j to j+1 and
    falls to j+2 (python_speech_features' ``get_filterbanks``)."""
    edges = np.floor((NFFT + 1) * _mel_to_hz(np.linspace(0, _hz_to_mel(rate / 2), N_FILTERS + 2)) / rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    k = np.arange(NFFT // 2 + 1)[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where((k >= lo) & (k < mid), (k - lo) / (mid - lo), 0.0)
        fall = np.where((k >= mid) & (k < hi), (hi - k) / (hi - mid), 0.0)
    return rise + fall


def mfcc(audio: np.ndarray, rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float audio ``[S]`` in [-1, 1] -> float64 ``[M, 13]`` MFCCs at 100 Hz.

    python_speech_features' ``mfcc(x, 16000)`` of the int16 samples ``x = audio * 32768``:
    pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]`` (``y[0] = x[0]``); 25 ms frames (400 samples) every
    10 ms, no window, the last one zero-padded, ``M = 1 + ceil((S - 400) / 160)``; power spectrum
    ``|rfft_512|^2 / 512``; log of the 26 mel filter energies; orthonormal DCT-II, first 13;
    lifter ``1 + 11 sin(pi n / 22)``; coefficient 0 replaced by the log of the frame's total power
    (the sum of its 257 power bins). Zeros become machine epsilon before a log.
    """
    x = np.asarray(audio, np.float64) * INT16_SCALE
    x = np.append(x[:1], x[1:] - PREEMPH * x[:-1])
    win, hop = round(0.025 * rate), round(0.01 * rate)
    m = 1 if len(x) <= win else 1 + int(np.ceil((len(x) - win) / hop))
    x = np.pad(x, (0, (m - 1) * hop + win - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:m]
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    eps = np.finfo(np.float64).eps
    bands = power @ mel_filterbank(rate).T
    cep = scipy.fft.dct(np.log(np.where(bands == 0, eps, bands)), type=2, norm="ortho", axis=1)[:, :N_MFCC]
    cep *= 1 + (CEPLIFTER / 2) * np.sin(np.pi * np.arange(N_MFCC) / CEPLIFTER)
    energy = power.sum(axis=1)
    cep[:, 0] = np.log(np.where(energy == 0, eps, energy))
    return cep


# ---------------------------------------------------------------- face crops

def face_boxes(landmarks: np.ndarray) -> np.ndarray | None:
    """MediaPipe landmarks ``[N, 478, 3]`` (pixels, NaN rows) -> float64 ``[N, 3]`` (cx, cy, half).

    The stand-in for S3FD's detection: the x/y bounding box of the mesh (forehead to chin, cheek to
    cheek), its centre and half its longer side. Frames without a face take the box linearly
    interpolated from their neighbours (held at the ends), as syncnet_python fills missed
    detections inside a track; then each of the three is median-filtered over 13 frames (edges
    repeated, where the original zero-pads). None when no frame has a face.
    """
    b = landmark_boxes(np.asarray(landmarks, np.float32)).astype(np.float64)  # [N, 4] x0 y0 x1 y1
    ok = np.isfinite(b[:, 0])
    if not ok.any():
        return None
    found = np.column_stack([(b[ok, 0] + b[ok, 2]) / 2, (b[ok, 1] + b[ok, 3]) / 2,
                             np.maximum(b[ok, 2] - b[ok, 0], b[ok, 3] - b[ok, 1]) / 2])
    t = np.arange(len(b))
    boxes = np.column_stack([np.interp(t, t[ok], found[:, j]) for j in range(3)])
    return scipy.ndimage.median_filter(boxes, size=(SMOOTH_FRAMES, 1), mode="nearest")


def crop_face(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` and a box (cx, cy, half) -> BGR uint8 ``[224, 224, 3]``.

    Rows ``[cy - half, cy + 1.8 half)``, columns ``cx -/+ 1.4 half`` (a square 2.8 half wide), grey
    110 outside the frame, resized bilinearly (run_pipeline.py's ``crop_video`` geometry).
    """
    cx, cy, half = (float(v) for v in box)
    half = max(half, 1.0)
    y0, y1 = int(np.floor(cy - half)), int(np.floor(cy + half * (1 + 2 * CROP_SCALE)))
    x0, x1 = int(np.floor(cx - half * (1 + CROP_SCALE))), int(np.floor(cx + half * (1 + CROP_SCALE)))
    out = np.full((y1 - y0, x1 - x0, 3), PAD_GREY, np.uint8)
    h, w = rgb.shape[:2]
    sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1, ::-1]
    return cv2.resize(out, (CROP, CROP), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------- embeddings and scores

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
