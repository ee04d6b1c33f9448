"""`make demo`: the whole job on a sample video, each stage through the `emotag` command.

sample video → preprocess → track → pretrain (a small motion prior trained on the spot on the
sample itself) → adapt on its first 5 s → render a different speech clip with an emotion →
demo/demo.mp4 → eval of the render.

Why a prior trained on the spot rather than one shipped: a prior worth shipping is trained on many
identities (the paper: 70 HDTF videos, 250K GPU steps); the only real clips at hand are research-
licensed test media that must not be redistributed, weights included, and a 25 MB binary in the
repository would buy little on two cores. The demo shows every stage, not the paper's quality.
Prints each stage's wall time and the total.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "demo"
SHARED_SPEECH = REPO.parent / "shared" / "data" / "real" / "audio" / "coquitts_LJ001-0001.wav"
EMOTAG = [sys.executable, "-m", "emotag_cli.cli"]


def run(stage: str, args: list[str], times: dict[str, float], whole: bool = False) -> str:
    """Run one stage; returns its last stdout line (the path it wrote), or all of stdout."""
    print(f"\n== {stage}: emotag {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(EMOTAG + args, stdout=subprocess.PIPE, text=True)
    times[stage] = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"demo: the {stage} stage failed (exit {done.returncode})")
    print(f"-- {stage}: {times[stage]:.1f} s", flush=True)
    if whole:
        return done.stdout
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main() -> None:
    video = subprocess.run([sys.executable, str(REPO / "scripts" / "sample_video.py")], check=True,
                           stdout=subprocess.PIPE, text=True).stdout.strip()
    speech = str(SHARED_SPEECH) if SHARED_SPEECH.is_file() else video
    print(f"sample video: {video}\nspeech: {speech}" + ("" if SHARED_SPEECH.is_file() else
          " (its own audio track: ../shared is not beside the checkout)"))
    OUT.mkdir(exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    scene = run("preprocess", ["preprocess", video, "-o", str(OUT / "scene"), "--size", "256", "--overwrite"], times)
    run("track", ["track", scene, "--overwrite", "--overlay", "none"], times)
    prior = run("pretrain", ["pretrain", scene, "-o", str(OUT / "prior"), "--preset", "cpu", "--iterations", "400",
                             "--warmup", "100", "--overwrite"], times)
    avatar = run("adapt", ["adapt", scene, "--prior", prior, "--seconds", "5", "-o", str(OUT / "avatar"),
                           "--preset", "cpu", "--iterations", "800", "--tune", "all", "--overwrite"], times)
    movie = run("render", ["render", avatar, "--audio", speech, "--emotion", "happy", "--intensity", "0.8",
                           "-o", str(OUT / "demo.mp4"), "--overwrite"], times)
    print(run("eval", ["eval", movie, "--emotion", "happy"], times, whole=True))
    total = time.perf_counter() - t0
    print("\nstage times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + f"; total {total:.0f} s")
    print(f"the video: {movie}")


if __name__ == "__main__":
    main()
