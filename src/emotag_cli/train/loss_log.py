"""The loss log of a training run: one CSV row per step (and TensorBoard scalars when installed).

Columns: step, rank, identity, frame, phase ("static" / "dynamic"), blend, the loss terms of
``motion_step.step_loss`` (loss, render, depth, normal, flame, kl, score, regular; empty when a
step has none), gaussians (count of the identity's Gaussians), lr_net, seconds (wall clock since
the run started, resumed runs continuing the count).
"""

from __future__ import annotations

import csv
from collections import deque
from pathlib import Path
from typing import Any

from ..backends import has_module

COLUMNS = ("step", "rank", "identity", "frame", "phase", "blend", "loss", "render", "depth", "normal", "flame",
           "kl", "score", "regular", "silence", "open", "gaussians", "lr_net", "seconds")


class LossLog:
    def __init__(self, path: Path, resume_step: int | None = None, tensorboard: Path | None = None,
                 recent: int = 100):
        """Open ``path`` for appending; when resuming, rows after ``resume_step`` (written after
        the checkpoint the run resumes from) are dropped first. The loss terms of the last
        ``recent`` steps are kept for ``recent_means``."""
        self.path = Path(path)
        self.recent: deque[dict[str, float]] = deque(maxlen=recent)
        self.offset = 0.0
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            self.offset = float(rows[-1]["seconds"]) if rows else 0.0
            self._rewrite(rows)
        else:
            self._rewrite([])
        self._file = open(self.path, "a", newline="")
        self._writer = csv.DictWriter(self._file, COLUMNS, extrasaction="ignore")
        self._tb = None
        if tensorboard is not None and has_module("tensorboard"):
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(tensorboard))

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        self._writer.writerow(row)
        if self._tb is not None:
            for key in ("loss", "render", "flame", "kl", "score", "depth", "normal"):
                if row.get(key) not in (None, ""):
                    self._tb.add_scalar(f"loss/{key}", float(row[key]), int(row["step"]))

    def write_step(self, terms: dict[str, float], *, step: int, rank: int, identity: str, frame: int,
                   blend: float | None, gaussians: int, lr_net: float, seconds: float) -> None:
        """The row of one training step; ``blend`` None marks a static warm-up step."""
        self.recent.append(terms)
        self.write({"step": step, "rank": rank, "identity": identity, "frame": frame,
                    "phase": "static" if blend is None else "dynamic", "blend": blend or 0.0, **terms,
                    "gaussians": gaussians, "lr_net": lr_net, "seconds": seconds})

    def recent_means(self, keys: tuple[str, ...]) -> dict[str, float]:
        """Mean of each of ``keys`` over the recent steps that logged it (keys none logged are left out)."""
        return {k: float(sum(v) / len(v)) for k in keys if (v := [r[k] for r in self.recent if k in r])}

    def flush(self) -> None:
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def merge_logs(paths: list[Path], out: Path) -> None:
    """Concatenate per-rank logs into one CSV sorted by (step, rank)."""
    rows: list[dict[str, str]] = []
    for p in paths:
        if p.is_file():
            with open(p, newline="") as f:
                rows += list(csv.DictReader(f))
    rows.sort(key=lambda r: (int(r["step"]), int(r["rank"])))
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
