"""``emotag pretrain``: one shared motion network over many tracked scenes → a motion prior.

Each identity (scene) has its own Gaussians; the Gated Residual Motion Network is shared
(docs/commands/pretrain.md). Every step draws one identity and one of its frames (batch 1, as the
paper) and runs ``motion_step.train_step``:

- per identity, its first ``warmup`` steps are static (Gaussians on the tracked mesh; the motion
  network learns from its parameter losses only), then the curriculum blend hands the mesh over
  from the tracked to the predicted expression and jaw over ``blend`` of the identity's expected
  steps (docs/commands/pretrain.md: per-identity warm-up);
- AdamW on the network (LR 5e-5, hash grids 5e-3, decayed 0.1^(it/total)), its EMA (0.995), Adam
  on the Gaussians with the positions' LR decaying, densification until 85 % of each identity's
  steps;
- loss: render + w_flame·flame (1.0) + 0.01·KL + 0.1·|g − e|, teacher-forced emotion inputs.

With ``torchrun`` every rank owns a shard of the identities (its Gaussians and their optimisers)
and draws from them; the network is wrapped in DistributedDataParallel, so one step averages the
gradients of ``world_size`` samples. Checkpoints (train/checkpoint.py) go to ``<out>.ckpt/``
every ``checkpoint_every`` steps and on Ctrl-C; ``resume=True`` continues from the latest one and
reproduces the uninterrupted run. The prior is published atomically when the last step is done,
and the checkpoint folder is then removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..artifact import atomic_folder
from ..config import PretrainConfig, to_dict
from ..errors import EmotagError
from ..head.emotion_directions import resolve_directions
from ..head.model import HeadModel
from ..head.registry import head_model_of, head_model_record
from ..motion.config import MotionConfig
from ..motion.ema import EMA
from ..motion.grmn import GRMN
from ..prior import Prior, head_model_config, mismatch, scene_record, scene_signature, write_prior
from ..progress import Reporter, quiet
from ..scene import Scene
from ..track.result import open_track
from .checkpoint import Checkpoints, StopRequest, capture_rng, checkpoint_dir, restore_rng
from .distributed import DistEnv, setup, shard
from .gaussian_state import GaussianTrainState, binding_strategy
from .loss_log import LossLog, merge_logs
from .motion_step import IdentityData, LossWeights, MotionDriver, draw_stretches, motion_optimizer, train_step

# Decoded training frames kept in memory per rank, shared out over its identities (MB).
FRAME_CACHE_MB = 4096.0


def identity_names(paths: Sequence[Path]) -> list[str]:
    """Folder names, made unique with a numeric suffix."""
    names: list[str] = []
    for p in paths:
        name, k = p.name, 2
        while name in names:
            name, k = f"{p.name}-{k}", k + 1
        names.append(name)
    return names


def pretrain(scene_paths: Sequence[Path | str], out: Path | str, config: PretrainConfig | None = None,
             overwrite: bool = False, reporter: Reporter | None = None, resume: bool = False,
             device: str | None = None, on_step: Callable[[int], None] | None = None,
             init: Path | str | None = None) -> Path:
    """Pretrain a motion prior on tracked scenes; returns the prior's path (on every rank).

    init: a prior (e.g. the motion stage's, train/motion_pretrain.py) whose motion network and
    settings the run starts from instead of a fresh network; it must fit the scenes.

    resume: continue the run whose checkpoints are in ``<out>.ckpt/`` (same scenes and config).
    device: "cpu", "cuda" or None (CUDA when available). on_step(step) is called after each
    finished step (progress hooks, tests).
    """
    config = config or PretrainConfig()
    config.validate()
    env = setup(device)
    try:
        return _pretrain([Path(p).absolute() for p in scene_paths], Path(out).absolute(), config, overwrite,
                         reporter if (reporter is not None and env.main) else quiet(), resume, env, on_step,
                         None if init is None else Prior.open(init))
    finally:
        env.close()


def _pretrain(paths: list[Path], out: Path, config: PretrainConfig, overwrite: bool, reporter: Reporter,
              resume: bool, env: DistEnv, on_step: Callable[[int], None] | None, init: Prior | None) -> Path:
    t_start = time.perf_counter()
    if not paths:
        raise EmotagError("pretrain needs at least one tracked scene")
    if len(set(paths)) < len(paths):
        raise EmotagError("the same scene is listed twice")
    if out.exists() and not overwrite:
        raise EmotagError(f"{out} already exists; pass --overwrite to replace it")
    names = identity_names(paths)
    scenes = [Scene.open(p) for p in paths]
    tracks = [open_track(p) for p in paths]
    signature = scene_signature(scenes[0], tracks[0])
    for scene, track in zip(scenes[1:], tracks[1:]):
        problem = mismatch(signature, scene_signature(scene, track))
        if problem:
            raise EmotagError(f"scene {scene.path} does not match {scenes[0].path}: it has {problem}")
    if config.size is not None and config.size > signature.size:
        raise EmotagError(f"--size {config.size} is larger than the scenes' {signature.size} pixels")
    model: HeadModel = head_model_of(tracks[0].manifest["config"])
    if init is not None:
        for scene, track in zip(scenes, tracks):
            init.check_scene(scene, track)
        motion = init.motion_config()
    else:
        directions = resolve_directions(config.emotion_directions, signature.head_model,
                                        signature.head_model_sha256, reporter.warn)
        motion = MotionConfig(**{**config.motion, "audio_dim": signature.audio_dim,
                                 "audio_tokens": signature.audio_tokens, "audio_encoder": signature.audio_encoder,
                                 "identity_dim": signature.identity_dim,
                                 "emotion_directions": None if directions is None else directions.record()})
    motion.validate()
    records = [scene_record(n, s, t) for n, s, t in zip(names, scenes, tracks)]
    ckpt = Checkpoints(checkpoint_dir(out), env)
    resume_step = ckpt.start({"stage": "pretrain", "config": to_dict(config), "scenes": records}, resume)
    mine = shard(len(paths), env)

    # Everything random is seeded: the network identically on every rank, the rest per rank.
    torch.manual_seed(config.seed)
    grmn = GRMN(motion).to(env.device)
    if init is not None:
        grmn.load_state_dict(init.state_dict(ema=True))
    ema = EMA(grmn, config.ema_decay)
    driver = MotionDriver(grmn)
    if env.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [env.device.index] if env.device.type == "cuda" else None
        wrapped: torch.nn.Module = DistributedDataParallel(driver, device_ids=ids, find_unused_parameters=True)
    else:
        wrapped = driver
    optimizer, scheduler = motion_optimizer(grmn, config.lr_net, config.lr_grid, config.weight_decay, config.betas,
                                            config.lr_decay, config.iterations)
    torch.manual_seed(config.seed + 1 + env.rank)
    sampler = np.random.default_rng([config.seed, env.rank])
    teacher = torch.Generator().manual_seed(config.seed * 1000 + env.rank)

    with reporter.step("load scenes", total=len(mine)) as advance:
        data: list[IdentityData] = []
        for k in mine:
            data.append(IdentityData.load(paths[k], config.size, model, motion.n_expr, names[k],
                                          cache_mb=FRAME_CACHE_MB / len(mine)))
            advance(1)
    model_dev = model.to(env.device)
    per_identity = config.iterations * env.world_size / len(paths)
    blend_steps = max(1, round(config.blend * per_identity))
    states: list[GaussianTrainState] = []
    for k, d in zip(mine, data):
        canonical = d.clip.canonical_vertices()
        strategy = binding_strategy(canonical, config.warmup, int(config.densify_until * per_identity),
                                    config.densify_every, config.max_gaussians)
        states.append(GaussianTrainState.create(canonical, model.faces, config.n_gaussians, config.sh_degree,
                                                config.seed + k, config.gaussian_lr, strategy, env.device))
    generators = {"sampler": sampler, "teacher": teacher}

    start = 0
    if resume_step is not None:
        shared = ckpt.load_shared(resume_step)
        grmn.load_state_dict(shared["model"])
        ema.load_state_dict(shared["ema"])
        optimizer.load_state_dict(shared["optimizer"])
        scheduler.load_state_dict(shared["scheduler"])
        own = ckpt.load_shard(env.rank, resume_step)
        for state, d in zip(states, data):
            state.load_state_dict(own["identities"][d.name])
        restore_rng(own["rng"], generators)
        start = int(shared["step"])

    def save(step: int) -> None:
        shared = {"step": step, "model": grmn.state_dict(), "ema": ema.state_dict(),
                  "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()} if env.main else {}
        ckpt.save(step, shared, {"rank": env.rank, "rng": capture_rng(generators),
                                 "identities": {d.name: s.state_dict() for d, s in zip(data, states)}})

    weights = LossWeights.of(config)
    log = LossLog(ckpt.path / f"losses-rank-{env.rank}.csv", resume_step)
    t_load = time.perf_counter() - t_start
    t0 = time.perf_counter() - log.offset
    try:
        with StopRequest() as stop, reporter.step("pretrain", total=config.iterations) as advance:
            advance(start)
            for step in range(start + 1, config.iterations + 1):
                j = int(sampler.integers(len(states)))
                state, d = states[j], data[j]
                t = int(sampler.integers(d.n_frames))
                own_step = state.steps + 1
                blend = None if own_step <= config.warmup else min(1.0, (own_step - config.warmup) / blend_steps)
                stretches = draw_stretches(sampler, data, config.motion_stretch, config.motion_batch)
                terms = train_step(wrapped, grmn, optimizer, scheduler, ema, state, d, model_dev, t, blend, weights,
                                   teacher, step / config.iterations, config.means_lr_final, config.densify, stretches)
                log.write_step(terms, step=step, rank=env.rank, identity=d.name, frame=t, blend=blend,
                               gaussians=state.gaussians.n, lr_net=optimizer.param_groups[0]["lr"],
                               seconds=time.perf_counter() - t0)
                advance(1)
                if on_step is not None:
                    on_step(step)
                ckpt.end_of_step(step, config.checkpoint_every, config.iterations, env.any(stop.requested),
                                 lambda k: (log.flush(), save(k)), reporter.warn)
    finally:
        log.close()
    t_train = time.perf_counter() - t0

    env.barrier()
    if env.main:
        final = ckpt.latest()
        gaussians = {}
        if config.save_gaussians:
            for r in range(env.world_size):
                gaussians.update({name: s["gaussians"] for name, s in ckpt.load_shard(r, final)["identities"].items()})
        with ema.average_parameters(grmn):
            ema_state = {k: v.detach().cpu().clone() for k, v in grmn.state_dict().items()}
        losses = log.recent_means(("loss", "render", "flame", "kl", "score"))
        with atomic_folder(out, overwrite=overwrite) as tmp:
            write_prior(tmp, config=to_dict(config), motion=motion,
                        grmn_state={k: v.detach().cpu() for k, v in grmn.state_dict().items()}, ema_state=ema_state,
                        signature=signature, head_model=head_model_record(model),
                        head_config=head_model_config(tracks[0]), scenes=records, gaussians=gaussians,
                        steps=config.iterations, world_size=env.world_size, final_losses=losses,
                        timings={"load_s": round(t_load, 2), "train_s": round(t_train, 2),
                                 "s_per_step": round(t_train / config.iterations, 4),
                                 "resumed_from": start})
            merge_logs([ckpt.path / f"losses-rank-{r}.csv" for r in range(env.world_size)], tmp / "losses.csv")
        ckpt.remove()
    env.barrier()
    return out
