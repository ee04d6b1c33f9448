"""Corpus mode of `emotag preprocess` and `emotag track`: `--shard K/N`, skipping finished items,
and one bad video not stopping the others. End to end through the CLI on real frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emotag_cli.corpus import Shard, scene_names
from emotag_cli.errors import EmotagError
from emotag_cli.scene import Scene
from emotag_cli.track.result import open_track

from _media import real_frames, write_video
from conftest import real_video


def cli(*args):
    return subprocess.run([sys.executable, "-m", "emotag_cli.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("text,expected", [("1/1", (1, 1)), ("3/8", (3, 8)), (" 2 / 4 ", (2, 4))])
def test_shard_parses(text, expected):
    shard = Shard.parse(text)
    assert (shard.index, shard.count) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0", "-1/2", "1/2/3"])
def test_bad_shard_is_refused(text):
    with pytest.raises(EmotagError, match="--shard"):
        Shard.parse(text)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_partition_the_corpus_whatever_the_order(n):
    items = [f"v{i:02d}.mp4" for i in range(17)]
    shards = [Shard(k, n).select(items) for k in range(1, n + 1)]
    shuffled = [Shard(k, n).select(items[::-1]) for k in range(1, n + 1)]
    assert shards == shuffled                                   # sorted first: the input order does not matter
    assert sorted(x for s in shards for x in s) == items        # every item in exactly one shard
    assert max(map(len, shards)) - min(map(len, shards)) <= 1   # balanced


def test_two_videos_with_one_name_are_refused():
    with pytest.raises(EmotagError, match="would both be written"):
        scene_names([Path("a/talk.mp4"), Path("b/talk.mp4")])


@pytest.mark.real
def test_sharded_preprocess_and_track_of_a_folder(tmp_path):
    frames = real_frames(real_video("real3dportrait_May_5s.mp4"), 8, size=160)
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", frames)
    write_video(videos / "c.mp4", frames[::-1])
    (videos / "b.mp4").write_bytes(b"")                        # a broken file in the middle of the corpus
    (videos / "notes.txt").write_text("not a video")
    out = tmp_path / "scenes"
    common = ["-o", out, "--size", 96]

    first = cli("preprocess", videos, *common, "--shard", "1/2")     # sorted a, b, c: shard 1 = a and c
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [str(out / "a"), str(out / "c")]
    assert "shard 1/2: 2 videos done, 0 already complete, 0 failed" in first.stderr
    second = cli("preprocess", videos, *common, "--shard", "2/2")
    assert second.returncode == 2
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith("emotag: error: 1 of 1 videos failed in shard 2/2 (first: b:")
    assert sorted(p.name for p in out.iterdir()) == ["a", "c"]    # nothing half-made of b
    Scene.open(out / "a")
    Scene.open(out / "c")

    again = cli("preprocess", videos / "a.mp4", videos / "c.mp4", *common)
    assert again.returncode == 0 and again.stdout == ""
    assert "2 already complete" in again.stderr

    track = ["--iters", 3, "--rigid-iters", 2, "--overlay", "none"]
    tracked = cli("track", out / "a", out / "c", *track)
    assert tracked.returncode == 0, tracked.stderr
    assert tracked.stdout.split() == [str(out / "a" / "track"), str(out / "c" / "track")]
    open_track(out / "a")
    open_track(out / "c")
    skipped = cli("track", out / "a", out / "c", "--shard", "2/2", *track)
    assert skipped.returncode == 0 and "shard 2/2: 0 scenes done, 1 already complete" in skipped.stderr
    (tmp_path / "file").write_text("")
    onto_file = cli("preprocess", videos, "-o", tmp_path / "file")
    assert onto_file.returncode == 2 and "is a file; corpus mode writes a folder" in onto_file.stderr
    vhap = cli("track", out / "a", out / "c", "--from-vhap", tmp_path)
    assert vhap.returncode == 2 and "exactly one SCENE" in vhap.stderr
