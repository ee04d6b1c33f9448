"""Build emotion directions from tracked, labelled scenes.

    python scripts/build_emotion_directions.py SCENE [SCENE ...] --labels labels.json [-o OUT.json]

Each SCENE is tracked (`emotag track`), all with the same head model, and labelled in labels.json
(scene name -> {"emotion": angry|disgust|fear|happy|sad|surprise|neutral, "speakers": [...],
"source", "license", ...}; scripts/corpus_inputs.py writes one for the corpus). Scenes without an
emotion label are skipped. The default output replaces the shipped file,
src/emotag_cli/assets/emotion_directions.json, which must go with the shipped open head model;
for FLAME (or your own build of the open model) write your own file and give it to
`emotag pretrain --emotion-directions FILE`. Method: head/emotion_estimate.py and
docs/reference/emotion-and-identity.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from emotag_cli.config import TrackConfig, from_dict
from emotag_cli.errors import EmotagError
from emotag_cli.head.emotion_directions import save_emotion_directions, shipped_directions_path
from emotag_cli.head.emotion_estimate import (
    EstimateSettings,
    estimate_directions,
    lip_opening_gradient,
    load_labelled_clip,
)
from emotag_cli.track import open_track
from emotag_cli.track.pipeline import load_head_model


def main(argv: list[str] | None = None) -> int:
    defaults = EstimateSettings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="+", type=Path, help="tracked scene folders")
    ap.add_argument("--labels", type=Path, required=True, help="labels.json: scene name -> emotion, speakers, source")
    ap.add_argument("-o", "--out", type=Path, default=shipped_directions_path(), help="output .json")
    ap.add_argument("--frame-fraction", type=float, default=defaults.frame_fraction,
                    help="share of each emotional clip's frames (most that emotion per the teacher) used")
    ap.add_argument("--keep-opening", type=float, default=defaults.keep_opening,
                    help="share of the inner-lip opening part kept in each direction (0: none)")
    args = ap.parse_args(argv)
    try:
        labels = json.loads(args.labels.read_text())
        scenes = [s for s in args.scenes if (labels.get(s.name) or {}).get("emotion")]
        if not scenes:
            raise EmotagError("none of the scenes has an emotion label in " + str(args.labels))
        records = {str(open_track(s).manifest["head_model"]["id"]): open_track(s) for s in scenes}
        if len(records) > 1:
            raise EmotagError(f"the scenes were tracked with different head models: {', '.join(records)}")
        track = next(iter(records.values()))
        head = track.manifest["head_model"]
        sha = head.get("source", {}).get("sha256")
        for s in scenes:
            other = open_track(s).manifest["head_model"].get("source", {}).get("sha256")
            if other != sha:
                raise EmotagError(f"{s} was tracked with another build of head model {head['id']}; re-track it")
        model = load_head_model(from_dict(TrackConfig, track.manifest["config"]))
        clips = [load_labelled_clip(s, labels[s.name]) for s in scenes]
        settings = dataclasses.replace(defaults, frame_fraction=args.frame_fraction, keep_opening=args.keep_opening)
        opening = lip_opening_gradient(model, clips[0].motion.shape[1] - settings.n_jaw, settings.n_jaw)
        directions = estimate_directions(clips, opening, str(head["id"]), sha, settings)
        save_emotion_directions(args.out, directions)
    except EmotagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {directions.name}, from {len(clips)} labelled clips")
    for e, m, n in zip(directions.emotions, directions.magnitude, directions.provenance["speakers"].values()):
        top = np.argsort(-np.abs(directions.directions[directions.index(e)]))[:3]
        print(f"  {e:9s} magnitude {m:.2f} from {n} speaker(s); largest coefficients {top.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
