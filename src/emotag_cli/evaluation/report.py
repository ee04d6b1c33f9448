"""The evaluation report: one record per metric, as a dict (JSON) or a rich table.

Every metric is always present: either with a value, or with ``value: null`` and the reason it is
unavailable. ``frames_scored`` / ``frames_unscored`` say how many of the frames the metric covers
it could (not) measure, e.g. frames where no face was found.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

SCHEMA = "emotag-eval/1"


@dataclass
class Metric:
    """key: stable JSON key; label: table name; better: "higher", "lower" or "" (informative only);
    source: what measured it; details: extra numbers (per-AU errors, offsets, distributions)."""

    key: str
    label: str
    unit: str = ""
    better: str = ""
    value: float | None = None
    frames_scored: int = 0
    frames_unscored: int = 0
    source: str = ""
    unavailable: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def missing(self, reason: str) -> Metric:
        """Mark unavailable (value None) with a one-line reason."""
        self.value, self.unavailable = None, reason
        return self


@dataclass
class Report:
    video: str
    reference: str | None
    reference_kind: str | None
    frame_size: tuple[int, int]
    frames: dict[str, int]
    metrics: list[Metric]
    notes: list[str] = field(default_factory=list)
    fps: float = 25.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "video": self.video,
            "reference": self.reference,
            "reference_kind": self.reference_kind,
            "fps": self.fps,
            "frame_size": list(self.frame_size),
            "frames": dict(self.frames),
            "notes": list(self.notes),
            "metrics": {m.key: {k: v for k, v in asdict(m).items() if k != "key"} for m in self.metrics},
        }


def _json_safe(x: Any) -> Any:
    """Non-finite floats become the strings "inf", "-inf", "nan" (strict JSON has no such numbers)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(_json_safe(report), indent=2, allow_nan=False)


_DIGITS = {"dB": 2, "%": 1, "px": 3}


def format_value(metric: dict[str, Any]) -> str:
    value = metric["value"]
    if value is None:
        return "unavailable"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    unit = metric["unit"]
    if unit == "%":
        return f"{100 * value:.1f} %"
    digits = _DIGITS.get(unit, 4 if abs(value) < 10 else 2)
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def render_table(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the report as a table (one row per metric), then why each unavailable metric is
    missing (each reason once, numbered) and the report's notes."""
    console = console or Console()
    frames = report["frames"]
    title = f"emotag eval: {report['video']}"
    if report["reference"]:
        title += f" vs {report['reference']}"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("", justify="center")
    table.add_column("frames scored / not", justify="right")
    table.add_column("source", overflow="fold")
    reasons: list[str] = []
    for m in report["metrics"].values():
        arrow = {"higher": "↑", "lower": "↓"}.get(m["better"], "")
        if m["value"] is None:
            if m["unavailable"] not in reasons:
                reasons.append(m["unavailable"])
            ref = f"see [{reasons.index(m['unavailable']) + 1}]"
            table.add_row(escape(m["label"]), "unavailable", arrow, "-", escape(ref), style="dim")
        else:
            table.add_row(escape(m["label"]), format_value(m), arrow,
                          f"{m['frames_scored']} / {m['frames_unscored']}", escape(m["source"]))
    console.print(table)
    for k, reason in enumerate(reasons, 1):
        console.print(f"[{k}] {escape(reason)}", highlight=False)
    console.print(f"frames: video {frames['video']}, evaluated {frames['evaluated']}, reference "
                  f"{frames.get('reference', '-')}, compared {frames['compared']} "
                  f"(25 fps, {report['frame_size'][0]}x{report['frame_size'][1]})", highlight=False)
    for note in report["notes"]:
        console.print(f"note: {escape(note)}", highlight=False)
