"""`make demo`: what emotag is for, each stage through the `emotag` command, with the shipped prior.

sample video → preprocess (the shipped prior's audio encoder) → track → adapt on its first 5 s
(the prior that ships with emotag; nothing is pretrained here) → render a different speech clip at
256 px with an emotion timeline → demo/demo.mp4, beside it demo/contact_sheet.png (one row per
emotion of the timeline, four moments of each) and demo/eval.txt (`emotag eval` of the render,
with the emotion teacher's reading of each segment of the timeline).
Prints each stage's wall time and the total.

`make demo VIDEO=talk.mp4 SPEECH=speech.wav` uses your own clip (a person speaking, 5 s or more)
and speech instead. Without ../shared beside the checkout and without VIDEO the demo stops at
once: the fallback sample (scripts/sample_video.py) has a silent audio track, and an avatar
cannot learn lip motion from a clip without speech.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "demo"
SHARED_SPEECH = REPO.parent / "shared" / "data" / "real" / "audio" / "coquitts_LJ001-0001.wav"
EMOTAG = [sys.executable, "-m", "emotag_cli.cli"]
TIMELINE = ["neutral", "happy", "sad", "angry", "surprise"]
MOMENTS = 4


def run(stage: str, args: list[str], times: dict[str, float]) -> str:
    """Run one stage; returns its stdout."""
    print(f"\n== {stage}: emotag {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(EMOTAG + args, stdout=subprocess.PIPE, text=True)
    times[stage] = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"demo: the {stage} stage failed (exit {done.returncode})")
    print(f"-- {stage}: {times[stage]:.1f} s", flush=True)
    return done.stdout


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


def shipped_encoder() -> str:
    """The --audio-encoder of the prior emotag ships (the scene must match it)."""
    sys.path.insert(0, str(REPO / "src"))
    from emotag_cli.preprocess.audio_features import encoder_option
    from emotag_cli.shipped_prior import shipped_prior

    prior = shipped_prior()
    if prior is None:
        sys.exit("demo: this checkout ships no prior (src/emotag_cli/assets/prior); build it with `make prior`")
    return encoder_option(json.loads((prior / "manifest.json").read_text())["audio"]["encoder"])


def timeline(seconds: float) -> str:
    """'neutral:0-1.9,happy:1.9-3.9,…': the emotions of TIMELINE in equal parts of the speech."""
    step = seconds / len(TIMELINE)
    return ",".join(f"{e}:{k * step:.2f}-{(k + 1) * step:.2f}" for k, e in enumerate(TIMELINE))


def contact_sheet(frames: Path, n_frames: int, out: Path) -> None:
    """One row per emotion segment of the timeline, MOMENTS frames spread over each, labelled."""
    import cv2
    import numpy as np

    per = n_frames / len(TIMELINE)
    rows = []
    for k, name in enumerate(TIMELINE):
        picks = [int(k * per + (m + 0.5) * per / MOMENTS) for m in range(MOMENTS)]
        images = [cv2.imread(str(frames / f"{i:06d}.png")) for i in picks]
        for image, i in zip(images, picks):
            cv2.putText(image, f"{name} {i / 25:.1f}s", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                        cv2.LINE_AA)
        rows.append(np.concatenate(images, 1))
    cv2.imwrite(str(out), np.concatenate(rows, 0))


def main() -> None:
    import soundfile as sf

    video = os.environ.get("VIDEO")
    if video is None and not SHARED_SPEECH.is_file():
        sys.exit("demo: no talking clip: ../shared/data/real is not beside the checkout and the fallback "
                 "sample's audio track is silent; run `make demo VIDEO=talk.mp4 [SPEECH=speech.wav]`")
    if video is None:
        video = subprocess.run([sys.executable, str(REPO / "scripts" / "sample_video.py")], check=True,
                               stdout=subprocess.PIPE, text=True).stdout.strip()
    speech = os.environ.get("SPEECH") or (str(SHARED_SPEECH) if SHARED_SPEECH.is_file() else video)
    print(f"sample video: {video}\nspeech: {speech}")
    OUT.mkdir(exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    scene = last_line(run("preprocess", ["preprocess", video, "-o", str(OUT / "scene"), "--size", "256",
                                         "--audio-encoder", shipped_encoder(), "--overwrite"], times))
    run("track", ["track", scene, "--overwrite", "--overlay", "none"], times)
    avatar = last_line(run("adapt", ["adapt", scene, "--seconds", "5", "-o", str(OUT / "avatar"), "--preset", "cpu",
                                     "--iterations", "600", "--warmup", "150", "--overwrite"], times))
    seconds = sf.info(speech).duration if speech.endswith(".wav") else 5.0
    frames = OUT / "frames"
    shutil.rmtree(frames, ignore_errors=True)
    emotions = timeline(seconds)
    movie = last_line(run("render", ["render", avatar, "--audio", speech, "--emotion", emotions,
                                     "--intensity", "1", "--size", "256", "--frames", str(frames),
                                     "-o", str(OUT / "demo.mp4"), "--overwrite"], times))
    contact_sheet(frames, len(list(frames.glob("*.png"))), OUT / "contact_sheet.png")
    report = run("eval", ["eval", movie, "--emotion", emotions], times)
    (OUT / "eval.txt").write_text(report)
    print(report)
    total = time.perf_counter() - t0
    print("\nstage times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + f"; total {total:.0f} s")
    print(f"the video: {movie}\nthe contact sheet: {OUT / 'contact_sheet.png'}\nthe eval table: {OUT / 'eval.txt'}")


if __name__ == "__main__":
    main()
