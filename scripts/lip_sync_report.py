"""Lip sync of a motion prior on unseen speakers, before and after adaptation (issue 12's figures).

    python scripts/lip_sync_report.py SCENE ... [--prior PRIOR] [--adapt-iterations 300] [--lags K]
                                      [--loudness-probe] [--json OUT]

Each SCENE is a tracked scene of a speaker the prior never saw, with the prior's audio features
(`emotag features SCENE --audio-encoder …`). Its first min(5 s, 60 %) are the adaptation clip,
the rest is evaluated, driven by its own audio and AUs and its tracked pose:

- opening_corr: Pearson r of the predicted and the recorded inner-lip gap (the mesh's lips
  projected with the tracked camera vs the scene's MediaPipe lips, pixels) — for the prior alone
  (``prior``), the phones → opening track of the audio alone (``phones_only_corr``, untrained),
  the prior with the first frame's AUs held (``prior_still``: the mouth from the
  audio alone, as `--drive still`), and after adaptation (``avatar``, ``avatar_still``);
- av_proxy: the AV-sync proxy (evaluation/sync.py: opening / inter-ocular distance vs the audio's
  log energy, best of ±3 frames) of the predicted lips (mesh level, no render) and of the
  recording's MediaPipe lips;
- silence: the predicted mesh opening above the neutral face's (mm) in the audio's silent frames
  (energy 35 dB or more below the loudest) and in its speech frames, beside the tracked mesh's
  (``recording_silent_mm``, ``recording_speech_mm``);
- after adaptation, evaluate_avatar's renders: lmd, head PSNR / SSIM, opening_corr (render path);
- seconds of each stage;
- with ``--loudness-probe`` (after adaptation): ``avatar_loudness_probe`` — the recorded gap fitted
  on the adaptation frames by a linear mix of the predicted gap and the audio's loudness, scored
  on the evaluated frames (r, AV proxy, coefficients): does loudness carry what the phones miss?
- with ``--lags K``: ``opening_corr_by_lag`` — r of the predicted gap at frame t against the
  recorded one at t + k, k = −K … K (both frames evaluated ones), for the phones-only track and
  each prediction: a positive best k means the prediction leads the recorded lips.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emotag_cli.config import AdaptConfig  # noqa: E402
from emotag_cli.evaluation.avatar_metrics import evaluate_avatar, inner_lip_gap, pearson, projected_lips  # noqa: E402
from emotag_cli.evaluation.sync import av_sync_proxy, frame_energy, mouth_opening  # noqa: E402
from emotag_cli.forward.mouth_region import lip_landmarks  # noqa: E402
from emotag_cli.head.lbs import HeadPose  # noqa: E402
from emotag_cli.lip_signals import inter_ocular, lagged_correlation  # noqa: E402
from emotag_cli.motion.grmn import GRMN  # noqa: E402
from emotag_cli.preprocess.audio_features import mouth_opening as phones_opening  # noqa: E402
from emotag_cli.prior import Prior  # noqa: E402
from emotag_cli.progress import quiet  # noqa: E402
from emotag_cli.scene import Scene  # noqa: E402
from emotag_cli.shipped_prior import default_prior  # noqa: E402
from emotag_cli.track.result import open_track  # noqa: E402
from emotag_cli.train.adapt import adapt  # noqa: E402
from emotag_cli.train.motion_data import MotionClip  # noqa: E402
from emotag_cli.train.mouth_opening import MouthGauge  # noqa: E402

SILENT_DB = 35.0


def lagged_corr(pred: np.ndarray, target: np.ndarray, max_lag: int) -> dict[int, float]:
    """Pearson r of ``pred[t]`` and ``target[t + k]`` [T] for k = −max_lag … max_lag, over the t
    with both inside the arrays."""
    return {k: lagged_correlation(pred, target, k)[0] for k in range(-max_lag, max_lag + 1)}


def predicted_gaps(grmn: GRMN, scene: Scene, clip: MotionClip, model, frames: np.ndarray, still: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted inner-lip gap [F] px, the recording's [F] px, predicted opening above neutral [N] mm)
    of ``grmn`` on ``frames`` (the mesh lips projected with the tracked pose and camera)."""
    track = open_track(scene.path)
    aus = clip.aus.clone()
    if still:
        aus[:] = aus[frames[0]]
    with torch.no_grad():
        seq = grmn.sequence(clip.audio.float(), aus, clip.identity)
        gauge = MouthGauge(model)
        mm = (gauge(clip.shape, seq.expr, seq.jaw).numpy() - clip.neutral) * 1000
    p = track.params
    lip_lmk, lip_mp = lip_landmarks(model)
    gaps, target = [], []
    tracked = {k: torch.from_numpy(np.asarray(p[k], np.float32)) for k in ("rotation", "neck", "eyes", "translation")}
    for i in frames:
        t = {k: v[i:i + 1] for k, v in tracked.items()}
        pose = HeadPose(clip.shape[None], seq.expr[i:i + 1], t["rotation"], t["neck"], seq.jaw[i:i + 1], t["eyes"],
                        t["translation"])
        gaps.append(inner_lip_gap(projected_lips(model, pose, None, track.camera, i, lip_lmk), lip_mp))
        target.append(inner_lip_gap(scene.landmarks[i, lip_mp, :2], lip_mp))
    return np.asarray(gaps), np.asarray(target), mm


