"""Preprocess clips and print the quality numbers of each scene.

    python scripts/preprocess_report.py OUT_DIR VIDEO... [--size 256]

Writes OUT_DIR/<clip stem>/ scenes (kept, for later stages) and prints per clip: frames vs
round(duration·25), audio length vs frames, landmark coverage, the crop's largest step, and the
face-box centre step in the crop (median / p95 / max, % of the crop size), and the time taken.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("videos", nargs="+", type=Path)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--crop", default="fixed")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from emotag_cli.config import PreprocessConfig
    from emotag_cli.media.probe import probe
    from emotag_cli.preprocess.pipeline import preprocess
    from emotag_cli.progress import quiet

    table = Table(title=f"preprocess at {args.size} px, crop {args.crop}")
    for col in ("clip", "frames", "25·dur", "audio-frames", "landmarks %", "crop step %",
                "face step % med/p95/max", "seconds"):
        table.add_column(col, justify="right")
    for video in args.videos:
        t0 = time.perf_counter()
        scene = preprocess(video, args.out / video.stem, PreprocessConfig(size=args.size, crop=args.crop),
                           overwrite=True, reporter=quiet())
        seconds = time.perf_counter() - t0
        info = probe(video)
        audio_frames = len(scene.audio()) / 640 if scene.has_audio else float("nan")
        crops = scene.array("crop.npy")
        crop_step = np.linalg.norm(np.diff(crops[:, :2], axis=0), axis=1).max() / crops[0, 2] * 100
        lm = scene.landmarks[:, :468, :2]
        centre = (np.nanmin(lm, 1) + np.nanmax(lm, 1)) / 2
        step = np.linalg.norm(np.diff(centre, axis=0), axis=1) / scene.size * 100
        table.add_row(video.stem[:30], str(scene.n_frames), f"{info.duration_s * 25:.1f}", f"{audio_frames:.2f}",
                      f"{100 * scene.array('face_found.npy').mean():.1f}", f"{crop_step:.2f}",
                      f"{np.nanmedian(step):.2f}/{np.nanpercentile(step, 95):.2f}/{np.nanmax(step):.2f}",
                      f"{seconds:.1f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
