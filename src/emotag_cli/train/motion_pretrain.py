"""The motion stage of ``emotag pretrain``: the motion network on many identities, no rendering.

Every step trains on ``batch`` stretches of ``stretch`` consecutive frames, each of an identity
drawn uniformly, in one batched pass (``GRMN.stretches``), plus ``silence_batch`` stretches of
silent audio (config.MotionPretrainConfig):

    L = w_flame·MSE(Ψ̂, Θ̂_jaw ; tracked) + w_open·MSE(opening(Ψ̂, Θ̂) ; tracked opening)
        + w_kl·KL(p_emo ‖ softmax z_e) + w_score·|g − e| + w_silence·MSE(silent opening ; neutral)

The mouth opening (train/mouth_opening.py) is measured on the head model's inner lips, so the
network is told how far the mouth opens whichever expression or jaw coefficients carry it. Two
guards keep the mouth on the audio: a share of the stretches gets another stretch's AUs
(``au_swap``), so no mouth motion can be read from the upper face, and the silent stretches —
real AUs and identities, silent audio — must keep the neutral opening.

A step costs a few hundred milliseconds on one CPU core, so thousands of steps over a corpus of
many identities take minutes. With ``torchrun`` every rank draws its own stretches from all the
clips and the network is wrapped in DistributedDataParallel (one step averages world_size
batches). The prior (prior.py; no Gaussians) is published atomically by rank 0; the render stage
(train/pretrain.py, ``init``) can start from it.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..artifact import atomic_folder
from ..config import MotionPretrainConfig, to_dict
from ..errors import EmotagError
from ..head.emotion_directions import resolve_directions
from ..head.registry import head_model_of, head_model_record
from ..motion.config import MotionConfig
from ..motion.ema import EMA
from ..motion.grmn import GRMN
from ..motion.losses import emotion_kl_loss, flame_loss, gate_loss
from ..prior import head_model_config, write_prior
from ..progress import Reporter, quiet
from ..scene import Scene
from ..track.result import open_track
from .distributed import setup
from .motion_data import MotionClip, load_motion_clips, silent_stretches
from .motion_step import motion_optimizer
from .mouth_opening import MouthGauge, opening_loss

TERMS = ("loss", "flame", "open", "kl", "score", "silence")


@dataclass
class MotionBatch:
    """S speech stretches and Q silent ones of L frames (rows stretch-major where flattened).

    audio [S+Q, L, T, D]; aus [S+Q, L, 6]; identity [S+Q, Did]; emotion / intensity [S+Q, L, ·]
    teacher forcing (NaN = auto); p_emo [S, L, 7]; expr [S·L, E], jaw [S·L, 3], opening [S·L]
    targets; shape [(S+Q)·L, n_shape]; neutral [Q·L] the silent rows' target opening.
    """

    audio: Tensor
    aus: Tensor
    identity: Tensor
    emotion: Tensor
    intensity: Tensor
    p_emo: Tensor
    expr: Tensor
    jaw: Tensor
    opening: Tensor
    shape: Tensor
    neutral: Tensor

    def to(self, device: torch.device) -> MotionBatch:
        return MotionBatch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def draw_batch(rng: np.random.Generator, clips: Sequence[MotionClip], silence: Tensor, grmn: GRMN,
               config: MotionPretrainConfig, teacher: torch.Generator) -> MotionBatch:
    """One step's stretches: ``config.batch`` of speech, ``config.silence_batch`` of silence."""
    s, q, n = config.batch, config.silence_batch, config.stretch
    picks = [clips[int(k)] for k in rng.integers(len(clips), size=s)]
    cuts = [slice(st, st + n) for st in (int(rng.integers(c.n_frames - n + 1)) for c in picks)]

    def stack(key: str) -> Tensor:
        return torch.stack([getattr(c, key)[cut] for c, cut in zip(picks, cuts)]).float()

    aus = stack("aus")
    swap = torch.from_numpy(rng.random(s) < config.au_swap)
    other = torch.from_numpy((np.arange(s) + rng.integers(1, max(2, s))) % s)        # another stretch
    aus = torch.where(swap[:, None, None], aus[other], aus)
    p_emo = stack("emotion")
    emotion, intensity = grmn.teacher_inputs(p_emo.reshape(s * n, -1), teacher)
    emotion = p_emo.new_full((s * n, p_emo.shape[-1]), float("nan")) if emotion is None else emotion

    # Silence: a real stretch's AUs (any identity) and another identity, with silent audio.
    quiet_ids = [clips[int(k)] for k in rng.integers(len(clips), size=q)]
    quiet_aus = aus[torch.from_numpy(rng.integers(s, size=q))] if q else aus[:0]
    levels = torch.from_numpy(rng.integers(len(silence), size=q))
    nan = float("nan")
    return MotionBatch(
        audio=torch.cat([stack("audio"), silence[levels]]),
        aus=torch.cat([aus, quiet_aus]),
        identity=torch.stack([c.identity for c in picks + quiet_ids]),
        emotion=torch.cat([emotion.reshape(s, n, -1), p_emo.new_full((q, n, p_emo.shape[-1]), nan)]),
        intensity=torch.cat([intensity.reshape(s, n, 1), p_emo.new_full((q, n, 1), nan)]),
        p_emo=p_emo,
        expr=stack("expr").reshape(s * n, -1), jaw=stack("jaw").reshape(s * n, -1),
        opening=stack("opening").reshape(s * n),
        shape=torch.stack([c.shape for c in picks + quiet_ids]).repeat_interleave(n, 0),
        neutral=torch.tensor([c.neutral for c in quiet_ids], dtype=torch.float32).repeat_interleave(n))


