"""The training step shared by pretraining and adaptation, on the forward model of forward/frame.py.

One step on frame t of an identity (docs/reference/motion-network.md):

    audio tokens [8, 16, D], AUs [8, 6] of the frames [t−4, t+4), identity s
      → GRMN (teacher-forced emotion / intensity with probability p_teacher)  → Ψ̂ [50], Θ̂_jaw [3], z_e, g
      → head mesh with the tracked shape, rotation, neck, eyes, translation and Ψ̂, Θ̂_jaw
      → Gaussians bound to its triangles (+ the intra-oral deltas on mouth-region Gaussians)
      → render over the frame's backdrop → loss

    L = L1 + 0.2·D-SSIM  +  w_flame·MSE(Ψ̂, Θ̂ ; tracked)  +  0.01·KL(p_emo ‖ softmax z_e) + 0.1·|g − e|
        (+ 0.01·L_D + 0.001·L_N against the tracked mesh in adaptation) + GaussianAvatars regularisers

Phases, per identity:
- static (warm-up): the Gaussians are rendered on the *tracked* mesh, as in the appearance fit. The
  motion network still runs and learns from its parameter losses (flame + SEG) only: every step
  then updates it — which DistributedDataParallel needs, since all ranks must take part in every
  backward — while the render loss never reaches it through Gaussians that are not yet warm.
- dynamic with blend w ∈ (0, 1]: the mesh uses (1 − w)·tracked + w·predicted expression and jaw, and
  the mouth deltas are scaled by w — the curriculum of pretraining (docs/commands/pretrain.md). The official
  code blends a canonical (neutral) render into the deformed one; our warm-up already renders the
  tracked mesh, so handing over from tracked to predicted parameters is the same curriculum
  without a jump. Adaptation uses w = 1 right after its warm-up, as the official code does.

The render loss compares the render composited over the frame's backdrop (the frame with the head
replaced by the background plate) with the frame: outside the head both are the same pixels, so it
measures the head region and any opacity leaking out of it (the appearance fit's convention).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..forward.clip import TrackedClip
from ..forward.frame import ForwardModel, with_motion
from ..forward.mouth_region import MouthRegion, select_mouth
from ..gaussians.params import GaussianParams
from ..gaussians.regularizers import position_loss, scale_loss
from ..gaussians.render import composite, render_on_mesh
from ..head.lbs import HeadPose
from ..head.model import HeadModel
from ..motion.ema import EMA
from ..motion.grmn import GRMN, MotionOutput
from ..motion.losses import depth_loss, emotion_kl_loss, flame_loss, gate_loss, normal_loss, render_loss
from ..motion.params import optimizer_groups
from ..motion.windows import frame_windows
from .gaussian_state import GaussianTrainState


@dataclass
class IdentityData:
    """One tracked scene as motion-training data (N frames).

    audio [N, T, D] float16 tokens (as stored; half the memory); aus [N, 6]; emotion [N, 7] teacher
    distributions; identity [Did];
    expr [N, n_expr] and jaw [N, 3] tracked (the flame-loss targets); mouth: the mouth region on
    this identity's canonical mesh; static_offset [V, 3] or None (imported VHAP tracks).
    """

    name: str
    clip: TrackedClip
    audio: Tensor
    aus: Tensor
    emotion: Tensor
    identity: Tensor
    expr: Tensor
    jaw: Tensor
    mouth: MouthRegion
    static_offset: Tensor | None

    @classmethod
    def load(cls, scene_path: Path | str, size: int | None, model: HeadModel, n_expr: int = 50,
             name: str | None = None, cache_mb: float = 1024.0) -> IdentityData:
        """The scene's data; ``cache_mb`` bounds its cache of decoded frames (TrackedClip)."""
        clip = TrackedClip(scene_path, size=size, model=model, cache_mb=cache_mb)
        scene, params = clip.scene, clip.track.params

        def array(file: str, dtype=np.float32) -> Tensor:
            return torch.from_numpy(np.array(scene.array(file), dtype=dtype))

        offset = params.get("static_offset")
        return cls(
            name=name or scene.path.name, clip=clip, audio=array("audio_features.npy", np.float16),
            aus=array("aus.npy"),
            emotion=array("emotion.npy"), identity=array("identity.npy"),
            expr=torch.from_numpy(np.asarray(params["expr"][:, :n_expr], np.float32)),
            jaw=torch.from_numpy(np.asarray(params["jaw"], np.float32)),
            mouth=select_mouth(model, clip.canonical_vertices()),
            static_offset=None if offset is None else torch.from_numpy(np.asarray(offset, np.float32)))

    @property
    def n_frames(self) -> int:
        return self.clip.n_frames

    def motion_inputs(self, frames: list[int], window: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """GRMN inputs of ``frames`` [B]: audio [B, W, T, D], AUs [B, W, 6] (each window frame's
        own, so that training matches ``GRMN.sequence``), valid [B, W], identity [B, Did]."""
        idx = torch.as_tensor(frames)
        audio, valid = frame_windows(self.audio, window, idx)
        aus, _ = frame_windows(self.aus, window, idx)
        return audio.float(), aus, valid, self.identity.expand(len(frames), -1)


@dataclass
class Stretch:
    """``frames`` (consecutive) of one identity on which the motion network gets its parameter
    losses (flame + SEG) through ``GRMN.sequence``, besides the rendered frame."""

    data: IdentityData
    frames: range


@dataclass
class StretchInputs:
    """GRMN.sequence inputs of a stretch of L frames: audio [L, T, D], aus [L, 6], identity [Did],
    emotion [L, 7] or None and intensity [L, 1] or None (teacher forcing)."""

    audio: Tensor
    aus: Tensor
    identity: Tensor
    emotion: Tensor | None
    intensity: Tensor | None


class MotionDriver(nn.Module):
    """The GRMN and the mouth refinement in one forward pass — the module DDP wraps.

    The refinement reads the mouth-Gaussian centres deformed by the *predicted* motion, which are
    known only after the GRMN's decoder ran; ``mouth_fn(expr, jaw)`` computes them inside this
    forward, so that DistributedDataParallel sees every parameter it used. Checkpoints and priors
    hold ``driver.grmn``'s state dict.
    """

    def __init__(self, grmn: GRMN):
        super().__init__()
        self.grmn = grmn

    def forward(self, audio: Tensor, aus: Tensor, identity: Tensor, emotion: Tensor | None = None,
                intensity: Tensor | None = None, valid: Tensor | None = None,
                mouth_fn: Callable[[Tensor, Tensor], Tensor] | None = None, mouth_weight: float = 1.0,
                stretches: Sequence[StretchInputs] = ()) -> tuple[MotionOutput, list[MotionOutput]]:
        """The windowed prediction of the rendered frame (with its mouth deltas), and
        ``GRMN.sequence`` over each of ``stretches`` (consecutive frames, for the parameter losses)."""
        out = self.grmn(audio, aus, identity, emotion, intensity, valid)
        if mouth_fn is not None and self.grmn.mouth is not None:
            out.mouth = self.grmn.mouth(mouth_fn(out.expr, out.jaw), out.audio_feature, mouth_weight)
        extra = [self.grmn.sequence(s.audio, s.aus, s.identity, s.emotion, s.intensity) for s in stretches]
        return out, extra


# ---------------------------------------------------------------- the step


@dataclass
class LossWeights:
    flame: float = 1.0
    kl: float = 0.01
    score: float = 0.1
    dssim: float = 0.2
    depth: float = 0.0
    normal: float = 0.0
    position: float = 0.01
    scale: float = 1.0

    @classmethod
    def of(cls, config: Any) -> LossWeights:
        """The weights a PretrainConfig or AdaptConfig sets (its ``w_<name>`` fields; a weight
        the config has no field for keeps its default here, e.g. no L_Geo in pretraining)."""
        return cls(**{f.name: getattr(config, f"w_{f.name}") for f in fields(cls) if hasattr(config, f"w_{f.name}")})

    @property
    def geometry(self) -> bool:
        return self.depth > 0 or self.normal > 0


@dataclass
class StepOutput:
    """loss (to backward); terms (floats for the log); meta and world_scales (for densification)."""

    loss: Tensor
    terms: dict[str, float]
    meta: dict
    world_scales: Tensor


def step_loss(driver: nn.Module, grmn: GRMN, data: IdentityData, gs: GaussianParams, model: HeadModel,
              t: int, blend: float | None, weights: LossWeights, generator: torch.Generator | None = None,
              stretches: Sequence[Stretch] = ()) -> StepOutput:
    """The loss of frame ``t``. ``driver`` is the (possibly DDP-wrapped) MotionDriver of ``grmn``;
    ``model`` the head model on the Gaussians' device; blend None = static warm-up step.

    stretches: consecutive frames (of this or other identities) on which the motion network also
    gets its parameter losses (flame and SEG, through ``GRMN.sequence``); the flame and SEG terms
    then average over all 1 + ΣL samples. Many more motion samples per step for a fraction of the
    cost of a render (the paper: none).
    """
    device = gs.binding.device
    clip, fd = data.clip, data.clip.frame(t)
    image, head, backdrop = fd.image.to(device), fd.head.to(device), fd.backdrop.to(device)
    audio, aus, valid, identity = (x.to(device) for x in data.motion_inputs([t], grmn.config.window))
    p_emo = data.emotion[t:t + 1].to(device)
    emotion, intensity = grmn.teacher_inputs(p_emo, generator)
    stretches = [s for s in stretches if len(s.frames)]
    extra_inputs = [stretch_inputs(grmn, s, device, generator) for s in stretches]
    K, w2c = clip.K.to(device), clip.w2c(t).to(device)
    offset = None if data.static_offset is None else data.static_offset.to(device)
    identity_model = ForwardModel(model, gs, data.mouth, static_offset=offset)

    if blend is None:
        out, extra = driver(audio, aus, identity, emotion, intensity, valid, stretches=extra_inputs)
        rendered, world_scales = render_on_mesh(gs, fd.verts.to(device), model.faces, K, w2c, clip.size,
                                                       normals=weights.geometry)
    else:
        tracked = clip.pose([t])
        tracked = HeadPose(*(x.to(device) for x in (tracked.shape, tracked.expr, tracked.rotation, tracked.neck,
                                                    tracked.jaw, tracked.eyes, tracked.translation)))
        expr_t, jaw_t = data.expr[t:t + 1].to(device), data.jaw[t:t + 1].to(device)
        idx = identity_model.mouth_gaussians

        def used(expr: Tensor, jaw: Tensor) -> HeadPose:
            if blend >= 1.0:
                return with_motion(tracked, expr, jaw)
            return with_motion(tracked, torch.lerp(expr_t, expr, blend), torch.lerp(jaw_t, jaw, blend))

        def mouth_fn(expr: Tensor, jaw: Tensor) -> Tensor:
            with torch.no_grad():
                return identity_model.mouth_positions(used(expr, jaw))

        out, extra = driver(audio, aus, identity, emotion, intensity, valid,
                            mouth_fn=mouth_fn if len(idx) else None, mouth_weight=blend, stretches=extra_inputs)
        mouth = None if out.mouth is None else (out.mouth, idx)
        rendered, world_scales = identity_model.render(used(out.expr, out.jaw), K, w2c, clip.size, mouth,
                                                       normals=weights.geometry)

    pred = composite(rendered, backdrop)
    terms: dict[str, Tensor] = {"render": render_loss(pred[None], image[None], dssim_weight=weights.dssim)}
    if weights.geometry:
        depth_t, normal_t = (x.to(device) for x in clip.mesh_geometry(t))
        m = head * (depth_t > 0)
        alpha = rendered.alphas.permute(0, 3, 1, 2)
        normals = rendered.normals.permute(0, 3, 1, 2) / alpha.clamp_min(1e-4)
        terms["depth"] = depth_loss(rendered.depths.permute(0, 3, 1, 2), depth_t[None], m[None])
        terms["normal"] = normal_loss(normals, normal_t[None], m[None])
    terms["flame"] = flame_loss(out.expr, out.jaw, data.expr[t:t + 1].to(device), data.jaw[t:t + 1].to(device))
    terms["kl"] = emotion_kl_loss(out.emotion_logits, p_emo)
    terms["score"] = gate_loss(out.gate, p_emo)
    if stretches:
        sums = {k: terms[k] for k in ("flame", "kl", "score")}
        for st, pred in zip(stretches, extra):
            cut, n = slice(st.frames.start, st.frames.stop), len(st.frames)
            p_extra = st.data.emotion[cut].to(device)
            sums["flame"] = sums["flame"] + n * flame_loss(pred.expr, pred.jaw, st.data.expr[cut].to(device),
                                                           st.data.jaw[cut].to(device))
            sums["kl"] = sums["kl"] + n * emotion_kl_loss(pred.emotion_logits, p_extra)
            sums["score"] = sums["score"] + n * gate_loss(pred.gate, p_extra)
        total = 1 + sum(len(st.frames) for st in stretches)
        terms.update({k: v / total for k, v in sums.items()})
    terms["regular"] = (weights.position * position_loss(gs.params["means"])
                        + weights.scale * scale_loss(gs.local_scales()))
    factor = {"render": 1.0, "depth": weights.depth, "normal": weights.normal, "flame": weights.flame,
              "kl": weights.kl, "score": weights.score, "regular": 1.0}
    loss = sum(factor[k] * v for k, v in terms.items())
    logged = {k: float(v.detach()) for k, v in terms.items()}
    logged["loss"] = float(loss.detach())
    return StepOutput(loss, logged, rendered.meta, world_scales)


def stretch_inputs(grmn: GRMN, stretch: Stretch, device: torch.device,
                   generator: torch.Generator | None = None) -> StretchInputs:
    """The GRMN.sequence inputs of ``stretch`` on ``device``, with teacher forcing drawn per frame."""
    d, cut = stretch.data, slice(stretch.frames.start, stretch.frames.stop)
    emotion, intensity = grmn.teacher_inputs(d.emotion[cut].to(device), generator)
    return StretchInputs(d.audio[cut].to(device).float(), d.aus[cut].to(device), d.identity.to(device), emotion,
                         intensity)


def draw_stretches(sampler: np.random.Generator, data: Sequence[IdentityData], length: int, count: int,
                   limit: int | None = None) -> list[Stretch]:
    """``count`` stretches of ``length`` consecutive frames, each of an identity drawn uniformly
    from ``data``, from a random start within its first ``limit`` frames (default: all of them).
    Empty for length 0 or count 0."""
    if length <= 0 or count <= 0:
        return []
    out = []
    for _ in range(count):
        d = data[int(sampler.integers(len(data)))]
        n = d.n_frames if limit is None else min(limit, d.n_frames)
        start = int(sampler.integers(max(1, n - length + 1)))
        out.append(Stretch(d, range(start, min(n, start + length))))
    return out


def motion_optimizer(grmn: GRMN, lr_net: float, lr_grid: float, weight_decay: float, betas: tuple[float, float],
                     decay: float, iterations: int) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable GRMN parameters (hash grids at ``lr_grid`` without weight decay,
    the rest at ``lr_net``) and the LR schedule decay^(step / iterations) (docs/commands/pretrain.md)."""
    opt = torch.optim.AdamW(optimizer_groups(grmn, lr_net, lr_grid, weight_decay), betas=tuple(betas), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: decay ** (s / iterations))
    return opt, sched


def train_step(driver: nn.Module, grmn: GRMN, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, ema: EMA | None, state: GaussianTrainState,
               data: IdentityData, model: HeadModel, t: int, blend: float | None, weights: LossWeights,
               generator: torch.Generator, progress: float, means_lr_final: float, densify: bool,
               stretches: Sequence[Stretch] = (), extra: Sequence[Callable[[], dict[str, Tensor]]] = ()
               ) -> dict[str, float]:
    """One optimisation step on frame ``t`` of the identity of ``state``: loss, backward, the motion
    and Gaussian optimisers, the LR schedules, the EMA and densification. Returns the logged terms.
    ``progress`` in [0, 1] drives the Gaussians' position-LR decay; ``stretches`` as ``step_loss``;
    each of ``extra`` gives further weighted loss terms (e.g. adaptation's silence guard and
    opening term), added in order and logged."""
    state.set_lr(progress, means_lr_final)
    out = step_loss(driver, grmn, data, state.gaussians, model, t, blend, weights, generator, stretches)
    loss = out.loss
    for term in extra:
        for name, value in term().items():
            loss = loss + value
            out.terms[name] = float(value.detach())
    if extra:
        out.terms["loss"] = float(loss.detach())
    state.strategy.step_pre_backward(out.meta)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    scheduler.step()
    if ema is not None:
        ema.update(grmn)
    state.steps += 1
    state.step()
    if densify:
        state.densify(out.meta, out.world_scales)
    return out.terms
