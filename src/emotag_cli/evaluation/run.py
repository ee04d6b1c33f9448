"""``emotag eval``: every metric of a rendered video, against a reference when one is given.

One streaming pass over the frames (memory stays flat): per frame, MediaPipe landmarks of the
rendered frame (and of the reference frame when the reference is a video; a scene has them), the
68-point landmarks, the image metrics and a batch of emotion-teacher inputs. The metrics that need
the whole clip (AUs, lip sync) are computed from the landmark arrays afterwards; SyncNet decodes
the video a second time for its face crops (placed on those landmarks), again frame by frame.

Frame i of the video is compared with frame i of the reference; when the lengths differ, only the
common prefix is compared (a note says so). When the frame sizes differ, rendered frames are resized
to the reference's size first, so pixel metrics and LMD are in reference pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import torch

from ..errors import EmotagError, MissingBackendError
from ..image_metrics import psnr, ssim_map
from ..preprocess.emotion import EMOTIONS, emotion_teacher
from ..preprocess.face_align import has_face
from ..preprocess.face_mesh import N_REFINED, FaceMesh
from ..preprocess.mediapipe_log import quiet_native_stderr
from ..progress import Reporter, quiet
from . import au_error, lip_figures, sync, syncnet
from .emotion_accuracy import emotion_index, emotion_scores, is_timeline, timeline_segments, timeline_targets
from .landmarks68 import N_POINTS, Landmarks68
from .lmd import mouth_distances
from .lpips import load_lpips
from .report import Metric, Report
from .video_io import FPS, SAMPLES_PER_FRAME, Clip, open_reference, open_video

T = TypeVar("T")
TEACHER_BATCH = 32


def _optional(load: Callable[[], T]) -> tuple[T | None, str | None]:
    """(backend, None) or (None, the MissingBackendError message)."""
    try:
        return load(), None
    except MissingBackendError as exc:
        return None, str(exc)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0


def _mesh_points(mesh: FaceMesh, rgb: np.ndarray) -> np.ndarray:
    faces = mesh(rgb)
    return faces[0] if faces else np.full((N_REFINED, 3), np.nan, np.float32)


class _Accumulator:
    """Per-frame results of the streaming pass (NaN where a frame could not be scored)."""

    def __init__(self, n_video: int, n_pair: int):
        self.mesh_video = np.full((n_video, N_REFINED, 3), np.nan, np.float32)
        self.mesh_ref = np.full((n_pair, N_REFINED, 3), np.nan, np.float32)
        self.lm68_video = np.full((n_pair, N_POINTS, 2), np.nan, np.float32)
        self.lm68_ref = np.full((n_pair, N_POINTS, 2), np.nan, np.float32)
        self.psnr = np.full(n_pair, np.nan)
        self.ssim = np.full(n_pair, np.nan)
        self.psnr_head = np.full(n_pair, np.nan)
        self.ssim_head = np.full(n_pair, np.nan)
        self.lpips = np.full(n_pair, np.nan)
        self.emotion = np.full((n_video, 7), np.nan)


def _stream(clip: Clip, ref: Clip | None, n_video: int, n_pair: int, size: tuple[int, int],
            lm68: Landmarks68 | None, lpips, teacher, reporter: Reporter) -> _Accumulator:
    acc = _Accumulator(n_video, n_pair)
    frames_ref = ref.frames() if ref is not None else iter(())
    masks_ref = ref.head_masks() if ref is not None and ref.has_head_masks else None
    batch: list[int] = []
    batch_frames: list[np.ndarray] = []

    def flush() -> None:
        if teacher is not None and batch:
            acc.emotion[batch] = teacher.predict(np.stack(batch_frames), acc.mesh_video[batch])
        batch.clear()
        batch_frames.clear()

    needs_mesh_r = ref is not None and ref.landmarks is None
    with quiet_native_stderr(), FaceMesh() as mesh_v, (FaceMesh() if needs_mesh_r else nullcontext()) as mesh_r, \
            reporter.step("evaluate", total=n_video) as advance, torch.inference_mode():
        for i, frame in enumerate(clip.frames()):
            if i >= n_video:
                break
            if (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            acc.mesh_video[i] = _mesh_points(mesh_v, frame)
            batch.append(i)
            batch_frames.append(frame)
            if len(batch) == TEACHER_BATCH:
                flush()
            if i < n_pair:
                _compare(acc, i, frame, next(frames_ref), next(masks_ref) if masks_ref else None,
                         ref, mesh_r, lm68, lpips)
            advance(1)
        flush()
    return acc


def _compare(acc: _Accumulator, i: int, frame: np.ndarray, ref_frame: np.ndarray, head: np.ndarray | None,
             ref: Clip, mesh_r: FaceMesh | None, lm68: Landmarks68 | None, lpips) -> None:
    a, b = _tensor(frame), _tensor(ref_frame)
    acc.psnr[i] = float(psnr(a, b)[0])
    smap = ssim_map(a, b)  # the costly part of SSIM: computed once for the full frame and the head
    acc.ssim[i] = float(smap.mean())
    if head is not None and head.any():
        m = torch.from_numpy(head)[None, None].float()
        acc.psnr_head[i] = float(psnr(a, b, m)[0])
        acc.ssim_head[i] = float(masked_ssim(smap, m))
    if lpips is not None:
        acc.lpips[i] = float(lpips(a, b)[0])
    acc.mesh_ref[i] = ref.landmarks[i] if ref.landmarks is not None else _mesh_points(mesh_r, ref_frame)
    if lm68 is not None:
        acc.lm68_video[i] = lm68(frame, acc.mesh_video[i])
        acc.lm68_ref[i] = lm68(ref_frame, acc.mesh_ref[i])


def masked_ssim(smap: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of an SSIM map ``[1, C, H-10, W-10]`` over ``mask [1, 1, H, W]`` cropped to the map's
    valid area (what ``image_metrics.ssim`` does with a mask)."""
    pad = (mask.shape[-1] - smap.shape[-1]) // 2
    m = mask[..., pad:pad + smap.shape[-2], pad:pad + smap.shape[-1]].expand_as(smap)
    return (smap * m).sum() / m.sum().clamp_min(1)


