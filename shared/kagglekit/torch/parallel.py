"""The trainer's side of ``kk train --nproc N``: DistributedDataParallel inside one fold.

Each process computes the gradient of its 1/N of every global batch and DDP averages them,
so a step is the same step as one process would take. The processes themselves (torchrun,
the process group, who writes the run folder) are ``kagglekit.torch.distributed``'s.
One process: every function here is a no-op or the plain answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import kagglekit.torch.distributed as distributed
from kagglekit.errors import KKError
from kagglekit.models.base import require
from kagglekit.torch.config import TrainConfig

require("torch", "vision")
import torch  # noqa: E402
from torch import nn  # noqa: E402


def n_processes() -> int:
    """How many processes train together (1 outside ``kk train --nproc N``)."""
    return distributed.world_size() if distributed.active() else 1


def process_device(device: torch.device) -> torch.device:
    """One GPU per process: this process's local GPU (any other device as it is)."""
    if distributed.active() and device.type == "cuda":
        return torch.device("cuda", distributed.local_rank())
    return device


def writes_files() -> bool:
    """Whether this process writes checkpoints: rank 0 does; the others read them."""
    return not distributed.is_follower()


def wrap(
    net: nn.Module,
    forward: Callable[..., Any],
    cfg: TrainConfig,
    device: torch.device,
    batch_size: int,
) -> tuple[Callable[..., Any], slice | None, int]:
    """The forward to train with, this process's rows of each batch (``None``: all) and
    the number of processes: DDP over ``net`` under ``--nproc N``, else ``forward``."""
    world = n_processes()
    if world == 1:
        return forward, None, 1
    from torch.nn.parallel import DistributedDataParallel

    if batch_size % world:
        raise KKError(
            f"batch_size = {batch_size} does not split over --nproc {world}; use a "
            f"multiple of {world}"
        )
    ddp = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    share = batch_size // world
    local = slice(distributed.rank() * share, (distributed.rank() + 1) * share)
    return (torch.compile(ddp) if cfg.compile else ddp), local, world


def share(xb: Any, local: slice | None) -> Any:
    """Rows ``local`` of a batch (tensor or dict of tensors); all of it when ``None``."""
    if local is None:
        return xb
    if isinstance(xb, dict):
        return {k: share(v, local) for k, v in xb.items()}
    return xb[local]


def end_epoch(loss_sum: torch.Tensor, net: nn.Module, world: int) -> None:
    """After an epoch: ``loss_sum`` becomes the mean over every process's share, and rank
    0's BatchNorm statistics go everywhere, so every rank scores and decides alike."""
    if world == 1:
        return
    import torch.distributed as dist

    dist.all_reduce(loss_sum)
    loss_sum /= world
    for buffer in net.buffers():
        dist.broadcast(buffer, 0)


def fail_for_test(epoch: int, step: int, steps: int) -> None:
    """Fault injection for the distributed tests: ``KK_TEST_DIE_AT=RANK:EPOCH`` makes that
    rank of ``kk train --nproc`` exit hard halfway through that epoch (0-based)."""
    spec = os.environ.get("KK_TEST_DIE_AT")
    if not spec or step != steps // 2:
        return
    die_rank, die_epoch = (int(v) for v in spec.split(":"))
    if distributed.rank() == die_rank and epoch == die_epoch:
        os._exit(3)
