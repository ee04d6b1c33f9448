"""Typed configs of each stage. They are saved in every artifact's manifest and reloaded from it.

Configs are plain dataclasses: ``to_dict`` gives JSON-ready values and ``from_dict`` rebuilds the
dataclass, refusing unknown keys, so a saved config is data, never code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import EmotagError

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a config dataclass (paths become strings)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config dataclass from ``to_dict`` output; unknown keys are an error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise EmotagError(f"{cls.__name__}: unknown settings {sorted(unknown)} (made by another emotag version?)")
    return cls(**data)


CROP_MODES = ("fixed", "smooth")
AU_SOURCES = ("landmarks", "openface", "pyfeat")
EMOTION_MODELS = ("auto", "fer", "deepface")


@dataclass
class PreprocessConfig:
    """Settings of ``emotag preprocess``.

    size: output frame side in pixels (square crop).
    fps: output constant frame rate.
    crop: "fixed" (one square for the whole clip) or "smooth" (a slowly moving square that follows
        the head; sigma ``crop_smooth_s`` seconds).
    crop_scale: crop side as a multiple of the face-landmark box's larger side (room for hair and
        neck; 2.2 puts the face box at under half the frame, as in ER-NeRF / InsTaG data).
    crop_y_shift: vertical offset of the crop centre, in face-box heights (negative = up, to keep
        the hair in frame).
    audio_encoder / audio_encoder_path: see docs/reference/audio-features.md.
    au_source / openface_csv: see docs/reference/action-units.md.
    emotion_model: see docs/reference/emotion-and-identity.md.
    identity_top_k: frames (most neutral first) averaged into the identity embedding.
    jpeg_quality: quality of the stored frames.
    av_offset: "auto" (measure the audio's offset from the lips and shift the audio by a reliable
        one above 2 frames), "warn" (measure and warn only), or a number of milliseconds to shift
        it by (> 0: the audio is late and moves earlier); see preprocess/av_offset.py.
    """

    size: int = 512
    fps: float = 25.0
    crop: str = "fixed"
    crop_scale: float = 2.2
    crop_y_shift: float = -0.15
    crop_smooth_s: float = 1.0
    audio_encoder: str = "phones"                      # what the shipped prior reads
    audio_encoder_path: str | None = None
    au_source: str = "landmarks"
    openface_csv: str | None = None
    emotion_model: str = "auto"
    identity_top_k: int = 50
    jpeg_quality: int = 95
    min_seconds_warn: float = 5.0
    av_offset: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not 64 <= self.size <= 2048:
            raise EmotagError(f"--size must be between 64 and 2048, got {self.size}")
        if self.crop not in CROP_MODES:
            raise EmotagError(f"--crop must be one of {', '.join(CROP_MODES)}, got {self.crop!r}")
        if self.au_source not in AU_SOURCES:
            raise EmotagError(f"--au-source must be one of {', '.join(AU_SOURCES)}, got {self.au_source!r}")
        if self.au_source == "openface" and not self.openface_csv:
            raise EmotagError("--au-source openface needs --openface-csv PATH")
        if self.emotion_model not in EMOTION_MODELS:
            raise EmotagError(
                f"--emotion-model must be one of {', '.join(EMOTION_MODELS)}, got {self.emotion_model!r}"
            )
        if not 1.0 <= self.crop_scale <= 4.0:
            raise EmotagError(f"--crop-scale must be between 1 and 4, got {self.crop_scale}")
        if self.av_offset not in ("warn", "auto"):
            try:
                ms = float(self.av_offset)
            except ValueError:
                ms = float("nan")
            if not abs(ms) <= 5000:
                raise EmotagError(f"--av-offset must be warn, auto or milliseconds within ±5000, "
                                  f"got {self.av_offset!r}")


OVERLAY_STYLES = ("shaded", "wireframe", "none")


@dataclass
class TrackConfig:
    """Settings of ``emotag track`` (docs/commands/track.md). Pixel quantities are at a 256-pixel
    frame and scale with the scene's size; angles are radians.

    head_model: "open" (built in) or "flame".
    flame_model / flame_embedding: FLAME .pkl and its landmark embedding (None: searched for in
        emotag's asset folder, see head/flame_pkl.py).
    n_shape / n_expr: shape and expression components fitted (at most the model's).
    rigid_iters / iters: most Levenberg–Marquardt iterations of the rigid stage (pose and focal,
        neutral face) and of the full stage (everything); each stops earlier once converged.
    landmark_sigma_px: assumed landmark noise; the priors are weighed against it.
    depth_sigma_px: how far MediaPipe's relative depth (z) is trusted; None (default) ignores it —
        on the real test clips it changed no reprojection error and weakened the jaw's agreement
        with the lips.
    iris_sigma_px: noise of the 10 iris points (they alone determine the gaze).
    focal: initial focal length in units of the frame side (4: a 14° field of view across the
        crop, a face about 1.3 m away — talking-head footage); focal_sigma: its log-normal prior
        width (inf: free); fit_focal: False keeps it fixed.
    shape_sigma / expr_sigma: prior std of the coefficients (the bases are in std units).
    jaw_open_range: free range of the jaw opening; jaw_side_sigma: sideways jaw rotation.
    eyes_sigma / eyes_vergence_sigma: gaze angle and the difference between the two eyes.
    smooth_*: std of the change per frame of the head rotation (rad; the tracker turns the head on
        the neck and keeps the global rotation fixed per clip), translation (m), expression, jaw
        (rad) and eyes (rad).
    overlay: style of overlay.mp4 ("none" writes none).
    """

    head_model: str = "open"
    flame_model: str | None = None
    flame_embedding: str | None = None
    n_shape: int = 100
    n_expr: int = 50
    rigid_iters: int = 4
    iters: int = 30
    landmark_sigma_px: float = 1.0
    depth_sigma_px: float | None = None
    iris_sigma_px: float = 1.0
    focal: float = 4.0
    focal_sigma: float = 0.25
    fit_focal: bool = True
    shape_sigma: float = 1.0
    expr_sigma: float = 1.0
    jaw_open_range: tuple[float, float] = (-0.02, 0.6)
    jaw_side_sigma: float = 0.05
    eyes_sigma: float = 0.35
    eyes_vergence_sigma: float = 0.05
    smooth_rotation: float = 0.03
    smooth_translation: float = 0.003
    smooth_expr: float = 0.6
    smooth_jaw: float = 0.08
    smooth_eyes: float = 0.15
    overlay: str = "shaded"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.jaw_open_range = tuple(self.jaw_open_range)     # a JSON round trip makes it a list

    def validate(self) -> None:
        if self.overlay not in OVERLAY_STYLES:
            raise EmotagError(f"--overlay must be one of {', '.join(OVERLAY_STYLES)}, got {self.overlay!r}")
        if not (1 <= self.n_expr <= 50):
            raise EmotagError(f"--n-expr must be between 1 and 50, got {self.n_expr}")
        if self.n_shape < 0 or self.rigid_iters < 0 or self.iters < 0:
            raise EmotagError("--n-shape, --rigid-iters and --iters must not be negative")
        if not 0.2 <= self.focal <= 20:
            raise EmotagError(f"--focal (focal length / frame side) must be between 0.2 and 20, got {self.focal}")
        depth_ok = self.depth_sigma_px is None or self.depth_sigma_px > 0
        if self.landmark_sigma_px <= 0 or self.iris_sigma_px <= 0 or not depth_ok:
            raise EmotagError("the landmark, depth and iris sigmas must be positive")
        lo, hi = self.jaw_open_range
        if not lo < hi:
            raise EmotagError(f"jaw_open_range must be (low, high) with low < high, got {self.jaw_open_range}")


TUNE_MODES = ("adain", "all")
TRAIN_PRESETS = ("paper", "cpu")


def _gaussian_lr() -> dict[str, float]:
    """Adam learning rates of the Gaussians (GaussianAvatars'; positions and scales are in units of
    the parent triangle, so they differ from 3DGS's scene-unit rates)."""
    return {"means": 5e-3, "quats": 1e-3, "scales": 1.7e-2, "opacities": 5e-2, "sh0": 2.5e-3, "shN": 2.5e-3 / 20}


def _check_training(config: PretrainConfig | AdaptConfig) -> None:
    """The checks pretraining and adaptation settings share."""
    if (config.iterations < 1 or config.warmup < 0 or config.checkpoint_every < 1 or config.motion_stretch < 0
            or config.motion_batch < 0):
        raise EmotagError("--iterations and --checkpoint-every must be positive, the warm-up, "
                          "motion_stretch and motion_batch not negative")
    if config.size is not None and not 32 <= config.size <= 2048:
        raise EmotagError(f"--size must be between 32 and 2048, got {config.size}")
    if not 1 <= config.n_gaussians <= config.max_gaussians:
        raise EmotagError(f"--gaussians must be between 1 and max_gaussians ({config.max_gaussians})")


@dataclass
class RunSettings:
    """The run: preset name, steps, the static warm-up, resolution, checkpoints and seed.

    iterations: optimiser steps. warmup: static-appearance steps (the Gaussians on the tracked
    mesh) before the motion drives them. size: training resolution (None: the scenes').
    checkpoint_every: steps between checkpoints. seed: everything random derives from it.
    """

    preset: str = "paper"
    iterations: int = 20_000
    warmup: int = 1000
    size: int | None = None
    checkpoint_every: int = 1000
    seed: int = 0


@dataclass
class GaussianSettings:
    """The Gaussians and their densification: n_gaussians / max_gaussians (initial and largest
    count per identity), sh_degree, densify (clone-split-prune on or off) every densify_every steps."""

    n_gaussians: int = 60_000
    max_gaussians: int = 200_000
    sh_degree: int = 1
    densify: bool = True
    densify_every: int = 100


@dataclass
class OptimSettings:
    """Optimisation: AdamW of the motion network (lr_net; lr_grid for its hash grids; weight_decay,
    betas; the LR decayed to lr_decay × the start over the run, 0.1^(it/total)), and Adam of the
    Gaussians (gaussian_lr per parameter; the positions' decayed to means_lr_final × the start)."""

    lr_net: float = 5e-4
    lr_grid: float = 5e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    lr_decay: float = 0.1
    gaussian_lr: dict[str, float] = field(default_factory=_gaussian_lr)
    means_lr_final: float = 0.01


@dataclass
class LossWeightSettings:
    """Loss weights (train/motion_step.LossWeights reads them): w_flame (parameter MSE), w_kl and
    w_score (SEG), w_dssim (D-SSIM beside L1), w_position / w_scale (GaussianAvatars' regularisers)."""

    w_flame: float = 1.0
    w_kl: float = 0.01
    w_score: float = 0.1
    w_dssim: float = 0.2
    w_position: float = 0.01
    w_scale: float = 1.0


@dataclass
class MotionBatchSettings:
    """Motion batches: each step the motion network also gets its parameter losses (flame + SEG,
    via GRMN.sequence) on ``motion_batch`` stretches of ``motion_stretch`` consecutive frames, each
    of an identity drawn at random — many motion samples per step at little cost; 0 = the paper's
    batch of one."""

    motion_stretch: int = 0
    motion_batch: int = 1


@dataclass
class PretrainConfig(RunSettings, GaussianSettings, OptimSettings, LossWeightSettings, MotionBatchSettings):
    """Settings of ``emotag pretrain`` (docs/commands/pretrain.md): the
    groups above with pretraining's defaults, and

    iterations: each rank draws one (identity, frame) per step, so a step sees ``world_size``
        samples. warmup: counted in each identity's own steps (the paper's 1000).
    blend: the curriculum after an identity's warm-up ramps the predicted motion in over this
        fraction of the identity's expected steps (iterations · world_size / identities).
    densify_until: densification runs until this fraction of each identity's steps.
    ema_decay: EMA of the motion network (the weights a prior hands to adaptation).
    motion: overrides of MotionConfig (e.g. a smaller Transformer); audio_dim, audio_encoder and
        identity_dim always come from the scenes.
    save_gaussians: keep each identity's Gaussians in the prior (for inspection).
    emotion_directions: what the emotion residual is anchored on: "builtin" (the shipped directions,
        when they belong to the tracks' head model), "none", or a directions file.
    """

    iterations: int = 250_000
    sh_degree: int = 2
    lr_net: float = 5e-5
    weight_decay: float = 0.0
    blend: float = 0.1
    densify_until: float = 0.85
    ema_decay: float = 0.995
    motion: dict[str, Any] = field(default_factory=dict)
    save_gaussians: bool = True
    emotion_directions: str = "builtin"

    @classmethod
    def preset_named(cls, name: str, **overrides: Any) -> PretrainConfig:
        """``paper``: the paper's numbers. ``cpu``: small enough for a 2-core machine in minutes —
        128 px, 6000 Gaussians, 2000 steps, a 2-layer motion Transformer at LR 5e-4 (10× the paper's,
        for 125× fewer steps) with four 16-frame motion stretches of random identities per step."""
        if name == "paper":
            base: dict[str, Any] = {}
        elif name == "cpu":
            base = dict(iterations=2000, warmup=100, size=128, n_gaussians=6000, max_gaussians=10_000,
                        sh_degree=1, densify_every=50, lr_net=5e-4, checkpoint_every=250, motion={"n_layers": 2},
                        motion_stretch=16, motion_batch=4)
        else:
            raise EmotagError(f"--preset must be one of {', '.join(TRAIN_PRESETS)}, got {name!r}")
        return cls(**{"preset": name, **base, **overrides})

    def validate(self) -> None:
        _check_training(self)
        if not 0.0 <= self.blend <= 1.0 or not 0.0 <= self.densify_until <= 1.0:
            raise EmotagError("blend and densify_until are fractions in [0, 1]")
        if not 0.0 <= self.ema_decay < 1.0:
            raise EmotagError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


PRETRAIN_STAGES = ("motion", "render", "full")
# The motion stage's network: a narrower audio Transformer (a step on one CPU core in ~0.1 s), a
# small mouth hash table (the shipped prior stays under 10 MB in fp16), and a 4-frame output
# average instead of the official code's 8: a box of 8 frames at 25 fps has its first zero at
# 3.1 Hz, the syllable rate, so it flattens the very opening and closing lip sync is made of
# (docs/models/prior.md measures both).
SMALL_MOTION = {"d_model": 128, "n_layers": 2, "n_heads": 4, "ffn_dim": 512, "adain_hidden": 128,
                "mouth_log2_table": 14, "window": 4}


@dataclass
class MotionPretrainConfig:
    """Settings of the motion stage of ``emotag pretrain`` (no rendering; docs/commands/pretrain.md).

    Each step draws ``batch`` stretches of ``stretch`` consecutive frames, each of an identity drawn
    uniformly, and trains the motion network on them at once (``GRMN.stretches``):

        L = w_flame·MSE(Ψ̂, Θ̂_jaw ; tracked) + w_open·MSE(opening(Ψ̂, Θ̂) ; opening(tracked)) [cm²]
            + w_kl·KL + w_score·|g − e| + w_silence·MSE(opening on silence ; neutral opening) [cm²]

    au_swap: probability, per stretch, of feeding another stretch's AUs (other identity, other
        time), so that the mouth cannot be read from the upper face. silence_batch: stretches of
        silent audio (digital silence and faint noise, the scenes' own encoder) with a real
        stretch's AUs and identity, whose mouth must stay at the neutral opening.
    lr / weight_decay / betas / lr_decay: AdamW, decayed to lr_decay × lr over the run.
    ema_decay: EMA of the network (the weights the prior hands on). motion: MotionConfig overrides
        (default ``SMALL_MOTION``). emotion_directions: as in PretrainConfig.
    """

    iterations: int = 3000
    batch: int = 8
    stretch: int = 24
    silence_batch: int = 2
    au_swap: float = 0.5
    lr: float = 5e-4
    lr_grid: float = 5e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    lr_decay: float = 0.1
    ema_decay: float = 0.99
    w_flame: float = 1.0
    w_open: float = 1.0
    w_kl: float = 0.01
    w_score: float = 0.1
    w_silence: float = 1.0
    motion: dict[str, Any] = field(default_factory=lambda: dict(SMALL_MOTION))
    emotion_directions: str = "builtin"
    seed: int = 0

    def validate(self) -> None:
        if min(self.iterations, self.batch, self.stretch) < 1 or self.silence_batch < 0:
            raise EmotagError("motion stage: iterations, batch and stretch must be positive, silence_batch "
                              "not negative")
        if not 0.0 <= self.au_swap <= 1.0 or not 0.0 <= self.ema_decay < 1.0:
            raise EmotagError("motion stage: au_swap must be in [0, 1] and ema_decay in [0, 1)")


@dataclass
class AdaptConfig(RunSettings, GaussianSettings, OptimSettings, LossWeightSettings, MotionBatchSettings):
    """Settings of ``emotag adapt`` (docs/commands/adapt.md): the groups above with
    adaptation's defaults, and

    warmup: no curriculum blend follows it in adaptation. tune: "adain" (paper: only the AdaIN
        MLPs of the prior's motion network) or "all".
    densify_stop: densification stops this many steps before the end. opacity_reset_every: 3DGS
        opacity reset period (the official code resets every warm-up; 0: never).
    w_depth / w_normal: L_Geo against the tracked mesh's depth and normals. w_flame: 0.1 here.
    motion_stretch / motion_batch: stretches within the training frames.
    w_silence / silence_stretch: the silence guard (train/silence_guard.py): each step, silent
        audio with the AUs of ``silence_stretch`` training frames must keep the neutral mouth
        opening; 0 turns it off.
    w_open: the mouth-opening term (train/opening_term.py, as in the motion stage): on a stretch
        of ``silence_stretch`` training frames the predicted opening must follow the tracked one
        (cm²); 0 turns it off.
    lr_net: 1e-4, a fifth of the default 5e-4: at 5e-4, 5 s of one speaker pull the mouth away from the
        prior's lip sync (docs/models/prior.md: German r 0.57 → 0.42; 0.56 at 1e-4).
    """

    tune: str = "adain"
    lr_net: float = 1e-4
    densify_stop: int = 1000
    opacity_reset_every: int = 1000
    w_flame: float = 0.1
    w_depth: float = 0.01
    w_normal: float = 0.001
    w_silence: float = 1.0
    silence_stretch: int = 16
    w_open: float = 1.0

    @classmethod
    def preset_named(cls, name: str, **overrides: Any) -> AdaptConfig:
        """``paper``: 20K steps, 60K Gaussians. ``cpu``: 128 px, 6000 Gaussians, 1500 steps."""
        if name == "paper":
            base: dict[str, Any] = {}
        elif name == "cpu":
            base = dict(iterations=1500, warmup=300, size=128, n_gaussians=6000, max_gaussians=10_000,
                        densify_stop=200, densify_every=50, opacity_reset_every=0, checkpoint_every=250)
        else:
            raise EmotagError(f"--preset must be one of {', '.join(TRAIN_PRESETS)}, got {name!r}")
        return cls(**{"preset": name, **base, **overrides})

    def validate(self) -> None:
        if self.tune not in TUNE_MODES:
            raise EmotagError(f"--tune must be one of {', '.join(TUNE_MODES)}, got {self.tune!r}")
        _check_training(self)


@dataclass
class RenderConfig:
    """Settings of ``emotag render`` (docs/commands/render.md).

    emotion / intensity: the request (motion/timeline.py); emotion_mouth: "free" (the motion as
    the network has it) or "speech" (the mouth's opening and jaw from the network asked for
    neutral, synthesis/speech_mouth.py); drive: the pose source; background:
    drive | plate | a colour; audio_encoder_path: the model folder when the avatar's encoder needs
    one; crf: H.264 quality; size: output side in pixels (None: the avatar's training size).
    """

    emotion: str = "auto"
    intensity: float | None = None
    emotion_mouth: str = "free"
    drive: str = "clip"
    background: str = "drive"
    audio_encoder_path: str | None = None
    crf: int = 18
    size: int | None = None
