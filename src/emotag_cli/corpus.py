"""Corpus mode of ``emotag preprocess`` and ``emotag track``: many inputs, one shard per process.

A cluster job array (or a shell loop) splits a corpus with ``--shard K/N``: the inputs, sorted by
path, are dealt round-robin and shard K (1-based) takes items K−1, K−1+N, K−1+2N, … — so every
input belongs to exactly one shard, whatever N is, and shards stay balanced. Each item is done on
its own: a bad video is reported on one line and the shard goes on with the next one; items whose
output is already complete are skipped, so a re-run of a shard (after a pre-emption or a fix)
does only what is missing. The outputs are written atomically by the stages themselves, so an
interrupted item leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from . import interrupt
from .errors import EmotagError

T = TypeVar("T")

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """``"K/N"`` with 1 ≤ K ≤ N; None is the whole corpus (1/1)."""
        if text is None:
            return cls()
        match = _SHARD.match(text)
        if not match:
            raise EmotagError(f"--shard must look like K/N (e.g. 3/8), got {text!r}")
        k, n = int(match.group(1)), int(match.group(2))
        if not 1 <= k <= n:
            raise EmotagError(f"--shard {text}: K must be between 1 and N")
        return cls(k, n)

    def select(self, items: Sequence[T], key: Callable[[T], str] = str) -> list[T]:
        """This shard's items of ``items`` after sorting them by ``key``."""
        ordered = sorted(items, key=key)
        return ordered[self.index - 1::self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def scene_names(videos: Sequence[Path]) -> dict[Path, str]:
    """Scene folder name per video (its file stem); refuses two videos that would share a name."""
    names: dict[str, Path] = {}
    for video in videos:
        other = names.setdefault(video.stem, video)
        if other != video:
            raise EmotagError(f"{other} and {video} would both be written to the scene {video.stem!r}; "
                              "rename one of them")
    return {v: n for n, v in names.items()}


@dataclass
class CorpusResult:
    """What one shard did: items done, skipped (already complete) and failed (with their errors)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self, shard: Shard, noun: str) -> str:
        return (f"shard {shard}: {len(self.done)} {noun} done, {len(self.skipped)} already complete, "
                f"{len(self.failed)} failed")


def run_items(items: Sequence[T], label: Callable[[T], str], complete: Callable[[T], bool],
              work: Callable[[T], object], say: Callable[[str], None]) -> CorpusResult:
    """Run ``work`` on every item not yet ``complete``; one bad item does not stop the others.

    Only user-facing errors (EmotagError) are caught and recorded; a crash or Ctrl-C stops the
    shard, since it says something is wrong beyond one input.
    """
    result = CorpusResult()
    for i, item in enumerate(items, 1):
        name = label(item)
        if complete(item):
            result.skipped.append(name)
            say(f"[{i}/{len(items)}] {name}: already complete, skipped")
            continue
        try:
            work(item)
        except KeyboardInterrupt:
            if result.done:
                interrupt.keep(f"{len(result.done)} finished item(s) kept: run the same command again to continue "
                               f"(they are skipped)")
            raise
        except EmotagError as exc:
            result.failed[name] = str(exc)
            say(f"[{i}/{len(items)}] {name}: failed: {exc}")
            continue
        result.done.append(name)
        say(f"[{i}/{len(items)}] {name}: done")
    return result


VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")


def expand_videos(inputs: Sequence[Path]) -> list[Path]:
    """The input videos: files as given, folders replaced by the video files directly inside them."""
    videos: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise EmotagError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in {path}")
            videos.extend(found)
        elif path.exists():
            videos.append(path)
        else:
            raise EmotagError(f"input not found: {path}")
    return videos


def _finish(result: CorpusResult, shard: Shard, noun: str) -> None:
    from .progress import stderr

    stderr.print(result.summary(shard, noun), highlight=False)
    if result.failed:
        first = next(iter(result.failed.items()))
        raise EmotagError(f"{len(result.failed)} of {len(result.failed) + len(result.done)} {noun} failed in shard "
                          f"{shard} (first: {first[0]}: {first[1]})")


def preprocess_corpus(inputs: Sequence[Path], out: Path, shard: Shard, run: Callable[[Path, Path], object],
                      overwrite: bool = False) -> CorpusResult:
    """Corpus mode of ``emotag preprocess``: shard ``shard`` of the videos in ``inputs`` into
    ``out/<video stem>``, ``run(video, scene_folder)`` per video. Prints each finished scene's path
    on stdout; raises (after doing every video) when any failed."""
    import typer

    from .progress import stderr
    from .scene import Scene

    videos = expand_videos(inputs)
    names = scene_names(videos)
    mine = shard.select(videos, key=lambda v: str(v))

    def complete(video: Path) -> bool:
        if overwrite or not (out / names[video]).exists():
            return False
        try:
            Scene.open(out / names[video])
        except EmotagError:
            return False                           # another version or damaged: run() says what to do
        return True

    def work(video: Path) -> None:
        run(video, out / names[video])
        typer.echo(str(out / names[video]))

    if out.exists() and not out.is_dir():
        raise EmotagError(f"{out} is a file; corpus mode writes a folder of scenes there")
    out.mkdir(parents=True, exist_ok=True)
    result = run_items(mine, lambda v: names[v], complete, work, lambda m: stderr.print(m, highlight=False))
    _finish(result, shard, "videos")
    return result


def track_corpus(scenes: Sequence[Path], shard: Shard, run: Callable[[Path], object],
                 overwrite: bool = False) -> CorpusResult:
    """Corpus mode of ``emotag track``: ``run(scene)`` on shard ``shard`` of ``scenes``, skipping
    scenes with a valid track. Prints each new track's path; raises at the end when any failed."""
    import typer

    from .progress import stderr
    from .track.result import open_track, track_path

    def complete(scene: Path) -> bool:
        if overwrite or not track_path(scene).exists():
            return False
        try:
            open_track(scene)
        except EmotagError:
            return False
        return True

    def work(scene: Path) -> None:
        typer.echo(str(run(scene)))

    mine = shard.select(list(scenes), key=lambda p: str(p))
    result = run_items(mine, lambda p: p.name, complete, work, lambda m: stderr.print(m, highlight=False))
    _finish(result, shard, "scenes")
    return result
