"""Data-parallel training driven by torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE):
gloo on CPU, nccl on GPU. Without torchrun it is a world of one."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    device: torch.device
    memory_format: torch.memory_format = torch.contiguous_format

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(local_rank: int = 0) -> torch.device:
    """cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def init_distributed(channels_last: bool = False) -> DistContext:
    """Join torchrun's process group if launched by it; channels_last picks NHWC activations."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if "RANK" not in os.environ:
        return DistContext(0, 1, pick_device(), memory_format)
    local_rank = int(os.environ["LOCAL_RANK"])
    device = pick_device(local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), device, memory_format)


def all_reduce_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.world_size > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= ctx.world_size
    return value


def barrier(ctx: DistContext) -> None:
    if ctx.world_size > 1:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.world_size > 1:
        dist.destroy_process_group()
