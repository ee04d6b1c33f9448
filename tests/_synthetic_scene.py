"""A synthetic tracked scene, for the training, render and eval tests when ../shared is absent.

The open head model (shipped with the package) is posed per frame — a slow head sway, a jaw that
opens with the loudness of a synthetic voice, small smooth expressions — and seen by a fixed
pinhole camera. What preprocess would measure is made from that ground truth:

- frames: the posed mesh, Lambert-shaded in a skin tone over a flat background; masks: head where
  the mesh is drawn; background.png: the flat background;
- landmarks.npy: the model's landmarks projected (the open model's are MediaPipe's 478);
- audio.wav: a voiced sound (harmonics of 120 Hz) whose loudness rises and falls four times a
  second; audio_features.npy, aus.npy: computed from it and from the landmarks by the real
  preprocess code (mel encoder, landmark AUs);
- emotion.npy: a smooth mix of neutral and one emotion (set, not measured: no teacher runs);
  identity.npy: a random unit vector per seed.

Then the real ``emotag track`` fits the head model to the landmarks. Deterministic per seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from emotag_cli.artifact import new_manifest, write_manifest
from emotag_cli.camera import FLIP
from emotag_cli.config import PreprocessConfig, TrackConfig, to_dict
from emotag_cli.contract import AUDIO_RATE, EMOTIONS, FPS, NEUTRAL, SAMPLES_PER_FRAME
from emotag_cli.head.lbs import HeadPose, flame_forward, landmarks_from_vertices
from emotag_cli.head.open_model import load_open_model
from emotag_cli.preprocess.action_units import compute_aus
from emotag_cli.preprocess.audio_features import extract_audio_features
from emotag_cli.progress import quiet
from emotag_cli.raster.mesh import render_depth_normals
from emotag_cli.scene import MASK_HEAD, SCENE_KIND, SCENE_VERSION, Scene, frame_name
from emotag_cli.track.pipeline import track

SKIN = np.array([0.85, 0.64, 0.52])
BACKGROUND = np.array([0.35, 0.45, 0.55])
CAMERA_DISTANCE = 1.3          # metres, as the tracker's default focal prior assumes
FOCAL = 4.0                    # focal length / frame side


def synthetic_voice(n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(16 kHz mono float32 [n_frames · 640], loudness per frame [n_frames] in [0, 1])."""
    t = np.arange(n_frames * SAMPLES_PER_FRAME) / AUDIO_RATE
    phase = rng.uniform(0, 2 * np.pi)
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t + phase), 0, None) ** 2          # four syllables a second
    voice = sum(np.sin(2 * np.pi * 120.0 * k * t) / k for k in range(1, 12))
    wav = (0.3 * envelope * voice / 3 + 0.003 * rng.standard_normal(t.shape)).astype(np.float32)
    return wav, envelope.reshape(n_frames, SAMPLES_PER_FRAME).mean(1)