def lip_figures(grmn: GRMN, scene: Scene, clip: MotionClip, model, frames: np.ndarray, still: bool,
                max_lag: int = 0) -> dict:
    """opening_corr, av_proxy and silence of ``grmn`` on ``frames`` of ``scene`` (and the lag
    profile of opening_corr with ``max_lag`` > 0)."""
    gaps, target, mm = predicted_gaps(grmn, scene, clip, model, frames, still)
    energy = frame_energy(scene.audio(), scene.n_frames)[frames]
    silent = energy < energy.max() - SILENT_DB
    lags = {"opening_corr_by_lag": lagged_corr(gaps, target, max_lag)} if max_lag > 0 else {}
    return {**lags, "opening_corr": pearson(gaps, target),
            "av_proxy": av_sync_proxy(gaps / inter_ocular(scene.landmarks[frames, :, :2]), energy).correlation,
            "silent_mm": float(mm[frames][silent].mean()) if silent.any() else float("nan"),
            "speech_mm": float(mm[frames][~silent].mean()), "silent_frames": int(silent.sum())}


def loudness_probe(grmn: GRMN, scene: Scene, clip: MotionClip, model, n_train: int) -> dict:
    """Would loudness add to the prediction? Least squares of the recorded gap on the predicted
    gap, the audio's loudness (dB above 60 below the clip's peak, / 60, in [0, 1]) and 1, fitted on
    the adaptation frames and scored on the evaluated ones: r and AV proxy of that mix, and its
    coefficients (px per px, px per unit loudness)."""
    frames = np.arange(scene.n_frames)
    gaps, target, _ = predicted_gaps(grmn, scene, clip, model, frames, False)
    energy = frame_energy(scene.audio(), scene.n_frames)
    loud = np.clip((energy - energy.max() + 60.0) / 60.0, 0.0, 1.0)
    x = np.stack([gaps, loud, np.ones_like(gaps)], axis=1)
    coef = np.linalg.lstsq(x[:n_train], target[:n_train], rcond=None)[0]
    mix, ev = x @ coef, frames[n_train:]
    return {"opening_corr": pearson(mix[ev], target[ev]), "loudness_corr": pearson(loud[ev], target[ev]),
            "av_proxy": av_sync_proxy(mix[ev] / inter_ocular(scene.landmarks[ev, :, :2]), energy[ev]).correlation,
            "coef_prediction": float(coef[0]), "coef_loudness": float(coef[1])}


