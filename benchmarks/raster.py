"""Speed and memory of the CPU rasterizer: ``python benchmarks/raster.py``.

Scene: N Gaussians spread uniformly over an ellipsoidal "head" (semi-axes 8.5 x 11.5 x 10 cm)
0.6 m in front of a pinhole camera whose focal length (1.75 x the image side) makes the head
fill about two thirds of the frame. Each Gaussian lies flat on the surface (normal scale 0.1x
the mean spacing, tangent scales 0.5-1.5x the spacing), so the surface is covered a few times
over, as in a trained avatar; opacities 0.3-1, random RGB colours, black background. Both the
front and the back of the head are rendered (the back is hidden, so early termination matters).

Each case runs in its own process with one torch thread:
  forward      rasterize() under torch.no_grad() (colour + expected depth);
  fwd+bwd      rasterize() with gradients, then backward of colours.sum() + depths.sum()
               to means, quats, scales, opacities and colours.
Times are the median of --repeats runs after one warm-up run. Peak memory is the growth of the
process's peak resident set size (getrusage ru_maxrss) over the first run, measured after the
scene is built: it counts everything the render allocates, torch's CPU allocator included,
which tracemalloc cannot see.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import torch

from emotag_cli.raster import rasterize

# The feasibility prototype's figures (seconds, forward / forward+backward) on the same kind
# of 2-core machine; its scene is not recorded, so they are a guide rather than a like-for-like.
PROTOTYPE = {(10_000, 128): (0.07, 0.08), (30_000, 256): (0.10, 0.25), (100_000, 512): (0.45, 0.86)}
SIZES = (10_000, 30_000, 100_000)
PIXELS = (128, 256, 512)


def head_scene(n: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The benchmark scene described in the module docstring (float32, CPU)."""
    g = torch.Generator().manual_seed(seed)
    axes = torch.tensor([0.085, 0.115, 0.10])
    d = torch.randn(n, 3, generator=g)
    surface = d / d.norm(dim=1, keepdim=True) * axes
    normal = surface / axes**2
    normal = normal / normal.norm(dim=1, keepdim=True)
    spacing = math.sqrt(4 * math.pi * 0.1**2 / n)
    scales = torch.cat([spacing * (0.5 + torch.rand(n, 2, generator=g)), torch.full((n, 1), 0.1 * spacing)], 1)
    # A rotation whose third axis (the thin one) is the surface normal, spun at random.
    t1 = torch.linalg.cross(normal, torch.randn(n, 3, generator=g))
    t1 = t1 / t1.norm(dim=1, keepdim=True)
    rot = torch.stack([t1, torch.linalg.cross(normal, t1), normal], dim=2)
    w = torch.sqrt((1 + rot[:, 0, 0] + rot[:, 1, 1] + rot[:, 2, 2]).clamp_min(1e-12)) / 2
    quats = torch.stack([w, (rot[:, 2, 1] - rot[:, 1, 2]) / (4 * w), (rot[:, 0, 2] - rot[:, 2, 0]) / (4 * w),
                         (rot[:, 1, 0] - rot[:, 0, 1]) / (4 * w)], dim=1)
    f = 1.75 * size
    return {
        "means": surface + torch.tensor([0.0, 0.0, 0.6]),
        "quats": quats,
        "scales": scales,
        "opacities": 0.3 + 0.7 * torch.rand(n, generator=g),
        "colors": torch.rand(n, 3, generator=g),
        "viewmats": torch.eye(4)[None],
        "Ks": torch.tensor([[[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]]]),
    }


def run_case(n: int, size: int, mode: str, repeats: int) -> dict[str, float]:
    """Time and measure one case in this process."""
    torch.set_num_threads(1)
    scene = head_scene(n, size)
    params = [scene[k].clone().requires_grad_(mode == "fwd+bwd")
              for k in ("means", "quats", "scales", "opacities", "colors")]

    def once() -> None:
        if mode == "forward":
            with torch.no_grad():
                rasterize(*params, scene["viewmats"], scene["Ks"], size, size, rasterizer="torch")
        else:
            out = rasterize(*params, scene["viewmats"], scene["Ks"], size, size, rasterizer="torch")
            (out.colors.sum() + out.depths.sum()).backward()
            for p in params:
                p.grad = None

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    once()
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # ru_maxrss is in KiB
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "best": min(times), "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--case", nargs=3, metavar=("N", "SIZE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        n, size, mode = int(args.case[0]), int(args.case[1]), args.case[2]
        print(json.dumps(run_case(n, size, mode, args.repeats)))
        return

    print(f"torch {torch.__version__}, 1 thread; median of {args.repeats} runs (best in brackets); "
          "peak = growth of max RSS in a fresh process")
    head = (f"{'N':>7} {'px':>4} | {'forward ms':>13} {'peak MB':>7} | {'fwd+bwd ms':>13} {'peak MB':>7} "
            f"| {'prototype fwd / fwd+bwd ms':>26}")
    print(head)
    print("-" * len(head))
    for n in SIZES:
        for size in PIXELS:
            res = {}
            for mode in ("forward", "fwd+bwd"):
                cmd = [sys.executable, __file__, "--repeats", str(args.repeats), "--case", str(n), str(size), mode]
                res[mode] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            proto = PROTOTYPE.get((n, size))
            proto_s = f"{proto[0] * 1e3:.0f} / {proto[1] * 1e3:.0f}" if proto else ""
            cells = [f"{res[m]['seconds'] * 1e3:6.0f} ({res[m]['best'] * 1e3:4.0f}) {res[m]['peak_mb']:7.0f}"
                     for m in ("forward", "fwd+bwd")]
            print(f"{n:>7} {size:>4} | {cells[0]} | {cells[1]} | {proto_s:>26}", flush=True)


if __name__ == "__main__":
    main()
