"""The track stage: scene → ``<scene>/track/`` (layout in track/result.py).

Fits the head model to the scene's landmarks (track/fit.py), then writes the parameters, the
camera, the fit report, a transforms.json and the overlay video into a temporary folder that
replaces ``<scene>/track`` only when everything succeeded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..artifact import atomic_folder, new_manifest, write_manifest
from ..config import TrackConfig, to_dict
from ..errors import EmotagError
from ..head.model import HeadModel
from ..head.registry import head_model_kind, head_model_of, head_model_record
from ..progress import Reporter, quiet
from ..scene import Scene, frame_name
from .export import write_transforms
from .fit import fit_landmarks
from .overlay import write_overlay
from .params import save_params
from .report import build_report
from .result import TRACK_KIND, TRACK_VERSION, scene_inputs, track_path

MIN_FITTED_FRACTION = 0.5


def frame_paths(scene: Scene) -> list[str]:
    """The scene's frame files relative to ``<scene>/track`` (for transforms.json)."""
    return [f"../frames/{frame_name(i)}.jpg" for i in range(scene.n_frames)]


def track(scene_path: Path | str, config: TrackConfig | None = None, overwrite: bool = False,
          reporter: Reporter | None = None, model: HeadModel | None = None) -> Path:
    """Track the scene at ``scene_path``; returns the path of the track folder it wrote.

    ``model`` replaces the head model the config names (for tests and library use).
    """
    config = config or TrackConfig()
    config.validate()
    head_model_kind(config.head_model)
    reporter = reporter or quiet()
    scene = Scene.open(scene_path)
    target = track_path(scene.path)
    if target.exists() and not overwrite:
        raise EmotagError(f"{target} already exists; pass --overwrite to replace it")
    landmarks = scene.landmarks
    fitted = np.isfinite(landmarks).all(axis=(1, 2))
    if fitted.mean() < MIN_FITTED_FRACTION:
        raise EmotagError(f"{scene.path}: only {fitted.sum()} of {scene.n_frames} frames have face landmarks; "
                          f"emotag track needs a face in at least half of them")
    model = model if model is not None else head_model_of(config)
    if fitted.sum() < scene.n_frames:
        reporter.warn(f"{scene.n_frames - fitted.sum()} frames without landmarks get interpolated parameters")

    with atomic_folder(target, overwrite=overwrite) as tmp:
        with reporter.step("fit", total=config.rigid_iters + config.iters) as advance:
            fit = fit_landmarks(model, landmarks, scene.size, config, advance)
        save_params(tmp / "params.npz", fit.params)
        fit.camera.save(tmp / "camera.json")
        with reporter.step("report"):
            report = build_report(model, fit.params, fit.camera, landmarks, fit.valid, scene.size,
                                  fit_seconds=fit.seconds,
                                  extra={"lm_iterations": fit.iterations, "final_loss_terms": fit.loss})
            (tmp / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        write_transforms(tmp / "transforms.json", fit.camera, frame_paths(scene))
        if config.overlay != "none":
            with reporter.step("overlay", total=scene.n_frames) as advance:
                per_frame = np.array([np.nan if v is None else v for v in report["per_frame_mean"]])
                write_overlay(tmp / "overlay.mp4", scene, model, fit.params, fit.camera, per_frame,
                              style=config.overlay, advance=advance)
        summary = report["reprojection"]
        if summary["mean"] > 4 * scene.size / 256:
            reporter.warn(f"mean reprojection error {summary['mean']:.2f} px is high: check overlay.mp4")
        write_manifest(tmp, new_manifest(
            TRACK_KIND, TRACK_VERSION, to_dict(config),
            source="emotag-track",
            head_model=head_model_record(model),
            inputs=scene_inputs(scene),
            n_frames=scene.n_frames, fps=scene.fps, size=scene.size,
            camera={"convention": "opencv", "extrinsics": "fixed" if fit.camera.fixed else "per_frame"},
            quality={"reprojection_mean_px": summary["mean"], "reprojection_p95_px": summary["p95"],
                     "jaw_lip_correlation": report["jaw_lip_correlation"]},
            timings=dict(reporter.timings),
        ))
    return target
