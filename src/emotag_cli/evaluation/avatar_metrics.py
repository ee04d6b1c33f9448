"""Self-reconstruction metrics of an avatar on held-out frames of a tracked scene (docs/reference/metrics.md).

Each frame is driven as at inference: its own audio features and AUs go through the avatar's
motion network (``GRMN.sequence`` over the whole scene, so windows at the edges of the held-out
part see their real neighbours), which predicts the expression and jaw; the frame's tracked
rotation, neck, eyes and translation and the avatar's shape pose the head; the Gaussians (with the
intra-oral deltas) are rendered at the avatar's size over the frame's backdrop. Reported:

- psnr / ssim: on the head region (the scene's head mask), images in [0, 1];
- lmd: mouth landmark distance, pixels at the scene's size — the predicted mesh's lip landmarks
  (MediaPipe's 40 lip points, through the model's landmark embedding) projected with the tracked
  camera against the scene's MediaPipe lip landmarks; both sets mean-centred per frame, the mean
  point distance averaged over frames (the 68-point FAN/dlib LMD of the paper counts other points);
- jaw_corr: Pearson correlation of the predicted and tracked jaw opening (rotation about x);
- opening_corr: Pearson correlation of the mouth opening of the predicted mesh (the mean gap of
  three facing inner-lip landmark pairs, projected, pixels) and the same gap in the scene's
  MediaPipe landmarks — the mouth opening whichever parameters (jaw or expression) carry it;
- psnr_tracked / ssim_tracked / lmd_tracked / opening_corr_tracked: the same with the *tracked*
  expression and jaw — what the appearance and the tracking allow, a reference for the motion
  network's share of the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..avatar import Avatar
from ..camera import Camera, project, transform_points
from ..errors import EmotagError
from ..forward.clip import TrackedClip
from ..forward.frame import ForwardModel, posed_vertices, with_motion
from ..forward.mouth_region import lip_landmarks
from ..gaussians.render import composite
from ..head.lbs import HeadPose, landmarks_from_vertices
from ..head.model import HeadModel
from ..image_metrics import psnr, ssim
from ..progress import Reporter, quiet
from ..scene import Scene
from .sync import INNER_LIP_PAIRS


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays (nan when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def inner_lip_gap(points: np.ndarray, order: np.ndarray) -> float:
    """Mean distance of the inner-lip pairs ``INNER_LIP_PAIRS`` in ``points`` [K, 2], whose rows
    are the MediaPipe landmarks ``order`` [K] (pairs not in ``order`` are left out)."""
    row = {int(m): k for k, m in enumerate(order)}
    pairs = [(row[a], row[b]) for a, b in INNER_LIP_PAIRS if a in row and b in row]
    return float(np.mean([np.linalg.norm(points[a] - points[b]) for a, b in pairs]))


def mouth_landmark_distance(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean distance of mean-centred point sets [K, 2] (the LMD of one frame)."""
    pred = pred - pred.mean(0)
    target = target - target.mean(0)
    return float(np.linalg.norm(pred - target, axis=-1).mean())


def projected_lips(model: HeadModel, pose: HeadPose, offset: torch.Tensor | None, camera: Camera, i: int,
                   lip_lmk: np.ndarray) -> np.ndarray:
    """[K, 2] pixel positions of the model's lip landmarks ``lip_lmk`` on the mesh in ``pose``
    (batch 1, plus an imported track's static offset), seen by ``camera`` at frame ``i``."""
    verts = posed_vertices(model, pose, offset)
    w2c = torch.from_numpy(camera.w2c_at(i)).float()
    points = transform_points(w2c, landmarks_from_vertices(model, verts)[:, lip_lmk])
    return project(points, camera.fx, camera.fy, camera.cx, camera.cy)[0].numpy()


