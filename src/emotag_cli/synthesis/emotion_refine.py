"""Refine emotion directions on renders, so that the emotion teacher reads what a request asks for.

A direction estimated from tracked emotional faces (head/emotion_estimate.py) is the mean change
two MEAD speakers made from neutral to emotion k. Rendered through an avatar that learned its look
from 5 s of neutral speech, that change is often too small, or not the change the teacher keys on,
for the face to read as k (docs/reference/emotion-and-identity.md). This module moves each direction
on renders of *calibration* avatars, by gradient through the renderer and the teacher:

    v_k ∈ R^D, initialised at m_k·E_k (the data direction at its natural magnitude)
    motion of frame t = M_k(t) + v_k          M_k: the avatar's motion at (k, intensity 1) minus s_k·E_k
    L_k = mean_t relu(−log p_teacher(k | render_t) + log p_target)      frames read as k at p ≥ p_target add 0
          + anchor · ‖v_k − m_k·E_k‖² / m_k²                           stay near the real faces' change

With ``strain_slack`` set, a third term, strain_weight · Σ_edges relu(|strain_e(v_k)| − |strain_e(m_k·E_k)|
− strain_slack)², keeps every edge of the mesh within ``strain_slack`` of the strain the starting
direction gives it (head/edge_strain.py): Gaussians scale with their triangles, and a brow or lip
stretched further than the avatar ever saw renders as a streak the teacher may reward.
After each step v_k is held to what a direction may be: no jaw part, no inner-lip opening (as the
estimate: an emotion neither opens nor seals the mouth) and ‖v_k‖ ≤ max_factor·m_k. The refined
direction is v_k/‖v_k‖ and its magnitude ‖v_k‖. The teacher is the one SEG trains against (the
paper's supervision of the emotion branch); the avatars it is refined on must be other speakers
than the ones a result is measured on, and the angle to the data direction is recorded.

Each render is the full forward model at ``size`` px composited over the avatar's own frames,
cropped as the teacher's pipeline crops it (a square box from MediaPipe landmarks of the render
itself, found without gradient), grey, area-resized to the network's input.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..avatar import AVATAR_KIND, AVATAR_VERSION, Avatar
from ..contract import EMOTIONS
from ..forward.frame import ForwardModel
from ..gaussians.render import composite
from ..head.emotion_directions import EmotionDirections
from ..head.lbs import HeadPose
from ..preprocess.audio_features import extract_audio_features, fit_audio
from ..preprocess.emotion.teacher import EmotionTeacher
from ..preprocess.face_align import landmark_boxes, square_boxes
from .drive import Backdrops, drive_source, ping_pong
from .render import encoder_of

GRAY = (0.299, 0.587, 0.114)          # cv2.COLOR_RGB2GRAY's luma weights


@dataclass(frozen=True)
class RefineSettings:
    steps: int = 600
    frames: int = 3              # renders per class per step (each from a random avatar and frame)
    size: int = 256              # render size, px (the size results are measured at)
    lr: float = 0.05             # Adam step, motion-space units (expression standard deviations)
    anchor: float = 0.1          # weight of ‖v_k − m_k·E_k‖² / m_k²
    max_factor: float = 3.0      # ‖v_k‖ ≤ max_factor · m_k
    target_p: float = 0.9        # a frame the teacher reads as k with p ≥ target_p adds no loss
    seed: int = 0
    strain_slack: float | None = None   # None: off; else no mesh edge may strain more than the start did + this
    strain_weight: float = 100.0        # weight of Σ_edges relu(|strain(v_k)| − bound)²


@dataclass
class CalibrationAvatar:
    """One avatar prepared for refinement: per class, its motion without the anchored part."""

    name: str
    forward: ForwardModel
    backdrops: Backdrops
    K: Tensor                    # [3, 3] at the refinement size
    w2c: Tensor                  # [N, 4, 4] per output frame
    pose: dict[str, Tensor]      # rotation, neck, eyes, translation [N, 3]
    shape: Tensor                # [1, n_shape]
    src: np.ndarray              # [N] drive-source frame of each output frame
    motion: dict[str, Tensor]    # class → [N, D] motion at (k, intensity 1) minus s_k·E_k
    audio_feature: Tensor        # [N, C] the mouth refinement's input
    n_expr: int
    speech: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # frames within 30 dB of the loudest


def prepare_avatar(path: Path, wav: np.ndarray, rate: int, directions: EmotionDirections, size: int
                   ) -> CalibrationAvatar:
    """Load the avatar at ``path`` and its motion for ``wav`` (float32 mono at ``rate`` Hz) under
    every class of ``directions``, with the anchored part s_k·E_k taken out."""
    avatar = Avatar.open(path)
    fps = avatar.fps
    n = max(1, int(round(len(wav) / rate * fps)))
    encoder, _ = encoder_of(avatar)
    feats, _ = extract_audio_features(fit_audio(wav, n), n, encoder=encoder)
    grmn = avatar.motion_model().eval()
    anchor = grmn.decoder.anchor                           # None: a network without directions
    source = drive_source(avatar, "clip")
    src = ping_pong(n, source.n)
    audio = torch.from_numpy(feats.astype(np.float32))
    aus = torch.from_numpy(np.asarray(source.aus[src], np.float32))
    motion = {}
    with torch.no_grad():
        for k in directions.emotions:
            i = EMOTIONS.index(k)
            pi = torch.zeros(len(EMOTIONS))
            pi[i] = 1.0
            seq = grmn.sequence(audio, aus, avatar.identity(), pi, 1.0)
            anchored = 0.0 if anchor is None else anchor.scale[i] * anchor.directions[i]
            motion[k] = seq.delta - anchored
    hop = len(wav) / n
    rms = np.array([np.sqrt(np.mean(wav[int(i * hop):max(int((i + 1) * hop), int(i * hop) + 1)] ** 2))
                    for i in range(n)])
    loud = 20 * np.log10(np.maximum(rms, 1e-8))
    K = source.K.clone()
    K[:2] *= size / avatar.size
    fm = ForwardModel(avatar.head_model(), avatar.gaussians(), avatar.mouth(), grmn.mouth, avatar.static_offset())
    pose = {k: torch.from_numpy(np.asarray(v, np.float32))[src] for k, v in source.pose.items()}
    return CalibrationAvatar(
        name=Path(path).name, forward=fm, backdrops=Backdrops(avatar, source, "drive", size=size), K=K,
        w2c=torch.from_numpy(np.asarray(source.w2c, np.float32))[src], pose=pose, shape=avatar.shape()[None],
        src=src, motion=motion, audio_feature=seq.audio_feature.detach(), n_expr=grmn.config.n_expr,
        speech=np.flatnonzero(loud > loud.max() - 30.0))


def render_frame(a: CalibrationAvatar, t: int, delta: Tensor, size: int) -> Tensor:
    """[3, S, S] frame ``t`` of avatar ``a`` driven by motion ``delta`` [D] (differentiable)."""
    s = int(a.src[t])
    pose = HeadPose(a.shape, delta[None, :a.n_expr], a.pose["rotation"][t:t + 1], a.pose["neck"][t:t + 1],
                    delta[None, a.n_expr:], a.pose["eyes"][t:t + 1], a.pose["translation"][t:t + 1])
    rendered = a.forward.frame(pose, a.audio_feature[t:t + 1], a.K, a.w2c[t], size)
    return composite(rendered, a.backdrops(s)).clamp(0, 1)


def teacher_input(image: Tensor, box: np.ndarray, teacher: EmotionTeacher) -> Tensor:
    """The teacher's network input [1, 1, s, s] from ``image`` [3, S, S] in [0, 1] and a square
    ``box`` (x0, y0, x1, y1) px, as ``face_align.crop_square`` makes it, but differentiable."""
    gray = (torch.tensor(GRAY).to(image)[:, None, None] * image).sum(0) * 255.0            # [S, S]
    h, w = gray.shape
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    side = max(1, round(float(box[2] - box[0])))
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        gray = F.pad(gray[None, None], (pad, pad, pad, pad), mode="replicate")[0, 0]
    patch = gray[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side][None, None]
    n = teacher.crop.size
    patch = F.interpolate(patch, size=(n, n), mode="area" if side > n else "bilinear",
                          **({} if side > n else {"align_corners": False}))
    return _normalise(patch, teacher)


def _normalise(gray255: Tensor, teacher: EmotionTeacher) -> Tensor:
    if teacher.id.startswith("fer"):
        return (gray255 / 255.0 - 0.5) * 2.0
    return gray255 / 255.0


def face_box(image: Tensor, mesh, teacher: EmotionTeacher) -> np.ndarray | None:
    """The teacher's square box for ``image`` [3, S, S] from MediaPipe landmarks (None: no face)."""
    rgb = (image.detach().permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    faces = mesh(rgb)
    if not faces:
        return None
    return square_boxes(landmark_boxes(faces[0][None]), teacher.crop.scale, teacher.crop.shift_y)[0]


def allowed(v: Tensor, opening: Tensor, n_expr: int, limit: float) -> Tensor:
    """``v`` [D] held to a direction's constraints: no jaw part, no component along the unit
    inner-lip opening ``opening`` [D], norm at most ``limit``."""
    v = v.clone()
    v[n_expr:] = 0.0
    v = v - (v @ opening) * opening
    norm = v.norm()
    return v * (limit / norm) if norm > limit else v


def refine_directions(directions: EmotionDirections, avatars: list[CalibrationAvatar], teacher: EmotionTeacher,
                      settings: RefineSettings = RefineSettings(), log=print,
                      progress=None, find_box=None) -> tuple[EmotionDirections, dict]:
    """Refined directions (same head model, classes and provenance, plus a "refined" record) and
    a per-class summary: angle to the data direction (degrees), ‖v‖ / m, mean p(k) over the
    first and last steps' renders. ``log(line)`` gets a line every 10 steps, ``progress(1)`` a
    call every step. ``find_box(image)`` gives the teacher's square box of a render (default:
    ``face_box`` with MediaPipe, as the teacher's own pipeline finds it)."""
    from ..head.edge_strain import EdgeStrain, excess_strain, strain_summary
    from ..head.emotion_estimate import lip_opening_gradient
    from ..preprocess.face_mesh import FaceMesh
    from ..preprocess.mediapipe_log import quiet_native_stderr

    gen = np.random.default_rng(settings.seed)
    n_expr = avatars[0].n_expr
    opening = lip_opening_gradient(avatars[0].forward.model, n_expr, directions.directions.shape[1] - n_expr)
    unit_opening = torch.from_numpy(opening / max(np.linalg.norm(opening), 1e-30)).float()
    magnitude = {k: float(m) for k, m in zip(directions.emotions, directions.magnitude)}
    start = {k: torch.from_numpy(directions.magnitude[i] * directions.directions[i]).float()
             for i, k in enumerate(directions.emotions)}
    v = {k: torch.nn.Parameter(allowed(start[k], unit_opening, n_expr, float("inf")).clone())
         for k in directions.emotions}
    opt = torch.optim.Adam(list(v.values()), lr=settings.lr)
    strain = bound = None
    if settings.strain_slack is not None:
        strain = EdgeStrain(avatars[0].forward.model, avatars[0].shape[0])
        with torch.no_grad():
            bound = {k: strain(v[k][:n_expr]).abs() + settings.strain_slack for k in directions.emotions}
    history: dict[str, list[float]] = {k: [] for k in directions.emotions}
    teacher.network.eval().requires_grad_(False)
    log_target = float(np.log(settings.target_p))
    with quiet_native_stderr(), FaceMesh() as mesh:
        if find_box is None:
            def find_box(image: Tensor) -> np.ndarray | None:
                return face_box(image, mesh, teacher)
        for step in range(settings.steps):
            opt.zero_grad()
            for k in directions.emotions:
                c = EMOTIONS.index(k)
                terms, ps = [], []
                for _ in range(settings.frames):
                    a = avatars[int(gen.integers(len(avatars)))]
                    t = int(gen.choice(a.speech if len(a.speech) else np.arange(len(a.src))))
                    image = render_frame(a, t, a.motion[k][t] + v[k], settings.size)
                    box = find_box(image)
                    if box is None:
                        continue
                    logp = torch.log_softmax(teacher.network(teacher_input(image, box, teacher)).double(), -1)[0, c]
                    terms.append(torch.relu(log_target - logp))
                    ps.append(float(logp.detach().exp()))
                loss = settings.anchor * ((v[k] - start[k]) ** 2).sum() / magnitude[k] ** 2
                if strain is not None:
                    loss = loss + settings.strain_weight * (excess_strain(strain(v[k][:n_expr]), bound[k]) ** 2).sum()
                if terms:
                    loss = loss + torch.stack(terms).mean().float()
                loss.backward()
                history[k].append(float(np.mean(ps)) if ps else float("nan"))
            opt.step()
            with torch.no_grad():
                for k in directions.emotions:
                    v[k].copy_(allowed(v[k], unit_opening, n_expr, settings.max_factor * magnitude[k]))
            if step % 10 == 0 or step == settings.steps - 1:
                said = (f"{k} p {history[k][-1]:.2f} |v|/m {float(v[k].detach().norm()) / magnitude[k]:.2f}"
                        for k in directions.emotions)
                log(f"step {step}: " + ", ".join(said))
            if progress is not None:
                progress(1)
    rows, mags, summary = [], [], {}
    window = max(1, settings.steps // 5)
    for i, k in enumerate(directions.emotions):
        final = v[k].detach().double().numpy()
        norm = float(np.linalg.norm(final))
        rows.append(final / norm)
        mags.append(norm)
        cos = float(rows[-1] @ directions.directions[i])
        summary[k] = {"angle_deg": round(float(np.degrees(np.arccos(np.clip(cos, -1, 1)))), 1),
                      "factor": round(norm / float(directions.magnitude[i]), 3),
                      "p_first": _finite_mean(history[k][:window]), "p_last": _finite_mean(history[k][-window:])}
        if strain is not None:
            with torch.no_grad():
                final_strain = strain(v[k].detach()[:n_expr])
                summary[k]["strain"] = strain_summary(final_strain)
                summary[k]["strain_excess_max"] = round(float(excess_strain(final_strain, bound[k]).max()), 3)
    provenance = dict(directions.provenance)
    held = "; every mesh edge's strain held within strain_slack of the start's" if strain is not None else ""
    provenance["refined"] = {
        "method": "each direction moved on renders of calibration avatars by gradient through the renderer and "
                  "the emotion teacher (synthesis/emotion_refine.py): maximise p(k) up to target_p, with a "
                  "penalty on the distance to the data direction; jaw and inner-lip opening kept out"
                  + held,
        "settings": asdict(settings), "teacher": teacher.id, "avatars": [a.name for a in avatars],
        "data_directions": {"directions": directions.directions.round(6).tolist(),
                            "magnitude": directions.magnitude.round(6).tolist()},
        "summary": summary}
    refined = EmotionDirections(directions.head_model, directions.head_model_sha256, directions.emotions,
                                np.stack(rows), np.asarray(mags), provenance=provenance)
    return refined, summary


def _finite_mean(values: list[float]) -> float:
    """Mean of the finite values, rounded (NaN when a face was found on none of those renders)."""
    finite = [v for v in values if np.isfinite(v)]
    return round(float(np.mean(finite)), 3) if finite else float("nan")


# A refinement of one avatar on its own adaptation clip starts from the shipped (already refined)
# directions, so it may only grow them by half (measured: docs/reference/emotion-and-identity.md).
AVATAR_SETTINGS = RefineSettings(steps=200, max_factor=1.5, strain_slack=0.1)


def refine_avatar(path: Path, settings: RefineSettings = AVATAR_SETTINGS, log=print, progress=None) -> dict:
    """Refine the emotion directions of the avatar at ``path`` on renders of itself speaking its
    own adaptation clip (the scene's audio over the training frames), and write them into its
    motion network's anchor (s_k = ‖v_k‖), atomically. Returns the per-class summary."""
    import shutil

    from ..artifact import read_manifest, write_manifest
    from ..errors import EmotagError
    from ..motion.emotion_residual import EmotionAnchor
    from ..preprocess.emotion import emotion_teacher
    from ..scene import AUDIO_RATE, Scene

    path = Path(path)
    avatar = Avatar.open(path)
    record = avatar.motion_config().emotion_directions
    if record is None:
        raise EmotagError(f"avatar {path}: its motion network has no emotion directions to refine "
                          "(its prior was trained without them)")
    scene_path = Path(avatar.manifest.get("scene", {}).get("path", ""))
    if not (scene_path / "manifest.json").is_file():
        raise EmotagError(f"avatar {path}: its scene {scene_path} is gone; the emotion refinement renders the "
                          "avatar speaking its adaptation clip")
    scene = Scene.open(scene_path, check_files=False)
    first, end = avatar.manifest["train_frames"]
    wav = scene.audio()[int(first / scene.fps * AUDIO_RATE):int(end / scene.fps * AUDIO_RATE)]
    directions = EmotionDirections.from_record(record, f"avatar {path}")
    refined, summary = refine_directions(directions, [prepare_avatar(path, wav, AUDIO_RATE, directions, settings.size)],
                                         emotion_teacher("auto"), settings, log, progress)
    anchor = EmotionAnchor(refined.record(), directions.directions.shape[1])
    tmp, old = path.parent / f".{path.name}.refine-tmp", path.parent / f".{path.name}.refine-old"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(path, tmp)
    manifest = read_manifest(tmp, AVATAR_KIND, AVATAR_VERSION)
    state = torch.load(tmp / "grmn.pt", map_location="cpu", weights_only=True)
    state["decoder.anchor.directions"] = anchor.directions
    state["decoder.anchor.span"] = anchor.span
    state["decoder.anchor.log_scale"] = anchor.log_scale.detach()
    torch.save(state, tmp / "grmn.pt")
    manifest["motion"]["emotion_directions"] = refined.record()
    manifest["emotion_refinement"] = {"settings": asdict(settings), "teacher": refined.provenance["refined"]["teacher"],
                                      "frames": [first, end], "summary": summary,
                                      "start": {"directions": record["directions"], "magnitude": record["magnitude"]}}
    write_manifest(tmp, manifest)
    os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old)
    return summary


__all__ = ["AVATAR_SETTINGS", "CalibrationAvatar", "RefineSettings", "allowed", "prepare_avatar", "refine_avatar",
           "refine_directions", "render_frame", "teacher_input"]
