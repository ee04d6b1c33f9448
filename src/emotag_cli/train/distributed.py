"""Multi-process training with ``torchrun`` (PyTorch DDP), and the single-process case as one rank.

    torchrun --nproc_per_node 4 -m emotag_cli.cli pretrain scenes/* -o prior
    torchrun --nnodes 2 --node_rank K --master_addr HOST --nproc_per_node 8 -m emotag_cli.cli pretrain ...

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; ``setup`` joins the process group — NCCL when CUDA
is there (one GPU per local rank), else gloo on CPU. Without those variables it is one process
and every collective below is a no-op. Pretraining shards the identities over the ranks
(``shard``): a rank owns the Gaussians of its identities; the motion network is replicated and
its gradients averaged by DistributedDataParallel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import EmotagError


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank (e.g. a stop request)."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, values: list[float]) -> list[float]:
        """Element-wise mean of ``values`` over the ranks."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return (t / self.world_size).tolist()

    @property
    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def setup(device: str | None = None) -> DistEnv:
    """Join the torchrun process group when there is one (else a single rank).

    device: "cpu", "cuda" or None (CUDA when available). With CUDA each process takes the GPU of
    its local rank.
    """
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise EmotagError("--device cuda asked for, but torch sees no CUDA device")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world <= 1:
        return DistEnv(device=dev)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return DistEnv(dist.get_rank(), dist.get_world_size(), local, dev, owns)


def shard(n_items: int, env: DistEnv) -> list[int]:
    """The item indices rank ``env.rank`` owns: rank, rank + W, rank + 2W, …"""
    if n_items < env.world_size:
        raise EmotagError(f"{env.world_size} processes but {n_items} scene(s): every process needs at least "
                          f"one identity; start fewer processes")
    return list(range(env.rank, n_items, env.world_size))
