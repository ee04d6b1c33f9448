"""Landmark reprojection error of tracked scenes, neutral and emotional clips apart.

    python scripts/track_errors.py SCENE [SCENE ...] [--labels labels.json] [--at 512] [--json OUT]

Reads each SCENE/track/report.json (`emotag track`) and prints its mean, median and 95th
percentile reprojection error, scaled from the scene's frame size to --at pixels (errors scale
linearly with the frame side). A scene is "emotional" when labels.json gives it an emotion other
than neutral, else "neutral". Ends with the mean over the scenes of each group.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="+", type=Path)
    ap.add_argument("--labels", type=Path, help="labels.json (scene name -> emotion)")
    ap.add_argument("--at", type=int, default=512, help="report errors at this frame side, pixels")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    labels = json.loads(args.labels.read_text()) if args.labels else {}
    rows = []
    for scene in args.scenes:
        path = scene / "track" / "report.json"
        if not path.is_file():
            print(f"skip {scene.name}: not tracked", file=sys.stderr)
            continue
        report = json.loads(path.read_text())
        k = args.at / report["size"]
        emotion = (labels.get(scene.name) or {}).get("emotion") or "neutral"
        rep = report["reprojection"]
        group = "neutral" if emotion == "neutral" else "emotional"
        rows.append({"scene": scene.name, "emotion": emotion, "group": group,
                     "mean": rep["mean"] * k, "median": rep["median"] * k, "p95": rep["p95"] * k})
    print(f"{'scene':70s} {'emotion':9s} mean / median / p95 px at {args.at}")
    for r in rows:
        print(f"{r['scene'][-70:]:70s} {r['emotion']:9s} {r['mean']:.2f} / {r['median']:.2f} / {r['p95']:.2f}")
    for group in ("neutral", "emotional"):
        sel = [r for r in rows if r["group"] == group]
        if sel:
            means, p95 = [r["mean"] for r in sel], [r["p95"] for r in sel]
            print(f"{group}: {len(sel)} clips, mean {np.mean(means):.3f} px, worst clip {max(means):.3f} px, "
                  f"mean p95 {np.mean(p95):.3f} px")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
