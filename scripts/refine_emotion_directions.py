"""Refine emotion directions on renders of calibration avatars (synthesis/emotion_refine.py).

    python scripts/refine_emotion_directions.py AVATAR [AVATAR ...] --audio SPEECH.wav \
        [--directions IN.json] [--seconds 6] [--steps 120] [-o OUT.json]

Each AVATAR is adapted (`emotag adapt`) with a prior anchored on IN.json's directions (default:
the shipped file), of a speaker that did not train the directions and is not one a result will be
measured on. The first --seconds of SPEECH drive them. A refined IN.json starts again from the
data directions it records (refinements do not compound). Writes OUT.json, an emotion-directions file
for the same head model with a "refined" record in its provenance (settings, avatars, teacher, the
data directions, per class the angle to them and the teacher's p(k) before and after); give it to
`scripts/build_prior.py --emotion-directions OUT.json` (or `emotag pretrain --emotion-directions`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from emotag_cli.synthesis.emotion_refine import RefineSettings

    d = RefineSettings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("avatars", type=Path, nargs="+")
    ap.add_argument("--audio", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--directions", type=Path, default=None, help="directions to start from (default: shipped)")
    for f in dataclasses.fields(RefineSettings):
        default = getattr(d, f.name)
        kind = float if default is None else type(default)          # None: an optional number, off by default
        ap.add_argument("--" + f.name.replace("_", "-"), type=kind, default=default)
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from emotag_cli.head.emotion_directions import load_emotion_directions, save_emotion_directions
    from emotag_cli.media.audio import decode_audio
    from emotag_cli.preprocess.emotion import emotion_teacher
    from emotag_cli.scene import AUDIO_RATE
    from emotag_cli.synthesis.emotion_refine import prepare_avatar, refine_directions

    settings = RefineSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RefineSettings)})
    directions = load_emotion_directions(args.directions)
    if "refined" in directions.provenance:                  # start again from the real faces' directions
        data = directions.provenance["refined"]["data_directions"]
        directions = dataclasses.replace(
            directions, directions=np.asarray(data["directions"]), magnitude=np.asarray(data["magnitude"]),
            provenance={k: v for k, v in directions.provenance.items() if k != "refined"})
        print("note: the input was refined already; starting from the data directions it records")
    wav, _ = decode_audio(args.audio, AUDIO_RATE)
    wav = wav[:int(args.seconds * AUDIO_RATE)]
    t0 = time.perf_counter()
    avatars = [prepare_avatar(a, wav, AUDIO_RATE, directions, settings.size) for a in args.avatars]
    refined, summary = refine_directions(directions, avatars, emotion_teacher("auto"), settings,
                                         log=lambda s: print(s, flush=True))
    refined.provenance["refined"]["audio"] = args.audio.name
    refined.provenance["refined"]["seconds"] = args.seconds
    refined.provenance["refined"]["command"] = "python scripts/refine_emotion_directions.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    save_emotion_directions(args.out, refined)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
