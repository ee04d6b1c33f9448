"""Calibrate each emotion direction's magnitude on renders, so that a full request shows.

    python scripts/calibrate_emotion_gains.py AVATAR [AVATAR ...] --audio SPEECH.wav \
        [--seconds 4] [--factors 1,1.5,2,3,4] [--target 0.8] [--directions IN.json] -o OUT.json

A direction's natural magnitude m_k is the mean change real faces make from neutral to emotion k,
averaged over speakers and frames (scripts/build_emotion_directions.py). Rendered through an
avatar at 256 px, that mean change is often too small for the emotion teacher to read (docs/
reference/emotion-and-identity.md). This script measures, on calibration avatars, how large the
change must be: for each factor f it renders the first --seconds of SPEECH under every class at
intensity 1 with the avatar's emotion scales s_k multiplied by f (what
scripts/scale_emotion_magnitudes.py does), and reads each render with the bundled teacher. Each
class's gain is the smallest factor whose mean top-1 accuracy over the avatars reaches --target
(or, if none does, the factor with the highest). OUT is the input directions with
``magnitude_k × gain_k`` and a ``provenance.calibration`` record (avatars, audio, the top-1 table,
the gains), so a prior trained from OUT starts each s_k at the calibrated magnitude.

Use avatars of speakers that neither trained the directions nor are measured afterwards.
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
    ap.add_argument("--factors", default="1,1.5,2,3,4")
    ap.add_argument("--target", type=float, default=0.8, help="mean top-1 accuracy a class must reach")
    ap.add_argument("--directions", type=Path, default=None, help="default: the shipped file")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--work", type=Path, default=Path("build/calibrate_emotions"))
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    from emotag_cli.head.emotion_directions import EmotionDirections, load_emotion_directions, save_emotion_directions
    from emotag_cli.preprocess.emotion import emotion_teacher
    from emotag_cli.preprocess.identity import DlibFaceEncoder
    from emotag_cli.synthesis.render import RenderConfig, render

    torch.set_num_threads(1)
    directions = load_emotion_directions(args.directions)
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
        gains[e] = reaching[0] if reaching else max(factors, key=lambda f: means[f])
    magnitude = np.array([m * gains[e] for e, m in zip(directions.emotions, directions.magnitude)])
    provenance = dict(directions.provenance)
    provenance["calibration"] = {
        "command": "python scripts/calibrate_emotion_gains.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "avatars": [a.name for a in args.avatars], "audio": args.audio.name, "seconds": args.seconds,
        "size": args.size, "teacher": teacher.id, "target_top1": args.target, "factors": factors,
        "top1": top1, "gains": gains,
        "natural_magnitude": [round(float(x), 6) for x in directions.magnitude]}
    out = EmotionDirections(directions.head_model, directions.head_model_sha256, directions.emotions,
                            directions.directions, magnitude, directions.version, provenance)
    save_emotion_directions(args.out, out)
    print(json.dumps({"gains": gains, "top1_mean": {e: {f: round(float(np.mean(v)), 2) for f, v in t.items()}
                                                    for e, t in top1.items()}}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