def _mean_metric(metric: Metric, values: np.ndarray) -> Metric:
    """Mean over the finite-or-inf values (NaN = not scored). PSNR's inf (identical frames) counts."""
    scored = ~np.isnan(values)
    metric.frames_scored, metric.frames_unscored = int(scored.sum()), int((~scored).sum())
    if not scored.any():
        return metric.missing("no frame could be scored")
    metric.value = float(np.mean(values[scored]))
    return metric


def _image_metrics(acc: _Accumulator, ref: Clip | None, lpips_reason: str | None) -> list[Metric]:
    metrics = [
        Metric("psnr", "PSNR", "dB", "higher", source="full frame"),
        Metric("ssim", "SSIM", "", "higher", source="full frame"),
        Metric("psnr_head", "PSNR (head)", "dB", "higher", source="reference scene's head mask"),
        Metric("ssim_head", "SSIM (head)", "", "higher", source="reference scene's head mask"),
        Metric("lpips", "LPIPS", "", "lower", source="AlexNet, v0.1"),
    ]
    if ref is None:
        return [m.missing("no --reference given") for m in metrics]
    values = {"psnr": acc.psnr, "ssim": acc.ssim, "psnr_head": acc.psnr_head, "ssim_head": acc.ssim_head,
              "lpips": acc.lpips}
    for m in metrics:
        if m.key.endswith("_head") and not ref.has_head_masks:
            m.missing("needs head masks: give a scene folder as --reference")
        elif m.key == "lpips" and lpips_reason:
            m.missing(lpips_reason)
        else:
            _mean_metric(m, values[m.key])
    return metrics


def _lmd(acc: _Accumulator, ref: Clip | None, lm68_reason: str | None, size: tuple[int, int]) -> Metric:
    m = Metric("lmd", "LMD (mouth)", "px", "lower", source=f"dlib 68-point, mouth 48-67, at {size[0]}x{size[1]}")
    if ref is None:
        return m.missing("no --reference given")
    if lm68_reason:
        return m.missing(lm68_reason)
    return _mean_metric(m, mouth_distances(acc.lm68_video, acc.lm68_ref))


AUPairs = list[tuple[np.ndarray, np.ndarray, tuple[str, ...]]]


