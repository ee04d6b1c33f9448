"""Calibrate each emotion's strength on renders, so that a full request shows.

    python scripts/calibrate_emotion_gains.py AVATAR [AVATAR ...] --audio SPEECH.wav \
        [--seconds 4] [--factors 1,1.5,2,3] [--target 0.8] -o GAINS.json

A direction's natural magnitude m_k is the mean change real faces make from neutral to emotion k,
averaged over speakers and frames (scripts/build_emotion_directions.py), and a prior's emotion
scale s_k starts there. Rendered through an avatar at 256 px, that mean change is often too small
for the emotion teacher to read (docs/reference/emotion-and-identity.md). This script measures, on
calibration avatars, how much larger it must be: for each factor f it renders the first
--seconds of SPEECH under every class at intensity 1 with the avatar's scales s_k multiplied by f
(scripts/scale_emotion_magnitudes.py), and reads each render with the bundled teacher. Each
class's gain is the smallest factor whose mean top-1 accuracy over the avatars reaches --target;
a class no factor brings there keeps gain 1 (a larger change the teacher does not read only
distorts the face).

GAINS.json: ``{"kind": "emotion-gains", "gains": {class: factor}, "calibration": {avatars, audio,
factors, the top-1 table, ...}}``; ``scripts/build_prior.py --emotion-gains GAINS.json``
applies them to the prior it exports (shipped_prior.export_shipped). Use avatars of speakers that
neither trained the directions nor are measured afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from emotion_report import measure, scores  # noqa: E402
from scale_emotion_magnitudes import scaled_copy  # noqa: E402


def cut_audio(src: Path, dst: Path, seconds: float) -> Path:
    import soundfile as sf

    wav, rate = sf.read(str(src), dtype="float32", always_2d=False)
    sf.write(str(dst), wav[:int(seconds * rate)], rate)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("avatars", type=Path, nargs="+")
    ap.add_argument("--audio", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--factors", default="1,1.5,2,3")
    ap.add_argument("--target", type=float, default=0.8, help="mean top-1 accuracy a class must reach")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--work", type=Path, default=Path("build/calibrate_emotions"))
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    from emotag_cli.head.emotion_directions import load_emotion_directions
    from emotag_cli.preprocess.emotion import emotion_teacher
    from emotag_cli.preprocess.identity import DlibFaceEncoder
    from emotag_cli.synthesis.render import RenderConfig, render

    torch.set_num_threads(1)
    directions = load_emotion_directions()                   # the classes there are
    factors = sorted(float(x) for x in args.factors.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    audio = cut_audio(args.audio, args.work / "speech.wav", args.seconds)
    teacher, encoder = emotion_teacher("auto"), DlibFaceEncoder()
    top1: dict[str, dict[str, list[float]]] = {e: {f"{f:g}": [] for f in factors} for e in directions.emotions}
    for avatar in args.avatars:
        for f in factors:
            scaled = args.work / f"{avatar.name}_x{f:g}"
            shutil.rmtree(scaled, ignore_errors=True)
            scaled_copy(avatar, scaled, f, list(directions.emotions))
            for e in directions.emotions:
                video = args.work / f"{avatar.name}_x{f:g}_{e}.mp4"
                render(scaled, audio, video, RenderConfig(emotion=e, intensity=1.0, size=args.size), overwrite=True)
                acc, p = scores(measure(video, teacher, encoder), e)
                top1[e][f"{f:g}"].append(acc)
                print(f"{avatar.name} ×{f:g} {e}: top-1 {100 * acc:.0f} %, p {p:.2f}", flush=True)
            shutil.rmtree(scaled)
    gains = {}
    for e in directions.emotions:
        means = {f: float(np.mean(top1[e][f"{f:g}"])) for f in factors}
        reaching = [f for f in factors if means[f] >= args.target]
        gains[e] = reaching[0] if reaching else 1.0
    record = {"kind": "emotion-gains", "gains": gains, "calibration": {
        "command": "python scripts/calibrate_emotion_gains.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "avatars": [a.name for a in args.avatars], "audio": args.audio.name, "seconds": args.seconds,
        "size": args.size, "teacher": teacher.id, "target_top1": args.target, "factors": factors,
        "top1": top1, "directions": directions.name}}
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({"gains": gains, "top1_mean": {e: {f: round(float(np.mean(v)), 2) for f, v in t.items()}
                                                    for e, t in top1.items()}}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
