"""Data-parallel evaluation: `accelerate launch -m offside_eval ...` (or `torchrun`), one model per process.

Only when launched with WORLD_SIZE > 1; one process never imports this machinery. Every rank plans the
same requests and forms the same batches as one process would (`batching.batches` depends on the
request list alone); the batches the journal does not hold yet are dealt round-robin over the ranks in
their length-sorted order, so each rank gets a similar mix of long and short ones. A batch is answered
whole by one rank, with the same neighbours as in one process, so the numbers equal a one-process run's
on the same kind of device. The answers are gathered back into request order; rank 0 alone then checks
batch invariance, judges, scores and writes (judge calls are HTTP requests with their own
`concurrency`, and an `hf` judge loads lazily, on rank 0 only).

Journal: each rank appends its batches to its own file (`answers-<fp>.jsonl` for rank 0,
`answers-<fp>.rank<r>.jsonl` for rank r) and every reader takes all of them, so a killed data-parallel
run resumes with any number of processes, one included.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Rank `rank`'s share of `items` (already sorted by cost, longest first): every world-th one."""
    return list(items[rank::world])


def merge(parts: Sequence[dict[int, Any]]) -> dict[int, Any]:
    """The ranks' {request index: answer} maps as one; an index answered by two ranks is a sharding bug."""
    out: dict[int, Any] = {}
    for part in parts:
        for i, value in part.items():
            if i in out:
                raise RuntimeError(f"data-parallel gather: request {i} answered by two ranks")
            out[i] = value
    return out


class DataParallel:
    """This process's rank, world size and device, and the collectives the evaluator needs."""

    def __init__(self) -> None:
        import torch
        from accelerate import PartialState

        state = PartialState(cpu=not torch.cuda.is_available())
        self.rank, self.world, self.device = state.process_index, state.num_processes, state.device
        self.is_main = state.is_main_process

    def device_for(self, device: str | None) -> str:
        """This rank's device (cuda:LOCAL_RANK, or cpu), unless the user pinned one with an index or cpu."""
        return str(self.device) if device in (None, "", "cuda") else device

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank."""
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def gather(self, answered: dict[int, Any]) -> dict[int, Any]:
        """Every rank's {request index: answer} merged, on every rank."""
        import torch.distributed as dist

        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, answered)
        return merge(parts)


def data_parallel() -> DataParallel | None:
    """The data-parallel context when launched with more than one process, else None."""
    return DataParallel() if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
