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
from emotag_cli.errors import EmotagError
from emotag_cli.motion.control import EMOTIONS
from emotag_cli.shipped_prior import ANCHOR_SCALES


def scaled_copy(avatar: Path, out: Path, factor: float, emotions: list[str]) -> list[float]:
    """Write ``out``, a copy of ``avatar`` with s_k × ``factor`` for ``emotions``; returns the new
    s_k. Refuses (EmotagError) an avatar without the anchored residual or an existing ``out``."""
    state = torch.load(avatar / "grmn.pt", map_location="cpu", weights_only=True)
    if ANCHOR_SCALES not in state:
        raise EmotagError(f"{avatar} has no anchored emotion residual (made without emotion directions)")
    if out.exists():
        raise EmotagError(f"{out} already exists")
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(avatar, tmp)
    manifest = read_manifest(tmp, "avatar", 1)             # checked before grmn.pt changes under it
    for name in emotions:
        state[ANCHOR_SCALES][EMOTIONS.index(name)] += math.log(factor)
    torch.save(state, tmp / "grmn.pt")
    manifest["emotion_scale_factor"] = {"factor": factor, "emotions": emotions}
    write_manifest(tmp, manifest)
    tmp.rename(out)
    return state[ANCHOR_SCALES].exp().tolist()


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
    try:
        scales = scaled_copy(args.avatar, args.out, args.factor, args.emotions.split(","))
    except EmotagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: s_k = {[round(x, 3) for x in scales]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
