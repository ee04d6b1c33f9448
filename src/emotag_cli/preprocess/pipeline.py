"""The preprocess stage: video → scene (layout in emotag_cli.scene).

Two decoding passes keep memory flat whatever the clip's length:
1. a low-resolution pass finds the largest face in every frame (crop planning);
2. a full-resolution pass cuts the crop, writes the frames, runs landmarks and segmentation.
The features that need whole-clip context (audio, AUs, emotion, identity) then read what pass 2
wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifact import atomic_folder, file_sha256, new_manifest, write_manifest
from ..config import PreprocessConfig, to_dict
from ..errors import EmotagError
from ..media.audio import align_to_frames, decode_audio
from ..media.probe import MediaInfo, probe
from ..media.video import decode_cfr
from ..progress import Reporter, quiet
from ..scene import AUDIO_RATE, N_LANDMARKS, SCENE_KIND, SCENE_VERSION, Scene, frame_name
from ._mediapipe import quiet_native_stderr
from .background import background_plate
from .crop import apply_crop, crop_track
from .face_mesh import FaceMesh, face_box
from .masks import PersonSegmenter, head_torso_labels
from .preview import annotate, contact_sheet

DETECT_SIDE = 640          # pass-1 decode size: enough for faces down to ~40 px
MIN_FRAMES = 2
PLATE_SAMPLES = 48         # frames sampled for the background plate
PREVIEW_TILES = 8          # frames in preview.jpg
MIN_FACE_FRACTION = 0.5    # fewer frames with a face than this is refused
SILENT_PEAK = 1e-4         # an audio track whose peak stays below this is taken as no audio
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".aac")


def preprocess(video: Path, out: Path, config: PreprocessConfig | None = None, overwrite: bool = False,
               reporter: Reporter | None = None, audio: Path | None = None) -> Scene:
    """Run every preprocess step on ``video`` and write the scene folder ``out`` atomically.

    ``audio``: a separate sound file to use instead of the video's own track (its sample 0 at the
    video's frame 0), e.g. the paired WAV of a clip stored without sound.
    """
    config = config or PreprocessConfig()
    config.validate()
    reporter = reporter or quiet()
    video = Path(video)
    info = probe(video)
    if audio is not None and not Path(audio).is_file():
        raise EmotagError(f"{audio}: no such file")
    sound = Path(audio) if audio is not None else video if info.has_audio else None
    n = info.n_frames(config.fps)
    if n < MIN_FRAMES:
        raise EmotagError(
            f"{video.name} is too short: {info.duration_s:.2f} s gives {n} frame(s) at {config.fps:g} fps")
    seconds = n / config.fps
    if seconds < config.min_seconds_warn:
        reporter.warn(
            f"{video.name} lasts {seconds:.1f} s ({n} frames): `emotag adapt --seconds 5` needs "
            f"{int(5 * config.fps)} frames; use a shorter --seconds with this scene"
        )
    if sound is None:
        reporter.warn(f"{video.name} has no audio track: the scene can be tracked and used for expressions, "
                      f"but adapt, pretrain and eval need audio (give one with --audio FILE)")
    teacher = _check_backends(config)

    with atomic_folder(out, overwrite=overwrite) as tmp:
        with quiet_native_stderr():
            boxes, n_faces = _detect_faces(info, n, config, reporter)
        found = ~np.isnan(boxes).any(axis=1)
        if not found.any():
            raise EmotagError(f"no face found in any frame of {video.name}")
        if found.mean() < MIN_FACE_FRACTION:
            raise EmotagError(
                f"a face was found in only {found.sum()} of {n} frames of {video.name}; "
                f"emotag needs a visible face in most frames"
            )
        if n_faces > 1:
            reporter.warn(f"up to {n_faces} faces in {video.name}: the largest one is used")
        crops = crop_track(boxes, info.width, info.height, scale=config.crop_scale,
                           y_shift=config.crop_y_shift, mode=config.crop,
                           smooth_frames=config.crop_smooth_s * config.fps)
        with quiet_native_stderr():
            landmarks = _crop_pass(info, n, crops, tmp, config, reporter)
        face_found = ~np.isnan(landmarks).any(axis=(1, 2))
        if not face_found.any():
            raise EmotagError(f"no face landmarks found in the crops of {video.name}")
        np.save(tmp / "crop.npy", crops)
        np.save(tmp / "landmarks.npy", landmarks)
        np.save(tmp / "face_found.npy", face_found)

        features: dict[str, dict] = {}
        if sound is not None:
            wav = _scene_audio(sound, info, n, config)
            if np.abs(wav).max(initial=0.0) < SILENT_PEAK:
                reporter.warn(f"the audio of {sound.name} is silent: the scene is kept without audio")
                sound = None
            else:
                features["audio"] = _audio(wav, n, tmp, config, reporter)
        features["aus"] = _aus(landmarks, n, tmp, config, reporter)
        features["emotion"], p_neutral = _emotion(tmp, n, landmarks, teacher, reporter)
        features["identity"] = _identity(tmp, n, landmarks, p_neutral, config, reporter)

        manifest = new_manifest(
            SCENE_KIND, SCENE_VERSION, to_dict(config),
            inputs=_inputs(video, audio),
            source={"width": info.width, "height": info.height, "codec": info.codec,
                    "pix_fmt": info.pix_fmt, "fps": info.average_fps, "duration_s": info.duration_s,
                    "audio_rate": info.audio_rate, "audio_channels": info.audio_channels},
            n_frames=n, fps=config.fps, size=config.size, has_audio=sound is not None,
            audio_rate=AUDIO_RATE if sound is not None else None,
            features=features,
            stats={"face_found_fraction": float(face_found.mean()), "max_faces": int(n_faces),
                   "crop_side_px": float(crops[0, 2])},
            warnings=list(reporter.warnings),
            timings_s={k: round(v, 3) for k, v in reporter.timings.items()},
        )
        write_manifest(tmp, manifest)
    return Scene.open(out)


def _check_backends(config: PreprocessConfig):
    """Fail before any work when a requested backend or input file is missing; returns the
    emotion teacher (loaded once, here)."""
    from . import audio_features
    from .aus import pyfeat
    from .emotion import emotion_teacher

    audio_features.check_encoder(config.audio_encoder, config.audio_encoder_path)
    if config.au_source == "openface" and not Path(config.openface_csv).is_file():
        raise EmotagError(f"OpenFace CSV not found: {config.openface_csv}")
    if config.au_source == "pyfeat":
        pyfeat.require()
    return emotion_teacher(config.emotion_model)


def _detect_faces(info: MediaInfo, n: int, config: PreprocessConfig, reporter: Reporter) -> tuple[np.ndarray, int]:
    """Pass 1 → ([N, 4] largest-face box per frame in source pixels, NaN if none; max faces seen)."""
    boxes = np.full((n, 4), np.nan, dtype=np.float32)
    most = 0
    scale = max(info.width, info.height) / min(DETECT_SIDE, max(info.width, info.height))
    with reporter.step("detect faces", total=n) as advance, FaceMesh(max_faces=3, refine=False) as mesh:
        for i, rgb in enumerate(decode_cfr(info, config.fps, max_side=DETECT_SIDE)):
            faces = mesh(rgb)
            most = max(most, len(faces))
            if faces:
                bb = [face_box(f) for f in faces]
                boxes[i] = max(bb, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) * scale
            advance(1)
    return boxes, most


def _crop_pass(info: MediaInfo, n: int, crops: np.ndarray, out: Path, config: PreprocessConfig,
               reporter: Reporter) -> np.ndarray:
    """Pass 2: write frames, masks and the plate; return landmarks [N, 478, 3] (NaN if no face)."""
    import cv2

    (out / "frames").mkdir()
    (out / "masks").mkdir()
    landmarks = np.full((n, N_LANDMARKS, 3), np.nan, dtype=np.float32)
    plate_at = set(np.linspace(0, n - 1, min(PLATE_SAMPLES, n)).round().astype(int).tolist())
    plate_frames, plate_labels = [], []
    preview_at = set(np.linspace(0, n - 1, min(PREVIEW_TILES, n)).round().astype(int).tolist())
    preview = []
    seg = PersonSegmenter()
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
    try:
        with reporter.step("crop+landmarks", total=n) as advance, FaceMesh(max_faces=1, refine=True) as mesh:
            for i, rgb in enumerate(decode_cfr(info, config.fps)):
                img = apply_crop(rgb, crops[i], config.size)
                faces = mesh(img)
                if faces:
                    landmarks[i] = faces[0]
                labels = head_torso_labels(seg(img), landmarks[i] if faces else None)
                cv2.imwrite(str(out / "frames" / f"{frame_name(i)}.jpg"), img[:, :, ::-1], jpeg)
                cv2.imwrite(str(out / "masks" / f"{frame_name(i)}.png"), labels)
                if i in preview_at:
                    preview.append(annotate(img, labels, landmarks[i] if faces else None))
                if i in plate_at:
                    plate_frames.append(img)
                    plate_labels.append(labels)
                advance(1)
    finally:
        seg.close()
    with reporter.step("background"):
        plate = background_plate(plate_frames, plate_labels)
        cv2.imwrite(str(out / "background.png"), plate[:, :, ::-1])
        sheet = contact_sheet(preview + [plate], columns=3)
        cv2.imwrite(str(out / "preview.jpg"), sheet[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return landmarks


def paired_audio(video: Path) -> Path | None:
    """A sound file beside ``video`` with the same stem (``talk.mp4`` → ``talk.wav``), if any."""
    for suffix in AUDIO_SUFFIXES:
        candidate = video.with_suffix(suffix)
        if candidate.is_file() and candidate != video:
            return candidate
    return None


def _inputs(video: Path, audio: Path | None) -> dict:
    files = {"video": video} if audio is None else {"video": video, "audio": Path(audio)}
    return {k: {"path": str(p.absolute()), "sha256": file_sha256(p), "bytes": p.stat().st_size}
            for k, p in files.items()}


def _scene_audio(sound: Path, video: MediaInfo, n: int, config: PreprocessConfig) -> np.ndarray:
    """[n·640] float32 at 16 kHz on the video's timeline. The video's own track keeps its start
    offset; a separate file starts at frame 0."""
    samples, start = decode_audio(sound, AUDIO_RATE)
    offset = start - video.start_s if sound == video.path else start
    return align_to_frames(samples, offset, n, config.fps, AUDIO_RATE)


def _audio(wav: np.ndarray, n: int, out: Path, config: PreprocessConfig, reporter: Reporter) -> dict:
    import soundfile as sf

    from .audio_features import extract_audio_features

    with reporter.step("audio"):
        sf.write(out / "audio.wav", wav, AUDIO_RATE, subtype="PCM_16")
    with reporter.step("audio features"):
        path = Path(config.audio_encoder_path) if config.audio_encoder_path else None
        feats, meta = extract_audio_features(wav, n, encoder=config.audio_encoder, path=path)
        np.save(out / "audio_features.npy", feats.astype(np.float16))
    for note in meta.get("phones", {}).get("notes", []):
        reporter.warn(f"phones: {note}")
    return meta


def _aus(landmarks: np.ndarray, n: int, out: Path, config: PreprocessConfig, reporter: Reporter) -> dict:
    from .action_units import compute_aus

    with reporter.step("action units"):
        csv = Path(config.openface_csv) if config.openface_csv else None
        frames_dir = out / "frames"
        aus, meta = compute_aus(landmarks, source=config.au_source, csv_path=csv, frames_dir=frames_dir,
                                fps=config.fps)
        np.save(out / "aus.npy", aus.astype(np.float32))
    return meta


def _read_frames(out: Path, idx) -> np.ndarray:
    import cv2

    return np.stack([cv2.imread(str(out / "frames" / f"{frame_name(i)}.jpg"))[:, :, ::-1] for i in idx])


def _emotion(out: Path, n: int, landmarks: np.ndarray, teacher, reporter: Reporter) -> tuple[dict, np.ndarray]:
    probs = np.zeros((n, 7), dtype=np.float32)
    chunk = 64
    with reporter.step("emotion", total=n) as advance:
        for s in range(0, n, chunk):
            idx = range(s, min(n, s + chunk))
            probs[s:s + len(idx)] = teacher.predict(_read_frames(out, idx), landmarks[s:s + len(idx)])
            advance(len(idx))
    np.save(out / "emotion.npy", probs)
    return {"model": teacher.id}, probs[:, 6]


def _identity(out: Path, n: int, landmarks: np.ndarray, p_neutral: np.ndarray, config: PreprocessConfig,
              reporter: Reporter) -> dict:
    from .identity import identity_embedding

    with reporter.step("identity"):
        valid = ~np.isnan(landmarks).any(axis=(1, 2))
        order = [i for i in np.argsort(-p_neutral, kind="stable") if valid[i]][: config.identity_top_k]
        order = sorted(order)
        emb, meta = identity_embedding(_read_frames(out, order), landmarks[order], p_neutral[order],
                                       top_k=config.identity_top_k)
        np.save(out / "identity.npy", emb.astype(np.float32))
    meta = dict(meta)
    meta["frames"] = [int(i) for i in order]
    return meta