class MotionObjective(nn.Module):
    """The GRMN and the motion-stage loss in one forward pass (the module DDP wraps)."""

    def __init__(self, grmn: GRMN, gauge: MouthGauge, config: MotionPretrainConfig):
        super().__init__()
        self.grmn = grmn
        self.gauge = gauge
        self.config = config

    def forward(self, b: MotionBatch) -> tuple[Tensor, dict[str, Tensor]]:
        c = self.config
        out = self.grmn.stretches(b.audio, b.aus, b.identity, b.emotion, b.intensity)
        speech = b.expr.shape[0]
        opening = self.gauge(b.shape, out.expr, out.jaw)
        p_emo = b.p_emo.reshape(speech, -1)
        terms = {"flame": flame_loss(out.expr[:speech], out.jaw[:speech], b.expr, b.jaw),
                 "open": opening_loss(opening[:speech], b.opening),
                 "kl": emotion_kl_loss(out.emotion_logits[:speech], p_emo),
                 "score": gate_loss(out.gate[:speech], p_emo)}
        terms["silence"] = (opening_loss(opening[speech:], b.neutral) if len(b.neutral)
                            else opening.new_zeros(()))
        weights = {"flame": c.w_flame, "open": c.w_open, "kl": c.w_kl, "score": c.w_score, "silence": c.w_silence}
        loss = sum(weights[k] * v for k, v in terms.items())
        return loss, terms


def pretrain_motion(scene_paths: Sequence[Path | str], names: Sequence[str], out: Path | str,
                    config: MotionPretrainConfig | None = None, overwrite: bool = False,
                    reporter: Reporter | None = None, device: str | None = None,
                    on_step: Callable[[int, dict[str, float]], None] | None = None) -> Path:
    """Train a motion network on tracked scenes without rendering; writes a prior to ``out``.

    names: the identity name of each scene (pretrain.identity_names). on_step(step, terms) is
    called after each step (tests, progress hooks).
    """
    config = config or MotionPretrainConfig()
    config.validate()
    out = Path(out).absolute()
    if out.exists() and not overwrite:
        raise EmotagError(f"{out} already exists; pass --overwrite to replace it")
    env = setup(device)
    reporter = reporter if (reporter is not None and env.main) else quiet()
    try:
        return _pretrain_motion([Path(p).absolute() for p in scene_paths], list(names), out, config, overwrite,
                                reporter, env, on_step)
    finally:
        env.close()


