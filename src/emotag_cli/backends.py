"""Optional backends and weight files: where to find them and how to report them.

Each backend module offers a ``status() -> list[BackendStatus]`` function; ``emotag doctor``
collects them. Nothing here imports a heavy package: presence is checked with
``importlib.util.find_spec``, which locates a top-level package without executing it.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BackendStatus:
    """One line of ``emotag doctor``.

    name: short id, e.g. ``"emotion/fer"``.
    available: whether it can be used right now.
    where: the path found, or the places looked.
    hint: what to install or where to put files when it is missing ("" when available).
    """

    name: str
    available: bool
    where: str
    hint: str = ""


def has_module(name: str) -> bool:
    """True when ``import name`` would find a module (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def package_file(package: str, relpath: str) -> Path | None:
    """Path of a data file shipped inside an installed package, without importing the package.

    Some weight packages run code at import time that we do not want (face_recognition_models
    imports pkg_resources, gone from setuptools>=81), so the file is located from the package's
    spec instead.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for root in spec.submodule_search_locations or []:
        path = Path(root) / relpath
        if path.is_file():
            return path
    return None


def cache_dir() -> Path:
    """emotag's per-user folder for user-supplied assets (``$EMOTAG_HOME`` or ~/.cache/emotag)."""
    return Path(os.environ.get("EMOTAG_HOME", Path.home() / ".cache" / "emotag"))
