"""The ``pretrain`` and ``adapt`` commands: argument plumbing only (cli/entry.py registers them).

``torchrun`` starts them through the package's ``__main__``, as the ``emotag`` command itself::

    torchrun --nproc_per_node 2 -m emotag_cli.cli pretrain scenes/* -o prior --preset cpu
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def pretrain_command(
    scenes: Annotated[list[Path], typer.Argument(help="Tracked scene folders, one identity each.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Prior folder to write.")],
    stage: Annotated[str, typer.Option(help="motion: the motion network alone on parameter losses, no "
                                            "rendering (minutes on a CPU); render: with per-identity Gaussians "
                                            "and renders; full: motion, then render.")] = "motion",
    preset: Annotated[str, typer.Option(help="Render stage: paper: the paper's schedule (GPU); cpu: a small run "
                                             "for CPUs.")] = "paper",
    iterations: Annotated[int | None, typer.Option(help="Render-stage steps (default: the preset's).")] = None,
    motion_iterations: Annotated[int | None, typer.Option(help="Motion-stage steps (default 3000).")] = None,
    batch: Annotated[int | None, typer.Option(help="Motion stage: stretches per step (default 8).")] = None,
    stretch: Annotated[int | None, typer.Option(help="Motion stage: frames per stretch (default 24).")] = None,
    warmup: Annotated[int | None, typer.Option(help="Static-appearance steps per identity.")] = None,
    size: Annotated[int | None, typer.Option(help="Training resolution, pixels (default: the preset's or the "
                                                   "scenes').")] = None,
    gaussians: Annotated[int | None, typer.Option(help="Initial Gaussians per identity.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of everything random.")] = 0,
    device: Annotated[str | None, typer.Option(help="cpu | cuda (default: cuda when available).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the interrupted run in OUT.ckpt/.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing prior folder.")] = False,
    emotion_directions: Annotated[str, typer.Option(help="builtin: the shipped emotion directions (when they belong "
                                                         "to the tracks' head model); none; or a directions file "
                                                         "(scripts/build_emotion_directions.py).")] = "builtin",
) -> None:
    """Pretrain the motion prior: one shared Gated Residual Motion Network over many tracked scenes.
    The motion stage (default) trains it on the tracked expression, jaw and mouth opening and the
    teacher's emotions, without rendering; scenes without audio are skipped. The render stage adds
    per-identity Gaussians and renders; its checkpoints go to OUT.ckpt/ (every --checkpoint-every
    steps and on Ctrl-C) and --resume continues from there. Multi-GPU / multi-node: start it with
    torchrun.

    Example: `emotag pretrain scenes/* -o prior`; `emotag pretrain scenes/* -o prior --stage full --preset cpu`
    """
    from ..config import MotionPretrainConfig, PretrainConfig
    from ..progress import Reporter
    from ..train.stages import run_pretrain

    config = PretrainConfig.preset_named(preset, seed=seed, emotion_directions=emotion_directions, **_given(
        iterations=iterations, warmup=warmup, size=size, n_gaussians=gaussians, checkpoint_every=checkpoint_every))
    motion = MotionPretrainConfig(seed=seed, emotion_directions=emotion_directions,
                                  **_given(iterations=motion_iterations, batch=batch, stretch=stretch))
    path = run_pretrain(stage, scenes, out, motion, config, overwrite=overwrite, reporter=Reporter(), resume=resume,
                        device=device)
    if int(os.environ.get("RANK", "0")) == 0:
        typer.echo(str(path))


def adapt_command(
    scene: Annotated[Path, typer.Argument(help="Tracked scene of the new identity.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Avatar folder to write.")],
    prior: Annotated[Path | None, typer.Option("--prior", help="Motion prior made by `emotag pretrain` "
                                                              "(default: the one emotag ships).")] = None,
    seconds: Annotated[float, typer.Option(help="Seconds from the start of the scene to train on; the rest is "
                                                "kept for evaluation.")] = 5.0,
    preset: Annotated[str | None, typer.Option(help="paper: 20K steps, 60K Gaussians (GPU); cpu: a small run "
                                                    "(default: paper with CUDA, cpu without).")] = None,
    tune: Annotated[str, typer.Option(help="adain: tune only the AdaIN modulation (paper); all: the whole "
                                           "motion network.")] = "adain",
    iterations: Annotated[int | None, typer.Option(help="Steps (default: the preset's).")] = None,
    warmup: Annotated[int | None, typer.Option(help="Static-appearance steps before the motion drives.")] = None,
    size: Annotated[int | None, typer.Option(help="Training and render resolution, pixels.")] = None,
    gaussians: Annotated[int | None, typer.Option(help="Initial Gaussians.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of everything random.")] = 0,
    device: Annotated[str | None, typer.Option(help="cpu | cuda (default: cuda when available).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the interrupted run in OUT.ckpt/.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing avatar folder.")] = False,
    refine_emotions: Annotated[int, typer.Option(
        help="After adapting, refine the emotion directions on renders of the avatar speaking its own clip, "
             "with the emotion teacher, for this many steps (0: off; 200 takes ~6 min on one CPU core).")] = 0,
) -> None:
    """Adapt a motion prior to a new identity from the first --seconds of its tracked scene: new
    Gaussians on its mesh, the prior's motion network with only AdaIN tuned. The avatar folder holds
    everything `emotag render` needs (Gaussians, motion network, identity, camera, driving poses and
    AUs, background plate, the config).

    Example: `emotag adapt scenes/alice --seconds 5 -o avatars/alice --preset cpu` (the shipped prior), or
    `--prior PRIOR` for one of your own.
    """
    from ..config import AdaptConfig
    from ..errors import EmotagError
    from ..progress import Reporter, stderr
    from ..shipped_prior import default_prior
    from ..train.adapt import adapt
    from ..train.preset_choice import cpu_notice, default_preset, uses_cuda

    config = AdaptConfig.preset_named(preset or default_preset(device), tune=tune, seed=seed, **_given(
        iterations=iterations, warmup=warmup, size=size, n_gaussians=gaussians, checkpoint_every=checkpoint_every))
    if not uses_cuda(device):
        stderr.print(cpu_notice(config.preset, config.iterations, chosen=preset is not None), highlight=False)
    if refine_emotions < 0:
        raise EmotagError(f"--refine-emotions must be 0 or more steps, got {refine_emotions}")
    prior = default_prior(prior)
    if refine_emotions:
        from ..prior import Prior

        if Prior.open(prior).motion_config().emotion_directions is None:
            raise EmotagError(f"--refine-emotions: prior {prior} has no emotion directions to refine "
                              "(it was trained without them)")
    path = adapt(scene, prior, seconds, out, config, overwrite=overwrite, reporter=Reporter(),
                 resume=resume, device=device)
    if refine_emotions:
        import dataclasses

        from ..synthesis.emotion_refine import AVATAR_SETTINGS, refine_avatar

        settings = dataclasses.replace(AVATAR_SETTINGS, steps=refine_emotions)
        with Reporter().step("refine emotions", total=refine_emotions) as advance:
            refine_avatar(path, settings, log=lambda line: None, progress=advance)
    typer.echo(str(path))
