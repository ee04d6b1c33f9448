"""The facts every artifact and stage agrees on, in one place: the emotion classes, the action
units, the audio and video rates and the landmark scheme. Artifacts store arrays in these orders
(scene.py); changing one is a new schema version."""

from __future__ import annotations

# The emotion teacher's classes, in the column order of every [.., 7] distribution (scene
# emotion.npy, the GRMN's emotion logits, render requests).
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NEUTRAL = EMOTIONS.index("neutral")

# The upper-face action units the motion network is conditioned on, in the column order of aus.npy.
AU_NAMES = ("AU01", "AU04", "AU05", "AU06", "AU07", "AU45")

AUDIO_RATE = 16_000          # Hz: scene audio.wav, every audio encoder's input
FPS = 25                     # frames per second of every scene and render
SAMPLES_PER_FRAME = AUDIO_RATE // FPS          # 640

N_LANDMARKS = 478            # MediaPipe FaceMesh with irises: landmarks.npy [N, 478, 3]
