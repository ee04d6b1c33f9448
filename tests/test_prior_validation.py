"""scripts/prior_validation.py: the speaker split holds out whole speakers, and a 2-step run trains
on the others and scores the held-out scene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from prior_validation import split  # noqa: E402


def test_the_split_holds_out_every_nth_speaker_with_all_its_scenes():
    scenes = [Path(f"/x/{n}") for n in ("a1", "a2", "b1", "c1", "d1", "e1")]
    labels = {"a1": {"speakers": ["A"]}, "a2": {"speakers": ["A"]}, "b1": {"speakers": ["B"]},
              "c1": {"speakers": ["C"]}, "d1": {"speakers": ["D"]}}            # e1: unlabelled, its own speaker
    train, held, speakers = split(scenes, labels, every=2, offset=0)
    assert speakers == ["A", "C", "e1"]                                          # sorted A B C D e1: 0, 2, 4
    assert [s.name for s in held] == ["a1", "a2", "c1", "e1"] and [s.name for s in train] == ["b1", "d1"]
    assert split(scenes, labels, every=2, offset=1)[2] == ["B", "D"]


def test_a_two_step_run_trains_on_one_speaker_and_scores_the_other(scenes, tmp_path):
    out = tmp_path / "validation.json"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "prior_validation.py"), *map(str, scenes),
                           "--every", "2", "--offset", "1", "--iterations", "2", "--batch", "2", "--stretch", "4",
                           "--work", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    names = sorted(s.name for s in scenes)
    assert report["train"] == [names[0]] and [r["scene"] for r in report["rows"]] == [names[1]]
    assert -1.0 <= report["rows"][0]["prior_2"] <= 1.0 and np.isfinite(report["means"]["prior_2"])
    assert (tmp_path / "work" / "prior_2" / "manifest.json").is_file()