def _pretrain_motion(paths, names, out, config, overwrite, reporter, env, on_step) -> Path:
    t_start = time.perf_counter()
    if not paths:
        raise EmotagError("pretrain needs at least one tracked scene")
    spoken = [p for p in paths if Scene.open(p, check_files=False).has_audio]
    if not spoken:
        raise EmotagError("none of the scenes has audio: the motion stage needs speech")
    model = head_model_of(open_track(spoken[0]).manifest["config"])
    n_expr = int(config.motion.get("n_expr", MotionConfig.n_expr))
    with reporter.step("load scenes"):
        clips, records, signature = load_motion_clips(paths, names, model, n_expr, config.stretch, reporter.warn)
    first = Path(records[0]["path"])
    directions = resolve_directions(config.emotion_directions, signature.head_model, signature.head_model_sha256,
                                    reporter.warn)
    motion = MotionConfig(**{**config.motion, "audio_dim": signature.audio_dim, "audio_tokens": signature.audio_tokens,
                             "audio_encoder": signature.audio_encoder, "identity_dim": signature.identity_dim,
                             "emotion_directions": None if directions is None else directions.record()})
    motion.validate()
    silence = silent_stretches(first, config.stretch, config.seed)

    torch.manual_seed(config.seed)
    grmn = GRMN(motion).to(env.device)
    ema = EMA(grmn, config.ema_decay)
    objective = MotionObjective(grmn, MouthGauge(model.to(env.device)), config)
    if env.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [env.device.index] if env.device.type == "cuda" else None
        wrapped: nn.Module = DistributedDataParallel(objective, device_ids=ids, find_unused_parameters=True)
    else:
        wrapped = objective
    optimizer, scheduler = motion_optimizer(grmn, config.lr, config.lr_grid, config.weight_decay, config.betas,
                                            config.lr_decay, config.iterations)
    rng = np.random.default_rng([config.seed, env.rank])
    teacher = torch.Generator().manual_seed(config.seed * 1000 + env.rank)
    rows: list[dict[str, float]] = []
    t_load = time.perf_counter() - t_start
    t0 = time.perf_counter()
    grmn.train()
    with reporter.step("motion pretrain", total=config.iterations) as advance:
        for step in range(1, config.iterations + 1):
            batch = draw_batch(rng, clips, silence, grmn, config, teacher).to(env.device)
            loss, terms = wrapped(batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            ema.update(grmn)
            logged = {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
            rows.append({"step": step, **logged, "seconds": round(time.perf_counter() - t0, 3)})
            advance(1)
            if on_step is not None:
                on_step(step, logged)
    t_train = time.perf_counter() - t0

    env.barrier()
    if env.main:
        with ema.average_parameters(grmn):
            ema_state = {k: v.detach().cpu().clone() for k, v in grmn.state_dict().items()}
        recent = rows[-100:]
        losses = {k: float(np.mean([r[k] for r in recent])) for k in TERMS}
        track = open_track(first)
        with atomic_folder(out, overwrite=overwrite) as tmp:
            write_prior(tmp, config={"stage": "motion", **to_dict(config)}, motion=motion,
                        grmn_state={k: v.detach().cpu() for k, v in grmn.state_dict().items()}, ema_state=ema_state,
                        signature=signature, head_model=head_model_record(model),
                        head_config=head_model_config(track), scenes=records, steps=config.iterations,
                        world_size=env.world_size, final_losses=losses,
                        timings={"load_s": round(t_load, 2), "train_s": round(t_train, 2),
                                 "s_per_step": round(t_train / config.iterations, 4)})
            with open(tmp / "losses.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, ["step", *TERMS, "seconds"])
                writer.writeheader()
                writer.writerows(rows)
    env.barrier()
    return out
