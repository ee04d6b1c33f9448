"""Choose a motion prior's schedule on held-out corpus speakers, not on the speakers it is measured on.

    python scripts/prior_validation.py SCENE ... [--labels labels.json] [--every 6] [--offset 3]
        [--iterations 1200 3000] [--work build/prior_validation] [--json OUT]

Each SCENE is a corpus scene as scripts/build_prior.py leaves them (scenes without audio or a
track are skipped). Speakers (labels.json's "speakers" of each scene, else each scene its own speaker)
are sorted, and every --every-th from --offset is held out with all its scenes. For each
--iterations a motion prior is trained on the other speakers' scenes (`emotag pretrain --stage
motion` with build_prior.py's batch and stretch) and scored on every held-out scene: Pearson r of
the prior's mesh inner-lip gap and the tracked one over the whole clip (lip_sync_report.py's
figure, no adaptation), beside the untrained phones → opening track. Prints one row per held-out
scene and the means; --json writes them. A prior already in --work (prior_N) is reused.
docs/models/prior.md#levers has the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def split(scenes: list[Path], labels: dict, every: int, offset: int) -> tuple[list[Path], list[Path], list[str]]:
    """(training scenes, held-out scenes, held-out speakers): every ``every``-th sorted speaker
    from ``offset`` is held out."""
    speaker = {s: "|".join(labels.get(s.name, {}).get("speakers") or [s.name]) for s in scenes}
    held = [sp for i, sp in enumerate(sorted(set(speaker.values()))) if i % every == offset % every]
    return ([s for s in scenes if speaker[s] not in held], [s for s in scenes if speaker[s] in held], held)


def held_out_figures(prior_path: Path, scene_path: Path) -> float:
    """Whole-clip r of the prior's mesh inner-lip gap and the tracked one on ``scene_path``."""
    from lip_sync_report import MotionClip, MouthGauge, Prior, Scene, lip_figures, open_track

    from emotag_cli.head.registry import head_model_of

    scene = Scene.open(scene_path)
    model = head_model_of(open_track(scene.path).manifest["config"])
    prior = Prior.open(prior_path)
    clip = MotionClip.load(scene, model, MouthGauge(model), prior.motion_config().n_expr, scene.path.name)
    figures = lip_figures(prior.motion_model().eval(), scene, clip, model, np.arange(scene.n_frames), False)
    return figures["opening_corr"]


def phones_figure(scene_path: Path) -> float:
    """Whole-clip r of the untrained phones → opening track and the tracked inner-lip gap."""
    from lip_sync_report import Scene, inner_lip_gap, lip_landmarks, open_track, pearson, phones_opening

    from emotag_cli.head.registry import head_model_of

    scene = Scene.open(scene_path)
    _, lip_mp = lip_landmarks(head_model_of(open_track(scene.path).manifest["config"]))
    target = np.array([inner_lip_gap(scene.landmarks[i, lip_mp, :2], lip_mp) for i in range(scene.n_frames)])
    return pearson(phones_opening(scene.audio(), scene.fps)[:scene.n_frames], target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", type=Path, nargs="+")
    parser.add_argument("--labels", type=Path, default=None, help="labels.json of scripts/corpus_inputs.py")
    parser.add_argument("--every", type=int, default=6)
    parser.add_argument("--offset", type=int, default=3)
    parser.add_argument("--iterations", type=int, nargs="+", default=[1200, 3000])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--stretch", type=int, default=24)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "prior_validation")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "scripts"))
    from build_prior import emotag, with_audio

    labels = json.loads(args.labels.read_text()) if args.labels else {}
    scenes = [s for s in with_audio(sorted(args.scenes)) if (s / "track" / "params.npz").is_file()]
    train, held, speakers = split(scenes, labels, args.every, args.offset)
    if not train or not held:
        sys.exit(f"prior_validation: {len(train)} training and {len(held)} held-out scenes; "
                 "give more speakers or another --every")
    print(f"held out: {len(held)} scenes of {len(speakers)} speakers ({', '.join(speakers)}); "
          f"training on {len(train)} scenes", flush=True)
    priors = {}
    for n in args.iterations:
        priors[n] = args.work / f"prior_{n}"
        if (priors[n] / "manifest.json").is_file():            # trained by an earlier run: kept
            continue
        emotag("pretrain", *map(str, train), "-o", str(priors[n]), "--stage", "motion", "--motion-iterations",
               str(n), "--batch", str(args.batch), "--stretch", str(args.stretch), "--overwrite")
    rows = []
    for s in held:
        row = {"scene": s.name, "phones": phones_figure(s),
               **{f"prior_{n}": held_out_figures(p, s) for n, p in priors.items()}}
        rows.append(row)
        print(" | ".join([s.name[-40:]] + [f"{k} {v:.3f}" for k, v in row.items() if k != "scene"]), flush=True)
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "scene"}
    print(" | ".join(["mean"] + [f"{k} {v:.3f}" for k, v in means.items()]))
    if args.json:
        args.json.write_text(json.dumps({"held_speakers": speakers, "train": [s.name for s in train],
                                         "rows": rows, "means": means}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