def _read_openface(csvs: tuple[Path, Path], n_pair: int) -> AUPairs:
    """(video [N, K], reference [N, K], AU names) for the upper and the lower AUs of the two CSVs."""
    return [(au_error.read_openface_aus(csvs[0], names, n_pair, FPS),
             au_error.read_openface_aus(csvs[1], names, n_pair, FPS), names)
            for names in (au_error.OPENFACE_UPPER, au_error.OPENFACE_LOWER)]


def _aue(acc: _Accumulator, ref: Clip | None, n_pair: int, openface: AUPairs | None) -> list[Metric]:
    upper = Metric("aue_u", "AUE-U", "", "lower")
    lower = Metric("aue_l", "AUE-L", "", "lower")
    if ref is None:
        return [upper.missing("no --reference given"), lower.missing("no --reference given")]
    if openface is not None:
        pairs = openface
        sources = ("OpenFace AUs", "OpenFace AUs")
    else:
        if not has_face(acc.mesh_ref).any():
            reason = "the reference has no frame with a face"
            return [upper.missing(reason), lower.missing(reason)]
        v, r = au_error.landmark_upper_aus(acc.mesh_video[:n_pair], acc.mesh_ref)
        vl, rl = au_error.landmark_lower_proxy(acc.mesh_video[:n_pair], acc.mesh_ref)
        pairs = [(v, r, au_error.LANDMARK_UPPER_AUS), (vl, rl, au_error.LOWER_PROXY)]
        sources = ("landmark AUs 01, 04, 05, 06, 07, 45", "landmark lower-face proxy (not AUs)")
    for metric, (pred, target, names), source in zip((upper, lower), pairs, sources):
        value, per_au, used = au_error.aue(pred, target)
        metric.source = source
        metric.frames_scored, metric.frames_unscored = used, n_pair - used
        if used == 0:
            metric.missing("no frame has measurements on both sides")
        else:
            metric.value = value
            metric.details = {"per_au": dict(zip(names, per_au.tolist()))}
    return [upper, lower]


def _sync_proxy(key: str, label: str, mesh: np.ndarray, audio: np.ndarray | None, max_offset: int,
                no_audio: str) -> list[Metric]:
    """The proxy at its best offset, and at lag 0 (key + "_lag0")."""
    m = Metric(key, label, "", "higher")
    zero = Metric(f"{key}_lag0", f"{label}, lag 0", "", "higher")
    if audio is None:
        return [m.missing(no_audio), zero.missing(no_audio)]
    n = len(mesh)
    opening = sync.mouth_opening(mesh)
    result = sync.av_sync_proxy(opening, sync.frame_energy(audio, n), max_offset)
    m.frames_unscored = zero.frames_unscored = int(np.isnan(opening).sum())
    m.frames_scored = zero.frames_scored = n - m.frames_unscored
    if not np.isfinite(result.correlation):
        reason = f"fewer than {sync.MIN_FRAMES} frames with a face, or a constant signal"
        return [m.missing(reason), zero.missing(reason)]
    m.value = result.correlation
    m.source = f"mouth opening vs audio energy, offset {result.offset:+d} of ±{max_offset} frames"
    m.details = {"offset_frames": result.offset, "correlation_at_zero_offset": result.at_zero,
                 "pairs_at_best_offset": result.frames}
    zero.value = result.at_zero
    zero.source = "mouth opening vs audio energy, no offset search"
    return [m, zero]


def _syncnet(model: syncnet.SyncNet | None, reason: str | None, clip: Clip, mesh: np.ndarray,
             audio: np.ndarray | None, size: tuple[int, int], reporter: Reporter) -> list[Metric]:
    """Sync-C and Sync-E of the video with its own audio (a second decoding pass for the crops)."""
    metrics = [Metric("sync_c", "Sync-C", "", "higher"), Metric("sync_e", "Sync-E", "", "lower")]
    n = len(mesh)
    windows = syncnet.n_windows(n)
    boxes = None
    if model is None:
        reason = reason or "SyncNet is not loaded"
    elif audio is None:
        reason = "the video has no audio track"
    elif windows < 1:
        reason = f"SyncNet needs at least {syncnet.WINDOW + 1} frames, the video has {n}"
    else:
        # The landmarks are in evaluation pixels (``size``); the crops come from the decoded frames.
        boxes = syncnet.face_boxes(mesh * np.array([clip.width / size[0], clip.height / size[1], 1.0]))
        reason = "no frame with a face" if boxes is None else None
    if reason is not None:
        return [m.missing(reason) for m in metrics]
    with reporter.step("syncnet", total=windows) as advance:
        crops = (syncnet.crop_face(frame, box) for frame, box in zip(clip.frames(), boxes))
        lip = syncnet.lip_embeddings(model, crops, windows, advance)
        score = syncnet.sync_scores(lip, syncnet.audio_embeddings(model, syncnet.mfcc(audio), windows))
    details = {"av_offset_frames": score.offset, "distance_at_zero_offset": float(score.mean_distances[syncnet.VSHIFT]),
               "windows": windows, "frames_without_face": int((~has_face(mesh)).sum())}
    for m, value in zip(metrics, (score.confidence, score.min_distance)):
        m.value = value
        m.frames_scored, m.frames_unscored = windows, n - windows
        m.source = f"SyncNet v2 on MediaPipe face crops, AV offset {score.offset:+d} of ±{syncnet.VSHIFT} frames"
        m.details = details
    return metrics


