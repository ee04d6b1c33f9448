"""How much of the tracked jaw motion can audio explain on these scenes? Ceilings for the motion prior.

    python scripts/motion_data_report.py SCENE [SCENE ...] [--eval-from 125] [--ridge 1000]

Per tracked scene (weight-free, seconds):

- av_sync: the eval AV-sync proxy on the scene itself (inner-lip opening vs audio energy, best of
  ±3 frames) — how strongly the recording's own mouth follows its loudness;
- jaw~lips: Pearson r of the tracked jaw opening (rotation about x) and the inner-lip opening —
  how much of the mouth opening the tracker put in the jaw rather than in expression components;
- box_ceiling: r of the tracked jaw and its own moving average over the GRMN's window (8 frames)
  — the best jaw correlation any per-frame predictor can reach after the window averaging;
- loo_ridge: a leave-one-scene-out ridge regression from the per-frame mean audio token to the
  per-scene standardised jaw opening, trained on all the other scenes, scored on this scene's frames
  from ``--eval-from`` on — a linear baseline of what the cross-speaker mapping carries over.

The scenes must share one audio encoder. This is the evidence behind issue 5's note: the motion
prior's held-out jaw correlation cannot be judged without knowing what the data allows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenes", type=Path, nargs="+")
    ap.add_argument("--eval-from", type=int, default=125, help="first frame scored by loo_ridge (the 5 s adapt split)")
    ap.add_argument("--ridge", type=float, default=1000.0, help="ridge penalty on standardised features")
    ap.add_argument("--window", type=int, default=8)
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from emotag_cli.evaluation.avatar_metrics import pearson
    from emotag_cli.evaluation.sync import av_sync_proxy, frame_energy, mouth_opening
    from emotag_cli.scene import Scene
    from emotag_cli.track.result import open_track

    rows = {}
    for path in args.scenes:
        scene, track = Scene.open(path), open_track(path)
        jaw = np.asarray(track.params["jaw"][:, 0], np.float64)
        opening = mouth_opening(scene.landmarks)
        tokens = np.asarray(scene.array("audio_features.npy"), np.float32).mean(axis=1)  # [N, D]
        rows[scene.path.name] = dict(jaw=jaw, opening=opening, tokens=tokens,
                                     sync=av_sync_proxy(opening, frame_energy(scene.audio(), scene.n_frames)))

    table = Table(title=f"motion data ceilings ({len(rows)} scenes)")
    for col in ("scene", "frames", "av_sync (lag)", "jaw~lips", f"box{args.window}_ceiling",
                f"loo_ridge (frames ≥ {args.eval_from})"):
        table.add_column(col, justify="right")
    kernel = np.ones(args.window) / args.window
    for name, row in rows.items():
        jaw, ok = row["jaw"], np.isfinite(row["opening"])
        others = [r for n, r in rows.items() if n != name]
        x = np.concatenate([r["tokens"] for r in others])
        y = np.concatenate([(r["jaw"] - r["jaw"].mean()) / r["jaw"].std() for r in others])
        mu, sd = x.mean(0), x.std(0) + 1e-6
        x1 = np.c_[(x - mu) / sd, np.ones(len(x))]
        w = np.linalg.solve(x1.T @ x1 + args.ridge * np.eye(x1.shape[1]), x1.T @ y)
        pred = np.c_[(row["tokens"] - mu) / sd, np.ones(len(jaw))] @ w
        scored = slice(args.eval_from if len(jaw) > args.eval_from + 25 else 0, None)
        sync = row["sync"]
        table.add_row(name[:28], str(len(jaw)), f"{sync.correlation:.2f} ({sync.offset:+d})",
                      f"{pearson(jaw[ok], row['opening'][ok]):.2f}",
                      f"{pearson(jaw, np.convolve(jaw, kernel, mode='same')):.2f}",
                      f"{pearson(pred[scored], jaw[scored]):.2f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
