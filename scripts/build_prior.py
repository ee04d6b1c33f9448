"""`make prior`: rebuild the shipped motion prior (src/emotag_cli/assets/prior) from the corpus.

    python scripts/build_prior.py [--corpus ../shared/data/corpus] [--work build/prior]
                                  [--audio-encoder phones] [--iterations 3000]
                                  [--scenes SCENE ... --labels labels.json]
                                  [--emotion-gains scripts/emotion_gains.json]
                                  [--out src/emotag_cli/assets/prior]

corpus → scripts/corpus_inputs.py (links, paired sound files, labels) → `emotag preprocess` (corpus
mode, 256 px) → `emotag track` of the scenes with audio → `emotag features` (the chosen encoder) →
`emotag pretrain --stage motion` → float16 export into the package (shipped_prior.export_shipped,
with the per-emotion gains of --emotion-gains, measured on renders by
scripts/calibrate_emotion_gains.py) with the run's record: the training scenes with their
sources and licences (from labels.json), the settings and the stage times. Each stage skips
what is already done in --work, so an interrupted build continues. --scenes uses scenes already
tracked (e.g. with another head model) instead of the corpus stages. docs/models/prior.md is the
model card.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMOTAG = [sys.executable, "-m", "emotag_cli.cli"]


def emotag(*args: str) -> str:
    done = subprocess.run([*EMOTAG, *args], stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"build_prior: `emotag {' '.join(args[:3])} …` failed (exit {done.returncode})")
    return done.stdout


def with_audio(scenes: list[Path]) -> list[Path]:
    return [s for s in scenes if json.loads((s / "manifest.json").read_text()).get("has_audio")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "corpus")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "prior")
    parser.add_argument("--audio-encoder", default="phones")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--stretch", type=int, default=24)
    parser.add_argument("--scenes", type=Path, nargs="*", help="tracked scenes to train on (skips the corpus stages)")
    parser.add_argument("--labels", type=Path, default=None,
                        help="labels.json of scripts/corpus_inputs.py for --scenes (sources and licences)")
    parser.add_argument("--emotion-gains", type=Path, default=None,
                        help="GAINS.json of scripts/calibrate_emotion_gains.py: factors for the emotion scales")
    parser.add_argument("--out", type=Path, default=REPO / "src" / "emotag_cli" / "assets" / "prior")
    args = parser.parse_args()
    times: dict[str, float] = {}

    def stage(name: str, fn) -> object:
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        result = fn()
        times[name] = round(time.perf_counter() - t0, 1)
        print(f"-- {name}: {times[name]:.0f} s", flush=True)
        return result

    labels: dict = json.loads(args.labels.read_text()) if args.labels else {}
    if args.scenes:
        scenes = with_audio([s.absolute() for s in args.scenes])
    else:
        if not (args.corpus / "manifest.json").is_file():
            sys.exit(f"build_prior: no corpus at {args.corpus} (give --corpus or --scenes)")
        inputs, root = args.work / "corpus_in", args.work / "corpus"
        stage("corpus inputs", lambda: subprocess.run([sys.executable, str(REPO / "scripts" / "corpus_inputs.py"),
                                                       str(args.corpus), str(inputs)], check=True))
        stage("preprocess", lambda: emotag("preprocess", str(inputs), "-o", str(root), "--size", "256",
                                           "--shard", "1/1"))
        scenes = with_audio(sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()))
        stage("track", lambda: emotag("track", *map(str, scenes), "--overlay", "none"))
        scenes = [s for s in scenes if (s / "track" / "params.npz").is_file()]
        labels = json.loads((inputs / "labels.json").read_text())
    stage("features", lambda: emotag("features", *map(str, scenes), "--audio-encoder", args.audio_encoder))
    prior = args.work / "prior"
    stage("motion pretrain", lambda: emotag("pretrain", *map(str, scenes), "-o", str(prior), "--stage", "motion",
                                            "--motion-iterations", str(args.iterations), "--batch", str(args.batch),
                                            "--stretch", str(args.stretch), "--overwrite"))
    sys.path.insert(0, str(REPO / "src"))
    from emotag_cli.shipped_prior import export_shipped

    clips = [{"scene": s.name, **{k: labels.get(s.name, {}).get(k) for k in
                                  ("speakers", "emotion", "license", "dataset_terms", "source")}} for s in scenes]
    command = "python scripts/build_prior.py " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "make prior"
    card = {"build": {"command": command, "audio_encoder": args.audio_encoder, "iterations": args.iterations,
                      "batch": args.batch, "stretch": args.stretch, "stage_seconds": times},
            "clips": clips}
    gains = None
    if args.emotion_gains:
        record = json.loads(args.emotion_gains.read_text())
        gains = record["gains"]
        card["emotion_gains_file"] = {"path": str(args.emotion_gains), "calibration": record.get("calibration")}
    out = export_shipped(prior, args.out, card, emotion_gains=gains)
    print(f"stage times: {times}\nthe prior: {out}")


if __name__ == "__main__":
    main()
