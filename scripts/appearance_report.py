"""Fit Gaussians to tracked scenes and report held-out quality (issue: rasterizer and avatars).

    python scripts/appearance_report.py SCENE... [--train 125] [--test 50] [--iterations 3000]
                                        [--size 256] [--sheet OUT.png]

For each tracked scene: fit on the first --train frames, then PSNR / SSIM on the head region of the
next --test frames rendered with their tracked parameters; prints the number of Gaussians and the
time per iteration, and writes a contact sheet (ground truth above, render below) when asked.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenes", nargs="+", type=Path)
    ap.add_argument("--train", type=int, default=125)
    ap.add_argument("--test", type=int, default=50)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--gaussians", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--sheet", type=Path)
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from emotag_cli.forward.clip import TrackedClip
    from emotag_cli.progress import Reporter
    from emotag_cli.train.appearance import AppearanceConfig, evaluate_appearance, fit_appearance, render_frame

    torch.set_num_threads(1)
    table = Table(title=f"appearance fit at {args.size} px: train first {args.train} frames, "
                        f"test next {args.test}, {args.iterations} iterations")
    for col in ("scene", "PSNR head", "SSIM head", "Gaussians", "s / iteration", "fit s"):
        table.add_column(col, justify="right")
    rows = []
    for path in args.scenes:
        clip = TrackedClip(path, size=args.size)
        train = list(range(min(args.train, clip.n_frames)))
        test = list(range(len(train), min(len(train) + args.test, clip.n_frames)))
        t0 = time.perf_counter()
        gs, _ = fit_appearance(clip, train, AppearanceConfig(iterations=args.iterations, n_gaussians=args.gaussians),
                               reporter=Reporter())
        seconds = time.perf_counter() - t0
        metrics = evaluate_appearance(clip, gs, test)
        table.add_row(path.name[:28], f"{metrics['psnr']:.2f}", f"{metrics['ssim']:.4f}", str(gs.n),
                      f"{seconds / args.iterations:.3f}", f"{seconds:.0f}")
        picks = [test[k] for k in np.linspace(0, len(test) - 1, 4).round().astype(int)]
        gt = np.hstack([(clip.frame(i).image.permute(1, 2, 0).numpy() * 255).astype(np.uint8) for i in picks])
        rows.append(np.vstack([gt, np.hstack([render_frame(clip, gs, i) for i in picks])]))
    Console(width=160).print(table)
    if args.sheet:
        import cv2

        cv2.imwrite(str(args.sheet), np.vstack(rows)[:, :, ::-1])


if __name__ == "__main__":
    main()
