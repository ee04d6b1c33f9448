"""How much of real emotional face changes each head model's expression space can express.

    python scripts/expression_coverage.py MODEL.npz [MODEL.npz ...] --scenes SCENE ... --labels labels.json

For every speaker with a neutral clip and emotional clips among the scenes (speaker and emotion
from labels.json, keyed by scene name), the change of each emotional clip is its median aligned
face minus the speaker's neutral clip's median face ("clip"), and every emotional frame minus
that neutral ("frames", speech included). Prints, per model and emotion, the share of the
change's energy outside the model's motion span (expression components + jaw), on the whole
face, the upper face (above the nose tip) and the lower face. See head/builder/coverage.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from emotag_cli.head.builder.coverage import motion_span, span_residual
from emotag_cli.head.builder.topology import N_FACE
from emotag_cli.head.builder.tracks import load_track


def emotional_changes(scenes: list[Path], labels: dict) -> dict[str, dict[str, np.ndarray]]:
    """emotion → {"clip": [M, 468, 3], "frames": [F, 468, 3]} changes from the same speaker's neutral."""
    by_speaker: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for scene in scenes:
        label = labels.get(scene.name)
        if not label or not label.get("emotion") or not label.get("speakers"):
            continue
        by_speaker[label["speakers"][0]][label["emotion"]].append(load_track(scene).aligned[:, :N_FACE])
    out: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    for clips in by_speaker.values():
        if "neutral" not in clips:
            continue
        neutral = np.median(np.concatenate(clips["neutral"]), axis=0)
        for emotion, frames in clips.items():
            if emotion == "neutral":
                continue
            for f in frames:
                out[emotion]["clip"].append(np.median(f, axis=0)[None] - neutral)
                out[emotion]["frames"].append(f - neutral)
    return {e: {k: np.concatenate(v) for k, v in d.items()} for e, d in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="open head model assets (.npz)")
    ap.add_argument("--scenes", nargs="+", type=Path, required=True, help="preprocessed scene folders")
    ap.add_argument("--labels", type=Path, required=True, help="labels.json (scene name -> speakers, emotion)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    changes = emotional_changes(args.scenes, json.loads(args.labels.read_text()))
    if not changes:
        print("no speaker with both a neutral and an emotional clip among the scenes", file=sys.stderr)
        return 1
    results: dict[str, dict] = {}
    for path in args.models:
        with np.load(path, allow_pickle=False) as z:
            basis, upper = motion_span({k: z[k] for k in ("v_template", "exprdirs", "J_regressor", "lbs_weights")})
        rows = {}
        for emotion in sorted(changes):
            rows[emotion] = {kind: vars(span_residual(basis, upper, d)) for kind, d in changes[emotion].items()}
        pooled = {kind: np.concatenate([changes[e][kind] for e in changes]) for kind in ("clip", "frames")}
        rows["all"] = {kind: vars(span_residual(basis, upper, d)) for kind, d in pooled.items()}
        results[str(path)] = rows
        print(f"{path}: energy share outside the expression + jaw span (whole / upper / lower face)")
        for emotion, r in rows.items():
            print(f"  {emotion:9s} clip medians {r['clip']['total']:.3f} / {r['clip']['upper']:.3f} / "
                  f"{r['clip']['lower']:.3f}   all frames {r['frames']['total']:.3f} / "
                  f"{r['frames']['upper']:.3f} / {r['frames']['lower']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