def _sync(acc: _Accumulator, clip: Clip, ref: Clip | None, n_video: int, n_pair: int, max_offset: int,
          size: tuple[int, int], net: tuple[syncnet.SyncNet | None, str | None], reporter: Reporter) -> list[Metric]:
    audio = clip.audio()
    audio = None if audio is None else audio[: n_video * SAMPLES_PER_FRAME]
    out = _syncnet(*net, clip, acc.mesh_video, audio, size, reporter)
    out += _sync_proxy("av_sync_proxy", "AV-sync proxy", acc.mesh_video, audio, max_offset,
                       "the video has no audio track")
    ref_audio = ref.audio() if ref is not None else None
    out += _sync_proxy("av_sync_proxy_reference", "AV-sync proxy (reference)", acc.mesh_ref,
                       None if ref_audio is None else ref_audio[: n_pair * SAMPLES_PER_FRAME], max_offset,
                       "no --reference given" if ref is None else "the reference has no audio")
    out.append(lip_figures.mouth_opening_vs_reference(acc.mesh_video[:n_pair], acc.mesh_ref if ref is not None
                                                      else None, "no --reference given"))
    out.append(lip_figures.phone_sync(acc.mesh_video, audio, FPS, "the video has no audio track"))
    return out


def _emotion(acc: _Accumulator, emotion: str | None, teacher, teacher_reason: str | None) -> list[Metric]:
    accuracy = Metric("emotion_accuracy", "Emotion accuracy", "%", "higher")
    probability = Metric("emotion_probability", "p(requested emotion)", "", "higher")
    metrics = [accuracy, probability]
    if teacher is None:
        return [m.missing(teacher_reason or "no emotion teacher") for m in metrics]
    valid = has_face(acc.mesh_video)
    mean = acc.emotion[valid].mean(axis=0) if valid.any() else np.full(7, np.nan)
    details = {"teacher": teacher.id, "mean_distribution": dict(zip(EMOTIONS, mean.tolist()))}
    for m in metrics:
        m.details = details
    if emotion is None:
        return [m.missing("no --emotion given") for m in metrics]
    if not is_timeline(emotion):
        return _scored(metrics, acc.emotion, valid, emotion, f"{teacher.id}, requested {emotion.lower()}")
    targets = timeline_targets(emotion, len(valid), FPS)
    _scored(metrics, acc.emotion, valid, targets, f"{teacher.id}, the timeline's class at each frame "
                                                   "(cross-fades not scored)")
    t = np.arange(len(valid)) / FPS
    for name, start, end in timeline_segments(emotion):
        segment = (t >= start) & (t < end)
        label = f"{name} {start:g}-{end:g} s"
        key = f"{name}_{start:g}_{end:g}".replace(".", "p")
        metrics += _scored([Metric(f"emotion_accuracy_{key}", f"Emotion accuracy, {label}", "%", "higher"),
                            Metric(f"emotion_probability_{key}", f"p({name}), {label}", "", "higher")],
                           acc.emotion, valid, np.where(segment, targets, -1), f"{teacher.id}, requested {name}",
                           covered=int(segment.sum()))
    return metrics


