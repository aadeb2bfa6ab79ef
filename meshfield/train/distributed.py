"""Data-parallel training with ``torch.distributed``; the same code runs on one process.

Under ``torchrun --nproc-per-node N`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``) :func:`setup` joins the process group (NCCL on GPUs, gloo
on CPUs), the model is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` and
each process reads its share of the windows through a
:class:`~torch.utils.data.distributed.DistributedSampler`. Without those variables everything
runs in the current process: the sampler covers the whole dataset in the same seeded order
and the model is not wrapped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

__all__ = [
    "DistributedContext",
    "all_reduce_sum",
    "cleanup",
    "make_sampler",
    "resolve_device",
    "setup",
    "wrap_model",
]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly one-process) data-parallel run.

    Parameters
    ----------
    rank : int
        This process, ``0 .. world_size - 1``.
    world_size : int
        Processes in the run.
    local_rank : int
        This process on its machine (picks its GPU).
    device : torch.device
        Where this process trains.
    initialized_here : bool
        :func:`setup` created the process group (and :func:`cleanup` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialized_here: bool = False

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that writes checkpoints, logs and progress."""
        return self.rank == 0


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> this process's GPU if there is one, else the CPU; else ``device``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            msg = "device 'cuda' requested but torch sees no GPU; use device='cpu' or 'auto'"
            raise RuntimeError(msg)
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(device)


def setup(device: str = "auto", *, timeout_s: float = 1800.0) -> DistributedContext:
    """Join the process group when launched by ``torchrun`` (or one already exists).

    Parameters
    ----------
    device : str, default: "auto"
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; under ``torchrun`` with a GPU each
        process takes ``cuda:LOCAL_RANK``.
    timeout_s : float, default: 1800.0
        Timeout of collective operations.

    Returns
    -------
    DistributedContext
        Rank 0 of 1 when not launched in parallel.
    """
    from datetime import timedelta

    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        return DistributedContext(rank, world, local_rank, _device_for(device, local_rank, world))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistributedContext(device=resolve_device(device))
    if not dist.is_available():
        msg = "WORLD_SIZE > 1 but this torch was built without torch.distributed"
        raise RuntimeError(msg)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    target = _device_for(device, local_rank, world)
    backend = "nccl" if target.type == "cuda" else "gloo"
    if target.type == "cuda":
        torch.cuda.set_device(target)
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return DistributedContext(rank, world, local_rank, target, initialized_here=True)


def _device_for(device: str, local_rank: int, world: int) -> torch.device:
    if world > 1 and device in ("auto", "cuda"):
        return resolve_device(device, local_rank)
    return resolve_device(device)


def cleanup(context: DistributedContext) -> None:
    """Leave the process group if :func:`setup` created it."""
    if context.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(module: nn.Module, context: DistributedContext) -> nn.Module:
    """``DistributedDataParallel(module)`` in a parallel run, ``module`` otherwise.

    Parameters that no loss reaches (e.g. the point-query decoder during pretraining) are
    allowed (``find_unused_parameters=True``).
    """
    if not context.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=True)


def make_sampler(
    dataset: Dataset,
    context: DistributedContext,
    *,
    shuffle: bool = True,
    seed: int = 0,
) -> DistributedSampler:
    """A :class:`~torch.utils.data.distributed.DistributedSampler` for this process.

    With one process it yields every index in the seeded order of epoch ``e``
    (``set_epoch``); with ``W`` processes process ``r`` gets positions ``r, r + W, ...`` of
    that same order, so the ``W`` local batches of a step together are the batch one process
    would take (padded by repeating the first indices when the count does not divide).
    """
    return DistributedSampler(
        dataset,
        num_replicas=context.world_size,
        rank=context.rank,
        shuffle=shuffle,
        seed=seed,
        drop_last=False,
    )


def all_reduce_sum(values: Tensor, context: DistributedContext) -> Tensor:
    """The sum of ``values`` over the processes (``values`` itself with one process)."""
    if not context.distributed:
        return values
    reduced = values.detach().clone().to(context.device)
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced.to(values.device)
