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

from .crop import CROP, crop_face, face_boxes
from .mfcc import AUDIO_RATE, mel_filterbank, mfcc
from .model import EMBEDDING, SyncNet, load_syncnet
from .score import (
           BATCH,
           MFCC_PER_FRAME,
           MFCC_WINDOW,
           VSHIFT,
           WINDOW,
           SyncScore,
           audio_embeddings,
           lip_embeddings,
           n_windows,
           sync_scores,
)

__all__ = ["AUDIO_RATE", "BATCH", "CROP", "EMBEDDING", "MFCC_PER_FRAME", "MFCC_WINDOW", "VSHIFT", "WINDOW", "SyncNet",
           "SyncScore", "audio_embeddings", "crop_face", "face_boxes", "lip_embeddings", "load_syncnet",
           "mel_filterbank", "mfcc", "n_windows", "sync_scores"]
