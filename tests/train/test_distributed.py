"""Data-parallel training: two gloo processes take the step one process takes."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from meshfield.checkpoint import load_model
from meshfield.data import load_dataset
from meshfield.train import TrainConfig, Trainer
from meshfield.train.distributed import DistributedContext, cleanup, make_sampler, setup


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, config: dict[str, Any], data: str) -> None:
    torch.set_num_threads(1)
    # what torchrun sets for each process
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    context = setup("cpu")  # joins the group: gloo over TCP on localhost
    try:
        if context.world_size != world or context.rank != rank or not context.initialized_here:
            raise RuntimeError(f"unexpected context {context}")
        Trainer(TrainConfig.from_dict(config), load_dataset(data, "train"), context=context).fit()
    finally:
        cleanup(context)


def test_sampler_splits_the_single_process_order() -> None:
    data = list(range(10))
    whole = list(make_sampler(data, DistributedContext(), seed=3))
    parts = [
        list(make_sampler(data, DistributedContext(rank=r, world_size=2), seed=3)) for r in range(2)
    ]
    assert sorted(whole) == data
    # step s of batch size b per process takes whole[2 b s : 2 b (s + 1)]
    assert sorted(parts[0][:2] + parts[1][:2]) == sorted(whole[:4])


def test_two_processes_match_one(heat_data: Path, tiny_config: TrainConfig, tmp_path: Path) -> None:
    common = tiny_config.replace(epochs=1, steps_per_epoch=1, pushforward_steps=1, warmup_steps=0)
    single = common.replace(batch_size=4, out_dir=str(tmp_path / "single"))
    double = common.replace(batch_size=2, out_dir=str(tmp_path / "ddp"))
    # fork: the children start with torch and meshfield imported (spawn re-imports them)
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(
        _worker,
        args=(2, _free_port(), double.to_dict(), str(heat_data)),
        nprocs=2,
        join=True,
        start_method=method,
    )
    start = Trainer(single, load_dataset(heat_data, "train"))
    initial = {k: v.clone() for k, v in start.model.state_dict().items()}
    start.fit()
    one = load_model(tmp_path / "single" / "last").state_dict()
    two = load_model(tmp_path / "ddp" / "last").state_dict()
    moved = 0
    for name, value in one.items():
        torch.testing.assert_close(two[name], value, atol=1e-6, rtol=0, msg=name)
        moved += not torch.equal(value, initial[name])
    assert moved > 10  # the step changed the weights
