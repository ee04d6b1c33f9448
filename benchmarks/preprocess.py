"""Frames per second of each preprocess step on this machine.

    python benchmarks/preprocess.py [VIDEO ...] [--size 512] [--threads 1]

Without arguments it uses three clips of ../shared/data/real/video (when present). Each clip is
preprocessed into a temporary folder; the table shows, per step, frames per second (frames of
the clip / seconds spent in that step), and the total.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOTAG_SHARED", REPO.parent / "shared"))
DEFAULT = [SHARED / "data" / "real" / "video" / n for n in
           ("real3dportrait_May_5s.mp4", "eamm_M030_sad_3_001.mp4", "mimictalk_German_20s.mp4")]


def time_preprocess(video: Path, size: int, audio_encoder: str = "mel") -> tuple[int, dict[str, float]]:
    """(frames, {step: seconds}) of preprocessing ``video`` at ``size`` px into a temporary folder."""
    from emotag_cli.config import PreprocessConfig
    from emotag_cli.preprocess.pipeline import preprocess
    from emotag_cli.progress import quiet

    with tempfile.TemporaryDirectory() as tmp:
        reporter = quiet()
        scene = preprocess(video, Path(tmp) / "scene", PreprocessConfig(size=size, audio_encoder=audio_encoder),
                           reporter=reporter)
        return scene.n_frames, dict(reporter.timings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--audio-encoder", default="mel")
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(args.threads)
    videos = args.videos or [p for p in DEFAULT if p.is_file()]
    if not videos:
        raise SystemExit("no video given and ../shared/data/real is not there")
    rows = []
    steps: list[str] = []
    for video in videos:
        n, timings = time_preprocess(video, args.size, args.audio_encoder)
        steps.extend(s for s in timings if s not in steps)
        rows.append((video.name, n, timings))
    table = Table(title=f"preprocess at {args.size} px, {args.threads} torch thread(s): frames per second per step")
    table.add_column("clip")
    table.add_column("frames", justify="right")
    for s in steps:
        table.add_column(s, justify="right")
    table.add_column("total fps", justify="right")
    table.add_column("total s", justify="right")
    for name, n, timings in rows:
        total = sum(timings.values())
        table.add_row(name[:28], str(n), *[f"{n / timings[s]:.1f}" if timings.get(s) else "-" for s in steps],
                      f"{n / total:.1f}", f"{total:.1f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
