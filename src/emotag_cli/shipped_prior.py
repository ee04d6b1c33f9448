"""The motion prior that ships inside the package (``emotag_cli/assets/prior/``).

``emotag adapt`` uses it when no ``--prior`` is given; ``emotag doctor`` lists it. It is an
ordinary prior folder (prior.py) holding only the EMA weights, stored as float16 (about half the
size; ``Prior.state_dict`` returns float32). ``scripts/build_prior.py`` rebuilds it from the
corpus and writes it with ``export_shipped``; docs/models/prior.md is its model card.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch

from .artifact import MANIFEST, atomic_folder, write_manifest
from .backends import BackendStatus
from .errors import EmotagError
from .motion.control import EMOTIONS
from .prior import Prior

SHIPPED = Path(__file__).resolve().parent / "assets" / "prior"
MAX_MB = 10.0


def shipped_prior() -> Path | None:
    """The packaged prior's folder, or None when this copy of emotag has none."""
    return SHIPPED if (SHIPPED / MANIFEST).is_file() else None


def default_prior(given: Path | None) -> Path:
    """``given``, else the packaged prior; a clear error when there is neither."""
    if given is not None:
        return given
    path = shipped_prior()
    if path is None:
        raise EmotagError("no --prior given and this emotag ships none: make one with `emotag pretrain` "
                          "(or `make prior`) and pass --prior PRIOR")
    return path


ANCHOR_SCALES = "decoder.anchor.log_scale"     # log s_k of the anchored emotion residual, [7]


def export_shipped(source: Path | str, target: Path | str = SHIPPED, card: dict[str, Any] | None = None,
                   emotion_gains: dict[str, float] | None = None) -> Path:
    """Write ``source``'s EMA weights as float16 with its manifest (plus ``card``: how it was
    made, its numbers) into ``target``, atomically; refuses a result over ``MAX_MB``.

    emotion_gains: per emotion class, a factor for the anchored residual's scale s_k (the size of
    a full request's change along the class's direction), measured on renders by
    ``scripts/calibrate_emotion_gains.py``; recorded in the manifest (``shipped.emotion_gains``)."""
    prior = Prior.open(source)
    weights = prior.state_dict(ema=True)
    if emotion_gains:
        if ANCHOR_SCALES not in weights:
            raise EmotagError(f"{source}: emotion gains given, but the prior has no anchored emotion residual")
        scales = weights[ANCHOR_SCALES].clone()
        for name, gain in emotion_gains.items():
            if name not in EMOTIONS or name == "neutral" or not gain > 0:
                raise EmotagError(f"emotion gain {name}={gain}: expected a positive factor for one of "
                                  f"{', '.join(e for e in EMOTIONS if e != 'neutral')}")
            scales[EMOTIONS.index(name)] += math.log(gain)
        weights[ANCHOR_SCALES] = scales
    state = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    manifest = dict(prior.manifest)
    manifest["shipped"] = {"dtype": "float16", "source": str(Path(source).absolute()), **(card or {})}
    if emotion_gains:
        manifest["shipped"]["emotion_gains"] = dict(emotion_gains)
    with atomic_folder(Path(target), overwrite=True) as tmp:
        torch.save(state, tmp / "grmn_ema.pt")
        if (Path(source) / "losses.csv").is_file():
            shutil.copyfile(Path(source) / "losses.csv", tmp / "losses.csv")
        write_manifest(tmp, manifest)
        size = sum(p.stat().st_size for p in tmp.iterdir()) / 2**20
        if size > MAX_MB:
            raise EmotagError(f"the exported prior takes {size:.1f} MB, more than {MAX_MB:g} MB: use a smaller "
                              f"motion network (e.g. a smaller mouth_log2_table)")
    Prior.open(target).motion_model()                              # loads back
    return Path(target)


def status() -> list[BackendStatus]:
    """The packaged prior for ``emotag doctor``."""
    path = shipped_prior()
    if path is None:
        return [BackendStatus("prior/shipped", False, str(SHIPPED),
                              "none packaged: `make prior` builds it from ../shared/data/corpus")]
    m = json.loads((path / MANIFEST).read_text())
    size = sum(p.stat().st_size for p in path.iterdir()) / 2**20
    what = (f"{path} ({size:.1f} MB): audio {m['audio']['encoder']}, head model {m['head_model']['id']}, "
            f"{len(m.get('scenes', []))} training scenes, {m.get('steps')} steps")
    return [BackendStatus("prior/shipped", True, what, "")]
