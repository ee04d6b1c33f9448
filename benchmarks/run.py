"""All benchmarks at small sizes, one table: ``make bench`` (``python benchmarks/run.py``).

Runs the existing benchmarks with settings that finish in about a minute on two cores:
- raster.py: the torch rasterizer on its benchmark head, 10,000 Gaussians at 128 px, forward and
  forward + backward, each case in a fresh one-thread process (median of --repeats runs);
- preprocess.py: preprocess of the first real clip of ../shared/data/real at 128 px, frames per
  second per step (skipped, and said so, when that folder is absent).
For the full tables run those scripts themselves (docs/development.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RASTER_CASES = ((10_000, 128),)


def raster_rows(repeats: int) -> list[tuple[str, str, str]]:
    rows = []
    for n, size in RASTER_CASES:
        for mode in ("forward", "fwd+bwd"):
            cmd = [sys.executable, str(HERE / "raster.py"), "--repeats", str(repeats), "--case", str(n), str(size),
                   mode]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            rows.append(("raster", f"{mode}, {n:,} Gaussians, {size} px",
                         f"{res['seconds'] * 1e3:.0f} ms (peak +{res['peak_mb']:.0f} MB)"))
    return rows


def preprocess_rows(size: int) -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(HERE))
    from preprocess import DEFAULT, time_preprocess

    video = next((p for p in DEFAULT if p.is_file()), None)
    if video is None:
        return [("preprocess", "skipped", "../shared/data/real is absent")]
    n, timings = time_preprocess(video, size)
    rows = [("preprocess", f"{video.name}, {n} frames, {size} px: {step}", f"{n / s:.1f} frames/s")
            for step, s in timings.items() if s > 0]
    rows.append(("preprocess", f"{video.name}: total", f"{n / sum(timings.values()):.1f} frames/s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=128, help="preprocess output size, pixels")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    rows = raster_rows(args.repeats) + preprocess_rows(args.size)
    widths = [max(len(r[i]) for r in rows + [("benchmark", "case", "result")]) for i in range(3)]
    line = " | ".join(f"{{:<{w}}}" for w in widths)
    print(line.format("benchmark", "case", "result"))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row), flush=True)


if __name__ == "__main__":
    main()
