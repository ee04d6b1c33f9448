"""The prior that ships: float16 export, size limit, the package's copy, adapt's default, doctor."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from emotag_cli.config import MotionPretrainConfig
from emotag_cli.errors import EmotagError
from emotag_cli.prior import Prior
from emotag_cli.progress import quiet
from emotag_cli.shipped_prior import MAX_MB, default_prior, export_shipped, shipped_prior
from emotag_cli.train.motion_pretrain import pretrain_motion

from _avatars import TINY_MOTION
from conftest import REPO


def test_export_keeps_the_weights_in_float16_and_only_the_ema(scenes, tmp_path):
    source = pretrain_motion(scenes, ["a", "b"], tmp_path / "prior",
                             MotionPretrainConfig(iterations=2, motion=TINY_MOTION, batch=2, stretch=8),
                             reporter=quiet())
    out = export_shipped(source, tmp_path / "shipped", {"clips": [{"scene": "a"}]})
    assert sorted(p.name for p in out.iterdir()) == ["grmn_ema.pt", "losses.csv", "manifest.json"]
    stored = torch.load(out / "grmn_ema.pt", weights_only=True)
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    shipped, original = Prior.open(out), Prior.open(source)
    assert shipped.manifest["shipped"]["clips"] == [{"scene": "a"}] and shipped.signature == original.signature
    a, b = shipped.state_dict(), original.state_dict()
    assert all(a[k].dtype == torch.float32 and torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-4) for k in a)
    with pytest.raises(EmotagError, match="holds only its EMA weights"):
        shipped.state_dict(ema=False)
    assert default_prior(source) == source


@pytest.mark.skipif(shipped_prior() is None, reason="this copy ships no prior")
def test_the_package_prior_is_small_listed_and_loads():
    path = shipped_prior()
    assert sum(p.stat().st_size for p in path.iterdir()) / 2**20 <= MAX_MB
    prior = Prior.open(path)
    prior.motion_model()
    assert prior.manifest["shipped"]["dtype"] == "float16" and prior.manifest["shipped"].get("clips")
    assert default_prior(None) == path
    doctor = subprocess.run([sys.executable, "-m", "emotag_cli.cli", "doctor"], capture_output=True, text=True,
                            timeout=300, env={"PYTHONPATH": str(REPO / "src"), "COLUMNS": "200",
                                              "PATH": "/usr/bin:/bin"})
    line = next(x for x in doctor.stdout.splitlines() if "prior/shipped" in x)
    assert " ok " in line and prior.signature.audio_encoder in line
