"""``emotag doctor`` lines for the optional parts of ``emotag eval``."""

from __future__ import annotations

from ..backends import BackendStatus
from . import landmarks68, lpips, sync


def status() -> list[BackendStatus]:
    """68-point landmarks (LMD), LPIPS weights, SyncNet weights; nothing is loaded."""
    return [landmarks68.status(), lpips.status(), sync.syncnet_status()]
