"""Checkpoints that resume a training run exactly, and a clean stop on Ctrl-C.

Layout of ``<out>.ckpt/`` (beside the artifact a run will publish)::

    run.json                what the run is (stage, config, inputs, world size): --resume refuses
                            a checkpoint made by another run
    latest                  the step of the newest complete checkpoint (written last, atomically)
    step-00001000/
        shared.pt           rank 0: motion network, EMA, optimiser, LR scheduler, step
        rank-0.pt …         each rank: its identities' Gaussians, their Adam moments, densification
                            statistics and step counts, and the rank's random-number states
    losses-rank-0.csv …     the loss log (rows past the resumed step are dropped on resume)

Every file is a ``torch.save`` of plain containers of tensors and numbers, read back with
``weights_only=True``. A checkpoint is written into ``step-N.partial`` and renamed when every rank
has written its part, so a run killed while saving still has the previous one. Ranks write their
own shards (only a rank holds its identities' Gaussians), so resuming a multi-node run needs the
checkpoint folder on a shared filesystem.

Stopping: ``StopRequest`` turns SIGINT / SIGTERM into a flag the loop reads between steps, so the
checkpoint taken on Ctrl-C holds a finished step (a second Ctrl-C interrupts at once). A killed
process loses the steps since the last checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import interrupt
from ..errors import EmotagError
from .distributed import DistEnv

SUFFIX = ".ckpt"


def checkpoint_dir(out: Path) -> Path:
    out = Path(out).absolute()
    return out.parent / (out.name + SUFFIX)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _normal(data: Any) -> Any:
    """JSON round trip, so that tuples and lists compare equal."""
    return json.loads(json.dumps(data))


class Checkpoints:
    """The checkpoint folder of one run, seen from one rank."""

    def __init__(self, path: Path, env: DistEnv):
        self.path, self.env = Path(path), env

    def latest(self) -> int | None:
        marker = self.path / "latest"
        return int(marker.read_text().strip()) if marker.is_file() else None

    def start(self, run: dict[str, Any], resume: bool) -> int | None:
        """Prepare the folder for a new run, or check it belongs to ``run`` when resuming.
        Returns the step to resume from (None for a fresh run)."""
        run = _normal({**run, "world_size": self.env.world_size})
        step = self.latest() if self.path.exists() else None
        if not resume:
            if step is not None:
                raise EmotagError(f"{self.path} holds the checkpoints of an unfinished run: pass --resume to continue "
                                  f"it, or delete the folder to start again")
            self.env.barrier()
            if self.env.main:                      # a run that stopped before its first checkpoint
                shutil.rmtree(self.path, ignore_errors=True)
                self.path.mkdir(parents=True)
                (self.path / "run.json").write_text(json.dumps(run, indent=1) + "\n")
            self.env.barrier()
            return None
        if step is None:
            raise EmotagError(f"nothing to resume: {self.path} holds no complete checkpoint")
        saved = json.loads((self.path / "run.json").read_text())
        if saved != run:
            changed = sorted(k for k in set(saved) | set(run) if saved.get(k) != run.get(k))
            detail = changed
            if changed == ["config"]:
                detail = sorted(k for k in set(saved["config"]) | set(run["config"])
                                if saved["config"].get(k) != run["config"].get(k))
            raise EmotagError(f"{self.path} was made by another run (differs in: {', '.join(detail)}); resume "
                              f"with the same scenes, settings and number of processes, or delete it")
        return step

    def save(self, step: int, shared: dict[str, Any], shard: dict[str, Any]) -> None:
        """Collective: every rank calls it with its shard (rank 0 also with ``shared``)."""
        partial = self.path / f"step-{step:08d}.partial"
        if self.env.main:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
        self.env.barrier()
        _atomic_save(shard, partial / f"rank-{self.env.rank}.pt")
        self.env.barrier()
        if self.env.main:
            _atomic_save(shared, partial / "shared.pt")
            final = self.path / f"step-{step:08d}"
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)
            marker = self.path / "latest.tmp"
            marker.write_text(f"{step}\n")
            os.replace(marker, self.path / "latest")
            for old in self.path.glob("step-*"):
                if old != final:
                    shutil.rmtree(old, ignore_errors=True)
        self.env.barrier()

    def end_of_step(self, step: int, every: int, last: int, stopping: bool, save: Callable[[int], None],
                    warn: Callable[[str], None]) -> None:
        """Checkpoint on schedule, at the last step and when a stop was requested; then, on a stop,
        say how to continue and raise KeyboardInterrupt (after the checkpoint, never before)."""
        if stopping or step % every == 0 or step == last:
            save(step)
        if stopping:
            warn(f"stopped after step {step}; checkpoint in {self.path}: continue with --resume")
            interrupt.keep(f"stopped after step {step}, checkpoint in {self.path}: continue with --resume")
            raise KeyboardInterrupt

    def step_dir(self, step: int | None = None) -> Path:
        step = self.latest() if step is None else step
        return self.path / f"step-{step:08d}"

    def load_shared(self, step: int | None = None) -> dict[str, Any]:
        return torch.load(self.step_dir(step) / "shared.pt", map_location="cpu", weights_only=True)

    def load_shard(self, rank: int, step: int | None = None) -> dict[str, Any]:
        return torch.load(self.step_dir(step) / f"rank-{rank}.pt", map_location="cpu", weights_only=True)

    def remove(self) -> None:
        if self.env.main:
            shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------- random-number states


def capture_rng(generators: dict[str, torch.Generator | np.random.Generator]) -> dict[str, Any]:
    """Python's, NumPy's global and torch's (CPU, CUDA) RNG states, plus the named generators'."""
    keys = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys[1].astype(np.int64)), "pos": int(keys[2]),
                  "has_gauss": int(keys[3]), "cached": float(keys[4])},
        "torch": torch.get_rng_state(),
        "generators": {},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    for name, g in generators.items():
        state["generators"][name] = g.get_state() if isinstance(g, torch.Generator) else g.bit_generator.state
    return state


def restore_rng(state: dict[str, Any], generators: dict[str, torch.Generator | np.random.Generator]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, g in generators.items():
        saved = state["generators"].get(name)
        if saved is None:                    # a generator this checkpoint's version did not have
            continue
        if isinstance(g, torch.Generator):
            g.set_state(saved)
        else:
            g.bit_generator.state = saved


# ---------------------------------------------------------------- stopping


class StopRequest:
    """Context manager: SIGINT / SIGTERM set ``requested`` instead of interrupting; a second SIGINT
    raises KeyboardInterrupt at once. Outside the main thread it does nothing (signals cannot be
    caught there) and Ctrl-C interrupts as usual."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