@torch.no_grad()
def evaluate_avatar(avatar: Avatar | Path | str, scene: Scene | Path | str, frames: Sequence[int] | None = None,
                    reporter: Reporter | None = None, sheet: Path | None = None) -> dict[str, float]:
    """Metrics of ``avatar`` on ``frames`` of the tracked ``scene`` (module docstring).

    frames: default — the avatar's held-out frames when ``scene`` is the scene it was adapted on,
    else every frame. sheet: write a PNG of four frames (ground truth above, render below).
    """
    from ..track.result import open_track

    avatar = avatar if isinstance(avatar, Avatar) else Avatar.open(avatar)
    scene = scene if isinstance(scene, Scene) else Scene.open(scene)
    reporter = reporter or quiet()
    avatar.check_scene(scene)
    if frames is None:
        same = avatar.manifest.get("scene", {}).get("path") == str(scene.path.absolute())
        frames = range(*avatar.manifest["eval_frames"]) if same else range(scene.n_frames)
    frames = [int(i) for i in frames]
    if not frames:
        raise EmotagError(f"no frames to evaluate in {scene.path} (the avatar was adapted on all of them)")
    model = avatar.head_model()
    track = open_track(scene.path)
    clip = TrackedClip(scene.path, size=avatar.size, model=model)
    grmn, gs, mouth = avatar.motion_model(), avatar.gaussians(), avatar.mouth()
    audio = torch.from_numpy(np.array(scene.array("audio_features.npy"), dtype=np.float32))
    aus = torch.from_numpy(np.array(scene.array("aus.npy"), dtype=np.float32))
    seq = grmn.sequence(audio, aus, avatar.identity())
    shape = avatar.shape()[None]
    offset = avatar.static_offset()
    if offset is None and "static_offset" in track.params:      # an avatar made before avatars stored it
        offset = torch.from_numpy(np.asarray(track.params["static_offset"], np.float32))
    avatar_model = ForwardModel(model, gs, mouth, grmn.mouth, offset)
    lip_lmk, lip_mp = lip_landmarks(model)
    cam = track.camera
    scores: dict[str, list[float]] = {k: [] for k in ("psnr", "ssim", "lmd", "psnr_tracked", "ssim_tracked",
                                                       "lmd_tracked")}
    openings: dict[str, list[float]] = {"": [], "_tracked": [], "target": []}
    shown: list[np.ndarray] = []
    picks = set(np.asarray(frames)[np.linspace(0, len(frames) - 1, 4).round().astype(int)].tolist())

    with reporter.step("evaluate", total=len(frames)) as advance:
        for i in frames:
            fd = clip.frame(i)
            tracked = clip.pose([i])
            tracked = HeadPose(shape, tracked.expr, tracked.rotation, tracked.neck, tracked.jaw, tracked.eyes,
                               tracked.translation)
            driven = with_motion(tracked, seq.expr[i:i + 1], seq.jaw[i:i + 1])
            target = scene.landmarks[i, lip_mp, :2]
            for suffix, pose, feature in (("", driven, seq.audio_feature[i:i + 1]), ("_tracked", tracked, None)):
                rendered = avatar_model.frame(pose, feature, clip.K, clip.w2c(i), clip.size)
                image = composite(rendered, fd.backdrop).clamp(0, 1)
                scores["psnr" + suffix].append(float(psnr(image[None], fd.image[None], fd.head[None])))
                scores["ssim" + suffix].append(float(ssim(image[None], fd.image[None], fd.head[None])))
                if np.isfinite(target).all():
                    points = projected_lips(model, pose, offset, cam, i, lip_lmk)
                    scores["lmd" + suffix].append(mouth_landmark_distance(points, target))
                    openings[suffix].append(inner_lip_gap(points, lip_mp))
                    if suffix == "":
                        openings["target"].append(inner_lip_gap(target, lip_mp))
                if suffix == "" and i in picks:
                    shown.append(np.vstack([fd.image.permute(1, 2, 0).numpy(), image.permute(1, 2, 0).numpy()]))
            advance(1)
    result = {k: float(np.mean(v)) if v else float("nan") for k, v in scores.items()}
    jaw_pred = seq.jaw[frames, 0].numpy()
    jaw_track = np.asarray(track.params["jaw"], np.float32)[frames, 0]
    result["jaw_corr"] = pearson(jaw_pred, jaw_track)
    target = np.asarray(openings["target"])
    for suffix in ("", "_tracked"):
        result["opening_corr" + suffix] = pearson(np.asarray(openings[suffix]), target) if len(target) > 1 \
            else float("nan")
    result["frames"] = len(frames)
    if sheet is not None and shown:
        import cv2

        cv2.imwrite(str(sheet), (np.hstack(shown)[:, :, ::-1] * 255 + 0.5).astype(np.uint8))
    return result
