"""Copy an avatar with its emotion scales s_k multiplied (a calibration lever for renders).

    python scripts/scale_emotion_magnitudes.py AVATAR -o OUT --factor 2 [--emotions happy,sad]

The anchored emotion residual moves the face by s_k·E_k for a full request of class k
(motion/emotion_residual.py). This writes a copy of AVATAR whose s_k are ``factor`` times its own
(for the listed classes, default all), so that a render of the copy shows how the emotion
teacher's reading changes with the magnitude; the factor is recorded in the copy's manifest
(``emotion_scale_factor``). Nothing else changes.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import torch

from emotag_cli.artifact import read_manifest, write_manifest
from emotag_cli.motion.control import EMOTIONS

KEY = "decoder.anchor.log_scale"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("avatar", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--factor", type=float, required=True)
    ap.add_argument("--emotions", default=",".join(e for e in EMOTIONS if e != "neutral"))
    args = ap.parse_args(argv)
    if args.factor <= 0:
        print("error: --factor must be positive", file=sys.stderr)
        return 2
    state = torch.load(args.avatar / "grmn.pt", map_location="cpu", weights_only=True)
    if KEY not in state:
        print(f"error: {args.avatar} has no anchored emotion residual (made without emotion directions)",
              file=sys.stderr)
        return 2
    if args.out.exists():
        print(f"error: {args.out} already exists", file=sys.stderr)
        return 2
    tmp = args.out.parent / f".{args.out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(args.avatar, tmp)
    for name in args.emotions.split(","):
        state[KEY][EMOTIONS.index(name)] += math.log(args.factor)
    torch.save(state, tmp / "grmn.pt")
    manifest = read_manifest(tmp, "avatar", 1)
    manifest["emotion_scale_factor"] = {"factor": args.factor, "emotions": args.emotions.split(",")}
    write_manifest(tmp, manifest)
    tmp.rename(args.out)
    print(f"wrote {args.out}: s_k = {[round(x, 3) for x in state[KEY].exp().tolist()]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
