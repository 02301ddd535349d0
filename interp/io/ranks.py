"""This process's share of a data-parallel run.

`accelerate launch` (or torchrun underneath it) starts one process per rank with RANK and
WORLD_SIZE in the environment; `current_ranks` joins its torch.distributed process group (through
accelerate, which picks NCCL on GPUs and gloo on CPUs) and says which share is this process's.
A run folder's pieces are shared by their position in a deterministic list (`owns`), never by
rank in their names, so a rerun with another number of processes resumes the same pieces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

__all__ = ["SINGLE", "Ranks", "current_ranks"]

_BARRIER_TIMEOUT = timedelta(hours=12)
"""How long a rank waits at a barrier for the others (a long stage on one rank must not time out)."""


@dataclass(frozen=True)
class Ranks:
    """rank of world; rank 0 is the main process, which writes tables, markers and the report."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def owns(self, index: int) -> bool:
        """Whether the piece at `index` of a shared list is this rank's (round-robin)."""
        return index % self.world == self.rank

    def barrier(self) -> None:
        """Wait until every rank gets here (a no-op for one process)."""
        if self.world > 1:
            torch.distributed.barrier()


SINGLE = Ranks()


def current_ranks() -> Ranks:
    """The launcher's ranks (one process unless WORLD_SIZE > 1); joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        PartialState(timeout=_BARRIER_TIMEOUT)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=_BARRIER_TIMEOUT)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Ranks(dist.get_rank(), dist.get_world_size())