def report(scene_path: Path, prior_path: Path, work: Path, iterations: int, max_lag: int = 0,
           probe: bool = False) -> dict:
    scene = Scene.open(scene_path)
    prior = Prior.open(prior_path)
    n_train = int(min(5 * scene.fps, round(0.6 * scene.n_frames)))
    frames = np.arange(n_train, scene.n_frames)
    from emotag_cli.head.registry import head_model_of

    model = head_model_of(open_track(scene.path).manifest["config"])
    clip = MotionClip.load(scene, model, MouthGauge(model), prior.motion_config().n_expr, scene.path.name)
    _, lip_mp = lip_landmarks(model)
    out: dict = {"scene": scene.path.name, "train_frames": n_train, "eval_frames": len(frames)}
    energy = frame_energy(scene.audio(), scene.n_frames)[frames]
    out["av_proxy_recording"] = av_sync_proxy(mouth_opening(scene.landmarks[frames]), energy).correlation
    silent = energy < energy.max() - SILENT_DB
    tracked_mm = (clip.opening.numpy()[frames] - clip.neutral) * 1000
    out["recording_silent_mm"] = float(tracked_mm[silent].mean()) if silent.any() else float("nan")
    out["recording_speech_mm"] = float(tracked_mm[~silent].mean())
    phones = phones_opening(scene.audio(), scene.fps)[:scene.n_frames]
    target = np.array([inner_lip_gap(scene.landmarks[i, lip_mp, :2], lip_mp) for i in frames])
    out["phones_only_corr"] = pearson(phones[frames], target)
    if max_lag > 0:
        out["phones_only_corr_by_lag"] = lagged_corr(phones[frames], target, max_lag)
    grmn = prior.motion_model().eval()
    for still in (False, True):
        out["prior" + ("_still" if still else "")] = lip_figures(grmn, scene, clip, model, frames, still, max_lag)
    if iterations > 0:
        t0 = time.perf_counter()
        config = AdaptConfig.preset_named("cpu", iterations=iterations, warmup=max(1, iterations // 4))
        avatar_path = adapt(scene.path, prior_path, n_train / scene.fps, work / scene.path.name, config,
                            overwrite=True, reporter=quiet())
        out["adapt_s"] = round(time.perf_counter() - t0, 1)
        from emotag_cli.avatar import Avatar

        avatar = Avatar.open(avatar_path)
        tuned = avatar.motion_model().eval()
        for still in (False, True):
            out["avatar" + ("_still" if still else "")] = lip_figures(tuned, scene, clip, model, frames, still, max_lag)
        if probe:
            out["avatar_loudness_probe"] = loudness_probe(tuned, scene, clip, model, n_train)
        t0 = time.perf_counter()
        rendered = evaluate_avatar(avatar, scene, frames.tolist(), reporter=quiet())
        out["render_eval"] = {k: rendered[k] for k in ("opening_corr", "opening_corr_tracked", "lmd", "lmd_tracked",
                                                       "psnr", "ssim", "psnr_tracked", "ssim_tracked")}
        out["eval_s"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", type=Path, nargs="+")
    parser.add_argument("--prior", type=Path, default=None, help="default: the shipped prior")
    parser.add_argument("--adapt-iterations", type=int, default=300, help="0: the prior alone")
    parser.add_argument("--work", type=Path, default=Path("build/lip_sync"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--lags", type=int, default=0, help="also r at lags -K..K frames (opening_corr_by_lag)")
    parser.add_argument("--loudness-probe", action="store_true",
                        help="also the adapted prediction mixed with loudness, fitted on the adaptation frames")
    args = parser.parse_args()
    prior = default_prior(args.prior)
    rows = []
    for s in args.scenes:
        row = report(s, prior, args.work, args.adapt_iterations, args.lags, args.loudness_probe)
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