def _scored(metrics: list[Metric], probs: np.ndarray, valid: np.ndarray, target, source: str,
            covered: int | None = None) -> list[Metric]:
    """``metrics`` (accuracy, probability) filled from ``emotion_scores(probs, valid, target)``;
    ``covered``: the frames they are about (default: all), for the unscored count."""
    acc_value, prob, used = emotion_scores(probs, valid, target)
    for m, value in zip(metrics, (acc_value, prob)):
        m.source = source
        m.frames_scored, m.frames_unscored = used, (len(valid) if covered is None else covered) - used
        if used == 0:
            m.missing("no rendered frame has a face" if isinstance(target, str) or not valid.any()
                      else "no frame with a face falls in it (past the video's end?)")
        else:
            m.value = value
    return metrics


def evaluate(video: Path | str, reference: Path | str | None = None, emotion: str | None = None,
             max_frames: int | None = None, openface_csv: tuple[Path, Path] | None = None,
             max_offset: int = sync.DEFAULT_MAX_OFFSET, emotion_model: str = "auto",
             reporter: Reporter | None = None) -> dict[str, Any]:
    """Evaluate ``video`` (a rendered mp4) and return the report dict (``report.Report.to_dict``).

    reference: a scene folder or a video of the same person and framing, or None for the metrics
    that need no reference (lip-sync proxy, emotion). emotion: the requested emotion (one of
    ``EMOTIONS``, or a timeline as render takes it) for the emotion accuracy. max_frames: evaluate
    only the first frames.
    openface_csv: (rendered, reference) OpenFace FeatureExtraction CSVs for the paper's AUE.
    max_offset: the AV-sync proxy's offset search, frames.
    """
    reporter = reporter or quiet()
    if emotion is not None:
        if is_timeline(emotion):
            timeline_segments(emotion)                   # a malformed timeline stops here, with render's message
        else:
            emotion_index(emotion)
    if max_frames is not None and max_frames < 1:
        raise EmotagError(f"--max-frames must be at least 1, got {max_frames}")
    if max_offset < 0:
        raise EmotagError(f"the sync offset search must be >= 0 frames, got {max_offset}")
    clip = open_video(video)
    ref = open_reference(reference) if reference is not None else None
    if openface_csv is not None and ref is None:
        raise EmotagError("OpenFace CSVs need a --reference to compare with")

    notes: list[str] = []
    n_video = clip.n_frames if max_frames is None else min(clip.n_frames, max_frames)
    n_pair = min(n_video, ref.n_frames) if ref is not None else 0
    size = (clip.width, clip.height)
    if ref is not None:
        if ref.n_frames != clip.n_frames:
            notes.append(f"lengths differ (video {clip.n_frames} frames, reference {ref.n_frames}): "
                         f"the paired metrics compare the first {n_pair} frames")
        if (ref.width, ref.height) != size:
            notes.append(f"rendered frames resized from {clip.width}x{clip.height} to the reference's "
                         f"{ref.width}x{ref.height}")
            size = (ref.width, ref.height)
    if max_frames is not None and max_frames < clip.n_frames:
        notes.append(f"--max-frames {max_frames}: only the first {n_video} of {clip.n_frames} video frames evaluated")

    openface = _read_openface(openface_csv, n_pair) if openface_csv is not None else None
    lpips_model, lpips_reason = _optional(load_lpips) if ref is not None else (None, None)
    lm68, lm68_reason = _optional(Landmarks68) if ref is not None else (None, None)
    teacher, teacher_reason = _optional(lambda: emotion_teacher(emotion_model))
    net = _optional(sync.load_syncnet)  # a malformed weight file stops here, before the long pass
    acc = _stream(clip, ref, n_video, n_pair, size, lm68, lpips_model, teacher, reporter)

    metrics = [
        *_image_metrics(acc, ref, lpips_reason),
        _lmd(acc, ref, lm68_reason, size),
        *_aue(acc, ref, n_pair, openface),
        *_sync(acc, clip, ref, n_video, n_pair, max_offset, size, net, reporter),
        *_emotion(acc, emotion, teacher, teacher_reason),
    ]
    frames = {"video": clip.n_frames, "evaluated": n_video, "compared": n_pair}
    if ref is not None:
        frames["reference"] = ref.n_frames
    return Report(
        video=str(clip.path), reference=str(ref.path) if ref is not None else None,
        reference_kind=ref.kind if ref is not None else None, frame_size=size, frames=frames,
        metrics=metrics, notes=notes, fps=FPS,
    ).to_dict()
