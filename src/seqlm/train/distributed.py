"""Data-parallel training under `torchrun` (DistributedDataParallel; gloo on CPU, NCCL on GPU).

`torchrun --nproc-per-node N -m seqlm train ...` sets RANK/WORLD_SIZE in each process's
environment. `--batch-size` stays the *global* number of streams: rank r trains streams
r·B/N … (r+1)·B/N − 1 and carries its own hidden state for them, DDP averages the
gradients, so N processes compute what one process with batch B computes (and the same
command gives the same model on any number of processes, up to float summation order).
Rank 0 alone writes checkpoints and logs; a checkpoint holds the hidden state of all
streams, so a run can resume under any number of processes that divides the batch.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from seqlm.data.batching import Streams
from seqlm.io import SeqlmError


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def init_world(device_type: str) -> World:
    """Join the process group torchrun describes; a plain run is a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend)
    return world


def shard_columns(data: Streams, world: World) -> Streams:
    """This rank's streams of a (steps, B) batch layout."""
    batch = data.shape[1]
    if batch % world.size:
        raise SeqlmError(f"--batch-size {batch} does not divide among {world.size} processes")
    per = batch // world.size
    return data.select(range(world.rank * per, (world.rank + 1) * per))


def gather_columns(tensor: torch.Tensor, world: World, dim: int) -> torch.Tensor:
    """Concatenate every rank's slice along `dim` (all ranks get the whole)."""
    if not world.active:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world.size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=dim)


def agree(code: int, world: World, device: torch.device) -> int:
    """The largest of every rank's value: all ranks stop together, for the same reason."""
    if not world.active:
        return code
    t = torch.tensor([code], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def gather_cpu(tensor: torch.Tensor, world: World, device: torch.device) -> list[torch.Tensor]:
    """Every rank's copy of a same-sized CPU tensor (the RNG states); NCCL moves GPU memory."""
    if not world.active:
        return [tensor]
    t = tensor.to(device) if device.type == "cuda" else tensor
    parts = [torch.empty_like(t) for _ in range(world.size)]
    dist.all_gather(parts, t)
    return [p.cpu() for p in parts]


def leave(world: World, together: bool = False) -> None:
    """Tear the process group down. `together` (a run that ended normally on every rank)
    first waits for all ranks, so none destroys gloo's connections while a peer still has
    work in flight on them. A DistributedDataParallel wrapper the trainer has let go of is
    collected first: its reducer holds the process group, which would otherwise outlive
    `destroy_process_group` and be torn down during interpreter exit, where gloo's
    threads can abort the process ("terminate called without an active exception")."""
    if world.active and dist.is_initialized():
        gc.collect()
        if together:
            dist.barrier()
        dist.destroy_process_group()
