"""Build emotag's open head model from preprocessed scenes.

    python scripts/build_open_head_model.py SCENE [SCENE ...] [-o OUT.npz] [--labels labels.json]

Each SCENE is a folder made by `emotag preprocess` (its landmarks.npy is what is learned from;
manifest.json, when present, names the input video and its sha256 for the provenance record;
--labels, the corpus's labels.json from scripts/corpus_inputs.py, adds each corpus clip's source,
licence, dataset terms, speakers and emotion to it).
The default output replaces the shipped asset, src/emotag_cli/assets/open_head_model.npz.
See docs/reference/head-models.md for what the model is and how it is built.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from emotag_cli.head.builder.assemble import BuildSettings, build_open_model, save_asset

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "emotag_cli" / "assets" / "open_head_model.npz"


def main(argv: list[str] | None = None) -> int:
    defaults = BuildSettings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="+", type=Path, help="scene folders made by `emotag preprocess`")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help=f"output .npz (default: {DEFAULT_OUT})")
    ap.add_argument("--n-expr", type=int, default=defaults.n_expr, help="expression components")
    ap.add_argument("--n-shape-pca", type=int, default=defaults.n_shape_pca,
                    help="learned identity components (after the 3 scalings)")
    ap.add_argument("--neutral-fraction", type=float, default=defaults.neutral_fraction,
                    help="share of most closed-mouth frames whose median is a subject's neutral")
    ap.add_argument("--no-mirror", action="store_true", help="do not add left-right mirrored samples")
    ap.add_argument("--labels", type=Path, help="labels.json (scene name -> source, licence, emotion) for provenance")
    ap.add_argument("--float32", action="store_true", help="store every array as float32 (default: bases float16)")
    args = ap.parse_args(argv)

    settings = dataclasses.replace(defaults, n_expr=args.n_expr, n_shape_pca=args.n_shape_pca,
                                   neutral_fraction=args.neutral_fraction, mirror=not args.no_mirror)
    labels = json.loads(args.labels.read_text()) if args.labels else None
    model = build_open_model(args.scenes, settings, labels=labels)
    save_asset(args.out, model, half=not args.float32)
    prov = model["provenance"]
    cum = prov["expression"]["cumulative"]
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {prov['counts']['vertices']} vertices, "
          f"{prov['counts']['faces']} triangles, {prov['shape']['components']} shape and "
          f"{prov['expression']['components']} expression components")
    print("expression variance explained by the first 1/5/10/20/50 components: "
          + " / ".join(f"{100 * cum[k]:.1f}%" for k in ("1", "5", "10", "20", "50"))
          + f"; the jaw explains {100 * prov['expression']['jaw_share_of_nonrigid_energy']:.1f}% "
          "of the non-rigid motion before them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
