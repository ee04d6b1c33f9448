"""``emotag adapt``: a new identity's avatar from a few seconds of its tracked scene and a prior.

docs/commands/adapt.md: new Gaussians on the identity's own canonical mesh (nothing is transferred from
pretraining); the prior's motion network with its EMA weights, of which only the AdaIN MLPs train
(``tune="adain"``; "all" trains everything, the official code's default); a static warm-up, then
the motion drives the Gaussians at once (no curriculum blend); loss = render + 0.1·flame + SEG +
L_Geo (0.01 depth, 0.001 normals against the tracked mesh's depth and normals, standing in for
the Sapiens maps); AdamW (LR 5e-4, weight decay 0.01) decayed 0.1^(it/total); densification until
``densify_stop`` steps before the end.

Only the first ``seconds`` of the scene are used for training; the rest is left for evaluation
(``evaluation.avatar_metrics.evaluate_avatar``). Checkpoints and ``resume`` work as in pretraining
(``<out>.ckpt/``). The avatar folder (avatar.py) is published atomically at the end.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..artifact import atomic_folder, file_sha256
from ..avatar import write_avatar
from ..camera import Camera
from ..config import AdaptConfig, to_dict
from ..errors import EmotagError
from ..head.registry import head_model_of, head_model_record
from ..motion.params import tune
from ..prior import Prior, head_model_config, scene_record, scene_signature
from ..progress import Reporter, quiet
from ..scene import Scene
from ..track.result import open_track
from .checkpoint import Checkpoints, StopRequest, capture_rng, checkpoint_dir, restore_rng
from .distributed import setup
from .gaussian_state import GaussianTrainState, binding_strategy
from .loss_log import LossLog
from .motion_data import MotionClip
from .motion_step import IdentityData, LossWeights, MotionDriver, draw_stretches, motion_optimizer, train_step
from .mouth_opening import MouthGauge
from .opening_term import opening_term
from .silence_guard import silence_guard


def training_frames(scene: Scene, seconds: float) -> int:
    """Frames in the first ``seconds`` of the scene; refuses a scene that is too short."""
    if not seconds > 0:
        raise EmotagError(f"--seconds must be positive, got {seconds:g}")
    need = int(round(seconds * scene.fps))
    if scene.n_frames < need:
        whole = int(scene.n_frames / scene.fps * 10) / 10                   # rounded down to 0.1 s
        raise EmotagError(f"scene has {scene.n_frames} frames ({scene.n_frames / scene.fps:.1f} s); "
                          f"--seconds {seconds:g} needs {need}: give --seconds {whole:g} or less to train on "
                          f"what there is")
    return need


def adapt(scene_path: Path | str, prior_path: Path | str, seconds: float, out: Path | str,
          config: AdaptConfig | None = None, overwrite: bool = False, reporter: Reporter | None = None,
          resume: bool = False, device: str | None = None, on_step: Callable[[int], None] | None = None) -> Path:
    """Adapt the prior to the scene's identity; returns the avatar's path.

    seconds: training data, from the start of the scene. resume, device, on_step: as ``pretrain``.
    """
    config = config or AdaptConfig()
    config.validate()
    reporter = reporter or quiet()
    out = Path(out).absolute()
    t_start = time.perf_counter()
    if out.exists() and not overwrite:
        raise EmotagError(f"{out} already exists; pass --overwrite to replace it")
    prior = Prior.open(prior_path)
    scene, track = Scene.open(scene_path), open_track(scene_path)
    prior.check_scene(scene, track)
    signature = scene_signature(scene, track)
    n_train = training_frames(scene, seconds)
    if config.size is not None and config.size > scene.size:
        raise EmotagError(f"--size {config.size} is larger than the scene's {scene.size} pixels")
    env = setup(device)
    if env.distributed:
        env.close()
        raise EmotagError("adapt trains one identity: run it as one process, not under torchrun")

    model = head_model_of(track.manifest["config"])
    motion = prior.motion_config()
    torch.manual_seed(config.seed)
    grmn = prior.motion_model(ema=True).to(env.device)
    tune(grmn, config.tune)
    driver = MotionDriver(grmn)
    optimizer, scheduler = motion_optimizer(grmn, config.lr_net, config.lr_grid, config.weight_decay, config.betas,
                                            config.lr_decay, config.iterations)
    with reporter.step("load scene"):
        data = IdentityData.load(scene.path, config.size, model, motion.n_expr)
    canonical = data.clip.canonical_vertices()
    strategy = binding_strategy(canonical, config.warmup, config.iterations - config.densify_stop, config.densify_every,
                         config.max_gaussians, config.opacity_reset_every)
    state = GaussianTrainState.create(canonical, model.faces, config.n_gaussians, config.sh_degree, config.seed,
                                      config.gaussian_lr, strategy, env.device)
    model_dev = model.to(env.device)
    sampler = np.random.default_rng(config.seed)
    teacher = torch.Generator().manual_seed(config.seed)
    quiet_rng, open_rng = np.random.default_rng([config.seed, 1]), np.random.default_rng([config.seed, 2])
    generators = {"sampler": sampler, "teacher": teacher, "silence": quiet_rng, "open": open_rng}
    mouth_terms = []                          # extra loss terms on the motion, after the warm-up
    if config.w_silence > 0 or config.w_open > 0:
        gauge = MouthGauge(model_dev)
        clip = MotionClip.load(scene, model, gauge, motion.n_expr, data.name)
        if config.w_silence > 0:
            mouth_terms.append(silence_guard(grmn, gauge, clip, n_train, config.silence_stretch, config.w_silence,
                                             quiet_rng, scene.path))
        if config.w_open > 0:
            mouth_terms.append(opening_term(grmn, gauge, clip, n_train, config.silence_stretch, config.w_open,
                                            open_rng))

    prior_record = {"path": str(prior.path.absolute()), "ema_sha256": file_sha256(prior.path / "grmn_ema.pt"),
                    "created": prior.manifest.get("created")}
    record = scene_record(scene.path.name, scene, track)
    ckpt = Checkpoints(checkpoint_dir(out), env)
    resume_step = ckpt.start({"stage": "adapt", "config": to_dict(config), "scene": record, "prior": prior_record,
                              "train_frames": n_train}, resume)
    start = 0
    if resume_step is not None:
        shared = ckpt.load_shared(resume_step)
        grmn.load_state_dict(shared["model"])
        optimizer.load_state_dict(shared["optimizer"])
        scheduler.load_state_dict(shared["scheduler"])
        own = ckpt.load_shard(0, resume_step)
        state.load_state_dict(own["gaussians"])
        restore_rng(own["rng"], generators)
        start = int(shared["step"])

    def save(step: int) -> None:
        ckpt.save(step, {"step": step, "model": grmn.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict()},
                  {"rank": 0, "rng": capture_rng(generators), "gaussians": state.state_dict()})

    weights = LossWeights.of(config)
    log = LossLog(ckpt.path / "losses-rank-0.csv", resume_step)
    t_load = time.perf_counter() - t_start
    t0 = time.perf_counter() - log.offset
    try:
        with StopRequest() as stop, reporter.step("adapt", total=config.iterations) as advance:
            advance(start)
            for step in range(start + 1, config.iterations + 1):
                t = int(sampler.integers(n_train))
                blend = None if state.steps + 1 <= config.warmup else 1.0
                stretches = draw_stretches(sampler, [data], config.motion_stretch, config.motion_batch, n_train)
                terms = train_step(driver, grmn, optimizer, scheduler, None, state, data, model_dev, t, blend, weights,
                                   teacher, step / config.iterations, config.means_lr_final, config.densify, stretches,
                                   mouth_terms if blend is not None else ())
                log.write_step(terms, step=step, rank=0, identity=data.name, frame=t, blend=blend,
                               gaussians=state.gaussians.n, lr_net=optimizer.param_groups[0]["lr"],
                               seconds=time.perf_counter() - t0)
                advance(1)
                if on_step is not None:
                    on_step(step)
                ckpt.end_of_step(step, config.checkpoint_every, config.iterations, stop.requested,
                                 lambda k: (log.flush(), save(k)), reporter.warn)
    finally:
        log.close()
    t_train = time.perf_counter() - t0

    params = track.params
    cut = slice(0, n_train)
    driving = {k: params[k][cut] for k in ("rotation", "neck", "eyes", "translation", "jaw")}
    driving.update(expr=params["expr"][cut, :motion.n_expr], aus=data.aus[:n_train].numpy(),
                   emotion=data.emotion[:n_train].numpy())
    cam = track.camera
    camera = cam if cam.fixed else Camera(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height, cam.w2c[cut])
    losses = log.recent_means(("loss", "render", "flame", "depth"))
    with atomic_folder(out, overwrite=overwrite) as tmp:
        shutil.copyfile(ckpt.path / "losses-rank-0.csv", tmp / "losses.csv")
        write_avatar(
            tmp, gaussians=state.gaussians, grmn_state=grmn.state_dict(), motion=motion,
            embedding=data.identity.numpy(), shape=np.asarray(params["shape"], np.float32), camera=camera,
            driving=driving, background=scene.path / "background.png", mouth=data.mouth,
            canonical_vertices=canonical, faces=model.faces, config=to_dict(config),
            static_offset=params.get("static_offset"),
            head_model=head_model_record(model), head_model_config=head_model_config(track),
            audio={"encoder": prior.signature.audio_encoder, "dim": prior.signature.audio_dim,
                   "tokens": prior.signature.audio_tokens},
            identity={"encoder": signature.identity_encoder, "dim": int(data.identity.shape[0])},
            size=data.clip.size, scene_size=scene.size, fps=scene.fps, seconds=seconds, scene=record,
            prior=prior_record, train_frames=[0, n_train], eval_frames=[n_train, scene.n_frames],
            tune=config.tune, final_losses=losses,
            timings={"load_s": round(t_load, 2), "train_s": round(t_train, 2),
                     "s_per_step": round(t_train / config.iterations, 4), "resumed_from": start})
    ckpt.remove()
    return out
