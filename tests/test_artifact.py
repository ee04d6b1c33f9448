"""Manifests and atomic folder writes."""

from __future__ import annotations

import json

import pytest

from emotag_cli import __version__
from emotag_cli.artifact import atomic_folder, new_manifest, read_manifest, write_manifest
from emotag_cli.config import PreprocessConfig, from_dict, to_dict
from emotag_cli.errors import EmotagError


def test_atomic_folder_publishes_only_on_success(tmp_path):
    target = tmp_path / "scene"
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []          # no temporary folder left behind
    with atomic_folder(target) as tmp:
        (tmp / "done.txt").write_text("ok")
    assert (target / "done.txt").read_text() == "ok"


def test_atomic_folder_refuses_existing_unless_overwrite(tmp_path):
    target = tmp_path / "scene"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(EmotagError, match="--overwrite"):
        with atomic_folder(target):
            pass
    # A failed overwrite keeps the old folder intact.
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(target, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert (target / "old.txt").read_text() == "old" and not (target / "new.txt").exists()
    with atomic_folder(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]


def test_manifest_kind_and_version_are_checked(tmp_path):
    write_manifest(tmp_path, new_manifest("scene", 1, {"size": 256}))
    assert read_manifest(tmp_path, "scene", 1)["config"] == {"size": 256}
    with pytest.raises(EmotagError, match="not a prior"):
        read_manifest(tmp_path, "prior", 1)
    with pytest.raises(EmotagError, match=f"schema version 1 .*emotag {__version__}"):
        read_manifest(tmp_path, "scene", 2)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(EmotagError, match="corrupt"):
        read_manifest(tmp_path, "scene", 1)
    with pytest.raises(EmotagError, match="no manifest.json"):
        read_manifest(tmp_path / "..", "scene", 1)


def test_config_round_trips_through_json_and_refuses_unknown_keys():
    cfg = PreprocessConfig(size=256, crop="smooth", audio_encoder="wav2vec2", audio_encoder_path="/m")
    back = from_dict(PreprocessConfig, json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg
    with pytest.raises(EmotagError, match="unknown settings"):
        from_dict(PreprocessConfig, {**to_dict(cfg), "exec": "rm -rf /"})


@pytest.mark.parametrize("field,value,msg", [("size", 10, "--size"), ("crop", "wobbly", "--crop"),
                                             ("au_source", "openface", "--openface-csv"),
                                             ("emotion_model", "x", "--emotion-model")])
def test_config_validation_messages(field, value, msg):
    with pytest.raises(EmotagError, match=msg):
        PreprocessConfig(**{field: value}).validate()