def make_scene(folder: Path, seed: int, n_frames: int = 40, size: int = 96) -> Path:
    """Write a synthetic scene into ``folder`` (module docstring) and track it; returns its path."""
    import cv2
    import soundfile as sf

    rng = np.random.default_rng(seed)
    model = load_open_model()
    wav, loudness = synthetic_voice(n_frames, rng)
    t = np.arange(n_frames) / FPS
    smooth = np.cumsum(rng.standard_normal((n_frames, 10)), 0) * 0.05
    pose = HeadPose(
        shape=torch.from_numpy(np.repeat(rng.standard_normal((1, 10)) * 0.8, n_frames, 0)).float(),
        expr=torch.from_numpy(np.clip(smooth, -0.6, 0.6)).float(),
        rotation=torch.zeros(n_frames, 3),
        neck=torch.from_numpy(np.stack([0.05 * np.sin(2 * np.pi * 0.5 * t), 0.08 * np.sin(2 * np.pi * 0.3 * t),
                                        np.zeros(n_frames)], 1)).float(),
        jaw=torch.from_numpy(np.stack([0.25 * loudness, np.zeros(n_frames), np.zeros(n_frames)], 1)).float(),
        eyes=torch.zeros(n_frames, 6), translation=torch.zeros(n_frames, 3))
    with torch.no_grad():
        posed = flame_forward(model, pose)                                                # [N, V, 3]
        lmk = landmarks_from_vertices(model, posed).double().numpy()                      # [N, 478, 3]
    verts = posed.double().numpy()
    centre = verts[0].mean(0)
    R, T = FLIP, -FLIP @ (centre + np.array([0.0, 0.0, CAMERA_DISTANCE]))
    K = np.array([[FOCAL * size, 0, size / 2], [0, FOCAL * size, size / 2], [0, 0, 1]])
    light = np.array([0.3, -0.4, -0.87])          # camera frame: towards the light (up, to the camera)

    folder = Path(folder)
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    landmarks = np.zeros((n_frames, lmk.shape[1], 3), np.float32)
    for i in range(n_frames):
        cam = verts[i] @ R.T + T
        depth, normals, _ = render_depth_normals(cam, model.faces.numpy(), K, size, size)
        drawn = depth > 0
        shade = 0.25 + 0.75 * np.clip(normals @ light, 0, 1)
        image = np.where(drawn[..., None], SKIN * shade[..., None], BACKGROUND)
        cv2.imwrite(str(folder / "frames" / f"{frame_name(i)}.jpg"), (image[:, :, ::-1] * 255).astype(np.uint8))
        cv2.imwrite(str(folder / "masks" / f"{frame_name(i)}.png"), np.where(drawn, MASK_HEAD, 0).astype(np.uint8))
        p = lmk[i] @ R.T + T
        landmarks[i, :, :2] = (p[:, :2] / p[:, 2:]) * FOCAL * size + size / 2
        landmarks[i, :, 2] = (p[:, 2] - p[:, 2].mean()) * FOCAL * size / p[:, 2].mean()
    cv2.imwrite(str(folder / "background.png"), np.full((size, size, 3), BACKGROUND[::-1] * 255, np.uint8))
    np.save(folder / "landmarks.npy", landmarks)
    np.save(folder / "face_found.npy", np.ones(n_frames, bool))
    np.save(folder / "crop.npy", np.tile(np.array([size / 2, size / 2, size], np.float32), (n_frames, 1)))

    sf.write(folder / "audio.wav", wav, AUDIO_RATE, subtype="PCM_16")
    features, audio_meta = extract_audio_features(wav, n_frames, encoder="mel")
    np.save(folder / "audio_features.npy", features.astype(np.float16))
    aus, aus_meta = compute_aus(landmarks, source="landmarks", fps=FPS)
    np.save(folder / "aus.npy", aus.astype(np.float32))
    emotion = np.zeros((n_frames, len(EMOTIONS)), np.float32)
    mix = 0.5 + 0.4 * np.sin(2 * np.pi * t / max(t[-1], 1e-6))
    emotion[:, NEUTRAL] = mix
    emotion[:, seed % NEUTRAL] = 1 - mix
    np.save(folder / "emotion.npy", emotion)
    identity = rng.standard_normal(128).astype(np.float32)
    np.save(folder / "identity.npy", identity / np.linalg.norm(identity))

    write_manifest(folder, new_manifest(
        SCENE_KIND, SCENE_VERSION, to_dict(PreprocessConfig(size=size, audio_encoder="mel")),
        inputs={"video": {"path": f"synthetic:{seed}", "sha256": None, "bytes": 0}},
        n_frames=n_frames, fps=float(FPS), size=size, has_audio=True, audio_rate=AUDIO_RATE,
        features={"audio": audio_meta, "aus": aus_meta, "emotion": {"model": "synthetic"},
                  "identity": {"encoder": "synthetic", "dim": 128}},
        synthetic={"seed": seed, "camera_distance_m": CAMERA_DISTANCE, "focal": FOCAL}))
    Scene.open(folder)
    track(folder, TrackConfig(rigid_iters=5, iters=10, overlay="none"), reporter=quiet())
    return folder
