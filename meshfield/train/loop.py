"""The training loop: one-step (and pushforward) loss, AdamW, checkpoints, exact resume.

A run folder (``TrainConfig.out_dir``) holds::

    train.json          the TrainConfig of the run
    log.jsonl           one JSON line per epoch: losses, validation rollout error, lr, time
    last/               checkpoint of the last finished epoch (meshfield.save_checkpoint)
                        plus train_state.json and train_state.safetensors: optimizer,
                        scheduler, counters and random-number-generator states
    best/               checkpoint of the epoch with the lowest validation rollout error

Nothing is pickled: tensors go to safetensors, everything else to JSON. A resumed run
continues exactly where the saved one stopped (same parameters, bit for bit, as a run that
was never interrupted): the shuffling and the training noise depend only on the seed and
the epoch, and every other random state is restored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torch_geometric.utils import scatter

from meshfield._files import atomic_folder, write_atomic
from meshfield.checkpoint import (
    load_optimizer_state,
    load_rng_state,
    optimizer_state,
    rng_state,
)
from meshfield.train.config import TrainConfig, model_options
from meshfield.train.distributed import (
    DistributedContext,
    all_reduce_sum,
    cleanup,
    make_sampler,
    setup,
    wrap_model,
)
from meshfield.train.samples import (
    TrajectoryStreams,
    TrajectoryWindows,
    collate_windows,
)
from meshfield.train.schedule import warmup_cosine

__all__ = [
    "StepLoss",
    "TrainResult",
    "Trainer",
    "prepare_data",
    "seed_everything",
    "train",
]

logger = logging.getLogger(__name__)

STATE_JSON = "train_state.json"
STATE_TENSORS = "train_state.safetensors"
STATE_FORMAT = "meshfield-train-state"


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and GPUs)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; derive the others from it
    seed = torch.initial_seed() % (1 << 32)
    np.random.seed(seed)
    random.seed(seed)


def _per_graph_mse(
    prediction: Tensor, target: Tensor, index: Tensor | None, num_graphs: int
) -> Tensor:
    """Mean over graphs of each graph's mean squared error (every window weighs the same)."""
    squared = (prediction - target).square().mean(dim=-1)
    if index is None or num_graphs == 1:
        return squared.mean()
    per_graph = scatter(squared, index, dim=0, dim_size=num_graphs, reduce="mean")
    return per_graph.mean()


class StepLoss(nn.Module):
    r"""The training loss of a model on a batch of windows (what DDP wraps).

    For input frames :math:`u^{t-h+1..t}` (plus noise :math:`\epsilon \sigma_c`) and the
    following :math:`k` frames,

    .. math::
        L = \frac{1}{k}\sum_{j=0}^{k-1}
            \left\lVert \widehat{\Delta}_j - \frac{u^{t+j+1} - \tilde u^{t+j} - \mu^\Delta}
            {\sigma^\Delta} \right\rVert^2 + w_0 \left\lVert \hat u^0 - \frac{u^0 - \mu}{\sigma}
            \right\rVert^2,

    where :math:`\tilde u^{t+j}` is the (noisy) input frame for :math:`j = 0` and the model's
    own prediction for :math:`j > 0` (pushforward; detached unless ``pushforward_grad``),
    and the last term trains the initial head on the trajectory's first frame. The unroll
    starts from the temporal state warmed up on the frames before the window (teacher
    forcing, :meth:`~meshfield.models.FieldModel.warm_state`) when the batch carries
    ``warmup`` frames, else from a fresh state; with ``pushforward_grad`` the state and the
    predictions are backpropagated through the whole unroll (truncated backpropagation
    through time). :attr:`horizon` may be lowered per epoch (the curriculum). Squared
    norms are means over nodes and channels, averaged per window, then over windows.

    Parameters
    ----------
    model : FieldModel
        The model.
    history : int
        Input frames per window.
    horizon : int, default: 1
        :math:`k`, target frames per window.
    noise_std : float, default: 0.0
        :math:`\epsilon` scale in units of each field's standard deviation.
    pushforward_grad : bool, default: False
        Backpropagate through the unrolled steps.
    last_only : bool, default: False
        Train the last unrolled step only: the steps before it run without gradients and
        their losses are left out (``TrainConfig.unroll_loss="last"``), so :math:`L` keeps
        the term :math:`j = k - 1` of the sum alone.
    initial_weight : float, default: 1.0
        :math:`w_0` (ignored for a model without an initial head). The trainer sets
        :attr:`initial_scale` per step: 0 skips the head's loss (and its forward pass), ``k``
        weights it ``k`` times (``TrainConfig.initial_every``).
    carry_state : bool, default: False
        Start a window from the state the previous batch's unroll ended with, detached, where
        the window continues the same graph position's window of that batch (same
        trajectory, ``horizon`` frames later: :class:`~meshfield.train.TrajectoryStreams`
        orders them so); other windows start from the warm-up as above. :meth:`reset_carry`
        forgets the state (the trainer does at every epoch, so a resumed run stays exact).
    """

    def __init__(
        self,
        model: nn.Module,
        history: int,
        horizon: int = 1,
        *,
        noise_std: float = 0.0,
        pushforward_grad: bool = False,
        last_only: bool = False,
        initial_weight: float = 1.0,
        carry_state: bool = False,
    ) -> None:
        super().__init__()
        if last_only and pushforward_grad:
            msg = (
                "last_only runs the steps before the last without gradients: "
                "pushforward_grad must be False"
            )
            raise ValueError(msg)
        self.last_only = last_only
        self.model = model
        self.history = history
        self.horizon = horizon
        self.noise_std = noise_std
        self.pushforward_grad = pushforward_grad
        self.initial_weight = initial_weight
        self.initial_scale = 1.0
        self.carry_state = carry_state
        self._carried: tuple[Tensor, Tensor, Tensor] | None = None

    def reset_carry(self) -> None:
        """Forget the carried state: the next windows start from their warm-up."""
        self._carried = None

    def _continues(self, batch: Any, num_graphs: int) -> Tensor | None:
        """``[B]`` which windows continue the previous batch's window at their position."""
        if self._carried is None:
            return None
        runs, starts, _ = self._carried
        run, start = batch.get("run"), batch.get("start")
        if run is None or start is None:
            return None
        run = torch.as_tensor(run).reshape(-1)
        start = torch.as_tensor(start).reshape(-1)
        if run.numel() != num_graphs or runs.numel() != num_graphs:
            return None
        return (run == runs) & (start == starts + self.horizon)

    def forward(self, batch: Any) -> tuple[Tensor, Tensor]:
        """The loss and its parts ``[step loss, initial-head loss]`` (detached)."""
        model = self.model
        norm = model.normalizer
        h = self.history
        fields = batch.fields
        context = model.prepare(batch)
        index, num_graphs = context.batch, context.num_graphs
        frames = fields[:h]
        noise = batch.get("noise") if hasattr(batch, "get") else None
        if self.noise_std > 0 and noise is not None:
            frames = frames + (self.noise_std * norm.field_std) * noise
        losses = []
        state = None
        continues = self._continues(batch, num_graphs) if self.carry_state else None
        warmup = batch.get("warmup") if hasattr(batch, "get") else None
        if (
            warmup is not None
            and getattr(model, "has_state", False)
            and (continues is None or not bool(continues.all()))
        ):
            # the state a rollout from the trajectory's start reaches at the window's start
            state = model.warm_state(
                batch, warmup, batch.warmup_steps, context=context
            )
        if continues is not None and bool(continues.any()):
            carried = self._carried[2]  # type: ignore[index]
            fresh = state if state is not None else torch.zeros_like(carried)
            state = torch.where(continues.to(carried.device).unsqueeze(-1), carried, fresh)
        unroll = model.rollout_steps(
            batch,
            self.horizon,
            frames,
            state=state,
            context=context,
            detach=not self.pushforward_grad,
        )
        last = None
        steps = iter(unroll)
        for j in range(self.horizon):
            # with last_only, the steps before the last are inputs, made without gradients
            trained = not self.last_only or j == self.horizon - 1
            with torch.set_grad_enabled(torch.is_grad_enabled() and trained):
                step = next(steps)
            last = step.output.state
            if not trained:
                continue
            target = norm.normalize_delta(step.history[-1], fields[step.index])
            losses.append(_per_graph_mse(step.output.delta, target, index, num_graphs))
        if self.carry_state and last is not None:
            self._carried = (
                torch.as_tensor(batch.run).reshape(-1).clone(),
                torch.as_tensor(batch.start).reshape(-1).clone(),
                last.detach(),
            )
        step_loss = torch.stack(losses).mean()
        total = step_loss
        initial_loss = step_loss.new_zeros(())
        weight = self.initial_weight * self.initial_scale
        if weight > 0 and getattr(model, "initial_decoder", None) is not None:
            start = model.initial(batch, context=context)
            target = norm.normalize_fields(batch.initial)
            initial_loss = _per_graph_mse(start.normalized, target, index, num_graphs)
            total = total + weight * initial_loss
        return total, torch.stack([step_loss.detach(), initial_loss.detach()])


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` did.

    Attributes
    ----------
    epoch : int
        Epochs finished (over all resumptions).
    best_epoch : int
        The epoch saved in ``best/`` (0 before any).
    best_metric : float
        Its validation rollout error (or training loss without validation data).
    stopped_early : bool
        Training stopped because the validation error stopped improving.
    log : list of dict
        The log lines of the epochs run in this call.
    run_dir : pathlib.Path
        The run folder.
    """

    epoch: int
    best_epoch: int
    best_metric: float
    stopped_early: bool
    log: list[dict[str, Any]] = field(default_factory=list)
    run_dir: Path = Path()

    @property
    def last(self) -> Path:
        """The ``last/`` checkpoint."""
        return self.run_dir / "last"

    @property
    def best(self) -> Path:
        """The ``best/`` checkpoint."""
        return self.run_dir / "best"


# -------------------------------------------------------------------------------------------
# state without pickle


def _write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2) + "\n")


def _load_initial_weights(model: nn.Module, source: str) -> None:
    """Copy the weights (and normalization) of a checkpoint into ``model``.

    The checkpoint's model may have another ``frame_step`` (a model of one snapshot per step
    starting a model of several): the statistics of the increments are then ``model``'s own
    (fitted for its step on this run's data), the rest is the checkpoint's.
    """
    from meshfield.checkpoint import load_model
    from meshfield.pretrained import resolve_checkpoint

    saved = load_model(resolve_checkpoint(source))
    step = int(getattr(model.config, "frame_step", 1))
    same_but_step = (
        type(saved.config) is type(model.config)
        and dataclasses.replace(saved.config, frame_step=step) == model.config
    )
    if not same_but_step:
        msg = (
            f"init_from: the model in {source} has another configuration than this run's "
            "(same model, width and options needed)"
        )
        raise ValueError(msg)
    norm = model.normalizer
    own = {"delta_mean": norm.delta_mean.clone(), "delta_std": norm.delta_std.clone()}
    model.load_state_dict(saved.state_dict())
    if saved.frame_step != step:
        logger.info(
            "init_from: %s steps %d snapshot(s) at a time, this run %d: the increments' "
            "statistics are this run's",
            source,
            saved.frame_step,
            step,
        )
        norm.set_stats(**own)


# -------------------------------------------------------------------------------------------
# the trainer


class Trainer:
    r"""Train a field model on trajectories, with validation rollouts and checkpoints.

    Parameters
    ----------
    config : TrainConfig
        The run.
    train_data : MeshDataset or sequence of MeshGraph
        Training trajectories (``fields [T, N, C]``, same channels and conditions).
    val_data : MeshDataset or sequence of MeshGraph, optional
        Validation trajectories, rolled out over their whole horizon after each epoch; their
        mean relative L2 error picks ``best/`` and drives early stopping. default: none (the
        training loss is used instead, and there is no early stopping).
    model : FieldModel, optional
        A model to train. default: ``build_model(config.model, ...)`` for the data, with
        normalization statistics fitted on ``train_data``.
    data_spec : mapping or DataSpec, optional
        Stored in the checkpoints. default: none.
    context : DistributedContext, optional
        default: :func:`meshfield.train.distributed.setup` (joins a ``torchrun`` group).

    Example
    -------
    >>> from meshfield.data import load_dataset                           # doctest: +SKIP
    >>> cfg = TrainConfig(model="meshgraphnet", width=32, epochs=5, out_dir="runs/heat")
    >>> Trainer(cfg, load_dataset("data/heat", "train"),
    ...         load_dataset("data/heat", "val")).fit()                   # doctest: +SKIP
    """

    def __init__(
        self,
        config: TrainConfig,
        train_data: Any,
        val_data: Any = None,
        *,
        model: nn.Module | None = None,
        data_spec: Any = None,
        context: DistributedContext | None = None,
    ) -> None:
        from meshfield.runtime import tune_malloc

        tune_malloc()  # large activations reuse heap memory (see meshfield.runtime)
        self.config = config
        self.context = context if context is not None else setup(config.device)
        self.device = self.context.device
        self.train_data = train_data
        self.val_data = val_data
        self.data_spec = data_spec.to_dict() if hasattr(data_spec, "to_dict") else data_spec
        self.run_dir = Path(config.out_dir)
        self.checkpoint_root = Path(config.checkpoint_root)
        self.log_path = Path(config.log_path)
        seed_everything(config.seed)
        if model is None:
            model = self._build_model()
        elif (given := int(getattr(model, "frame_step", 1))) != config.frame_step:
            msg = (
                f"frame_step: the run steps {config.frame_step} snapshot(s) at a time, the "
                f"given model {given}"
            )
            raise ValueError(msg)
        if config.init_from is not None:
            _load_initial_weights(model, config.init_from)
        names = train_data[0].get("boundary_names") if len(train_data) else None
        self.boundary_names = [str(n) for n in names] if names is not None else None
        self.model = model.to(self.device)
        if config.compile and hasattr(self.model, "compile_step"):
            self.model.compile_step()
        self.windows = TrajectoryWindows(
            train_data,
            config.history,
            config.horizon,
            frame_step=config.frame_step,
            noise=config.noise_std > 0,
            seed=config.seed,
            cache_runs=config.cache_runs,
            warmup=config.state_warmup if getattr(self.model, "has_state", False) else 0,
        )
        carry = config.state_carry and getattr(self.model, "has_state", False)
        if config.state_carry and not carry:
            logger.warning(
                "state_carry: the %s model has no temporal state to carry; windows are drawn "
                "at random as without it",
                config.model,
            )
        self.sampler: Any = make_sampler(
            self.windows, self.context, shuffle=True, seed=config.seed
        )
        if carry:
            batches = math.ceil(len(self.sampler) / (config.batch_size * config.horizon))
            if config.steps_per_epoch is not None:
                batches = min(batches, config.steps_per_epoch)
            self.sampler = TrajectoryStreams(
                self.windows,
                config.batch_size,
                config.horizon,
                max(batches, 1),
                seed=config.seed,
                rank=self.context.rank,
                world_size=self.context.world_size,
            )
        self.loss = StepLoss(
            self.model,
            config.history,
            config.horizon,
            noise_std=config.noise_std,
            pushforward_grad=config.pushforward_grad,
            last_only=config.unroll_loss == "last",
            initial_weight=config.initial_weight,
            carry_state=carry,
        )
        self.wrapped = wrap_model(self.loss, self.context)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.scheduler = warmup_cosine(
            self.optimizer,
            warmup_steps=config.warmup_steps,
            total_steps=config.epochs * self.steps_per_epoch,
            min_lr=config.min_lr,
            cosine=config.schedule == "cosine",
        )
        self.epoch = 0
        self.global_step = 0
        self.best_metric = math.inf
        self.best_epoch = 0
        self.epochs_since_best = 0
        self.stopped_early = False
        self.train_time_s = 0.0
        self.budget_spent = False

    # ---------------------------------------------------------------------------------------

    def _build_model(self) -> nn.Module:
        from meshfield.models import build_model

        first = self.train_data[0]
        field_names = tuple(first.field_names)
        cond_names = tuple(first.get("cond_names") or ()) if first.get("cond") is not None else ()
        options = model_options(self.config, field_names, cond_names, int(first.pos.size(1)))
        model = build_model(self.config.model, **options)
        # statistics of the training split only; the same in every process
        model.normalizer.fit(
            (self.train_data[i] for i in range(len(self.train_data))),
            frame_step=int(getattr(model, "frame_step", 1)),
        )
        return model

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (per process, the same in every process)."""
        steps = math.ceil(len(self.sampler) / self.config.batch_size)
        if self.config.steps_per_epoch is not None:
            steps = min(steps, self.config.steps_per_epoch)
        return steps

    def _loader(self, epoch: int) -> DataLoader:
        self.windows.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return DataLoader(
            self.windows,
            batch_size=self.config.batch_size,
            sampler=self.sampler,
            collate_fn=collate_windows,
            num_workers=self.config.num_workers,
            worker_init_fn=_seed_worker if self.config.num_workers else None,
            generator=generator,
            pin_memory=self.device.type == "cuda",
        )

    # ---------------------------------------------------------------------------------------

    def train_step(self, batch: Any) -> Tensor:
        """One optimizer step on ``batch``.

        Returns ``[loss, step loss, initial-head loss, 1 if the initial head was trained
        else 0]`` (float64, on the CPU): the initial head is trained on every
        ``initial_every``-th step of the run (:attr:`global_step`).
        """
        every = self.config.initial_every
        trains_initial = self.global_step % every == 0
        self.loss.initial_scale = float(every) if trains_initial else 0.0
        batch = batch.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss, parts = self.wrapped(batch)
        loss.backward()
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.global_step += 1
        flag = parts.new_tensor([float(trains_initial)])
        return torch.cat([loss.detach().reshape(1), parts, flag]).double().cpu()

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training windows; the mean losses over all processes."""
        from meshfield._progress import progress_bar

        self.model.train()
        self.loss.horizon = self.config.horizon_at(epoch)
        self.loss.reset_carry()  # every epoch starts its streams afresh (and a resume alike)
        if isinstance(self.sampler, TrajectoryStreams):
            self.sampler.set_stride(self.loss.horizon)
        budget = self.config.time_budget_s
        steps = self.steps_per_epoch
        sums = torch.zeros(4, dtype=torch.float64)  # loss, step loss, initial loss, its steps
        bar = progress_bar(
            total=steps,
            desc=f"epoch {epoch}/{self.config.epochs}",
            unit="step",
            enabled=self.config.progress and self.context.is_main,
            leave=False,
        )
        done = 0
        try:
            for step, batch in enumerate(self._loader(epoch)):
                if step >= steps or self.budget_spent:
                    break
                if budget is not None:
                    # a budgeted run's cosine ends with its budget (the factor reads the fraction)
                    self.scheduler.lr_lambdas[0].budget_fraction = min(
                        self.train_time_s / budget, 1.0
                    )
                began = time.perf_counter()
                values = self.train_step(batch)
                done += 1
                if not bool(torch.isfinite(values).all()):
                    msg = (
                        f"training diverged: non-finite loss {values[:3].tolist()} at epoch "
                        f"{epoch}, step {step + 1} (lower --lr, or keep --grad-clip)"
                    )
                    raise FloatingPointError(msg)
                sums += values
                self.train_time_s += time.perf_counter() - began
                if budget is not None and self.train_time_s >= budget:
                    self.budget_spent = True
                bar.update(1)
                bar.set_postfix(loss=f"{float(values[0]):.3e}", refresh=False)
        finally:
            bar.close()
        sums = all_reduce_sum(
            torch.cat([sums, torch.tensor([float(done)], dtype=torch.float64)]),
            self.context,
        )
        count = max(float(sums[-1]), 1.0)
        return {
            "train_loss": float(sums[0]) / count,
            "step_loss": float(sums[1]) / count,
            "initial_loss": float(sums[2]) / max(float(sums[3]), 1.0),
            "horizon": self.loss.horizon,
        }

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean relative L2 error of full-horizon rollouts of the validation runs.

        The runs are shared out over the processes and the result reduced over them.
        Returns ``None`` without validation data.
        """
        from meshfield.metrics.trajectory import rollout_metrics
        from meshfield.train.validation import rollout_trajectory

        if self.val_data is None or len(self.val_data) == 0:
            return None
        self.model.eval()
        count = len(self.val_data)
        if self.config.val_runs is not None:
            count = min(count, self.config.val_runs)
        totals = torch.zeros(2, dtype=torch.float64)
        for i in range(self.context.rank, count, self.context.world_size):
            graph = self.val_data[i]
            prediction, target = rollout_trajectory(self.model, graph, device=self.device)
            if not bool(torch.isfinite(prediction).all()):
                msg = (
                    f"training diverged: the validation rollout of run {i} is not finite "
                    "(lower --lr, or keep --grad-clip)"
                )
                raise FloatingPointError(msg)
            metrics = rollout_metrics(
                prediction,
                target,
                field_names=list(self.model.field_names),
                field_std=self.model.normalizer.field_std.cpu(),
            )
            values = [v for v in metrics["rel_l2"]["all"] if v is not None]
            totals += torch.tensor([sum(values) / max(len(values), 1), 1.0], dtype=torch.float64)
        totals = all_reduce_sum(totals, self.context)
        return float(totals[0] / totals[1]) if totals[1] > 0 else None

    # ---------------------------------------------------------------------------------------

    def fit(self, *, resume: bool = False, until_epoch: int | None = None) -> TrainResult:
        """Train until ``config.epochs`` (or early stopping); checkpoint every epoch.

        Parameters
        ----------
        resume : bool, default: False
            Continue from ``last/`` of the run folder (its optimizer, scheduler, counters
            and random states): the result equals that of a run never interrupted.
        until_epoch : int, optional
            Stop after this epoch in this call (the schedule still spans ``config.epochs``;
            a later ``fit(resume=True)`` goes on). default: ``config.epochs``.

        Returns
        -------
        TrainResult
        """
        if resume:
            self.load_state(self.checkpoint_root / "last")
        elif self.context.is_main:
            self._start_run_folder()
        end = self.config.epochs if until_epoch is None else min(until_epoch, self.config.epochs)
        log: list[dict[str, Any]] = []
        start_time = time.perf_counter()
        while self.epoch < end and not self.stopped_early and not self.budget_spent:
            epoch = self.epoch + 1
            began = time.perf_counter()
            losses = self.train_epoch(epoch)
            val = self.validate()
            metric = val if val is not None else losses["train_loss"]
            improved = metric < self.best_metric - self.config.min_delta
            if improved:
                self.best_metric, self.best_epoch, self.epochs_since_best = (
                    metric,
                    epoch,
                    0,
                )
            else:
                self.epochs_since_best += 1
            self.epoch = epoch
            if (
                val is not None
                and self.config.patience is not None
                and self.epochs_since_best >= self.config.patience
            ):
                self.stopped_early = True
            entry = {
                "epoch": epoch,
                "step": self.global_step,
                **losses,
                "val_rollout_rel_l2": val,
                "lr": self.optimizer.param_groups[0]["lr"],
                "best": improved,
                "epoch_time_s": time.perf_counter() - began,
                "time_s": time.perf_counter() - start_time,
                "stopped_early": self.stopped_early,
                "train_time_s": self.train_time_s,
            }
            if self.context.is_main:
                metadata = {
                    k: entry[k] for k in ("epoch", "step", "train_loss", "val_rollout_rel_l2")
                }
                # best/ and the log line before last/: a run killed in between resumes from
                # the previous last/, drops the log line, redoes this epoch exactly and writes
                # the same best/ again
                if improved:
                    self._save_checkpoint(self.checkpoint_root / "best", metadata)
                self._append_log(entry)
                self._save_last(metadata)
            log.append(entry)
        return TrainResult(
            epoch=self.epoch,
            best_epoch=self.best_epoch,
            best_metric=self.best_metric,
            stopped_early=self.stopped_early,
            log=log,
            run_dir=self.checkpoint_root,
        )

    # ---------------------------------------------------------------------------------------
    # files

    def _start_run_folder(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_root.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(self.run_dir / "train.json", self.config.to_dict())
        if self.log_path.exists():
            self.log_path.unlink()  # a fresh run replaces the log of an earlier one

    def _append_log(self, entry: Mapping[str, Any]) -> None:
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _metadata(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        metadata = {**extra, "train_config": self.config.to_dict()}
        if self.boundary_names is not None:
            # what each boundary tag meant in training: generate matches meshes by these names
            metadata["boundary_names"] = self.boundary_names
        return metadata

    def _save_checkpoint(self, path: Path, metadata: Mapping[str, Any]) -> Path:
        from meshfield.checkpoint import save_checkpoint

        return save_checkpoint(
            self.model,
            path,
            data_spec=self.data_spec,
            metadata=self._metadata(metadata),
        )

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """The training state: JSON values and tensors (no model weights)."""
        optimizer_info, optimizer_tensors = optimizer_state(self.optimizer)
        rng_info, rng_tensors = rng_state()
        info = {
            "format": STATE_FORMAT,
            "version": 1,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best_metric": None if math.isinf(self.best_metric) else self.best_metric,
            "best_epoch": self.best_epoch,
            "epochs_since_best": self.epochs_since_best,
            "stopped_early": self.stopped_early,
            "train_time_s": self.train_time_s,
            "budget_spent": self.budget_spent,
            "world_size": self.context.world_size,
            "config": self.config.to_dict(),
            "optimizer": optimizer_info,
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_info,
        }
        return info, {**optimizer_tensors, **rng_tensors}

    def _save_last(self, metadata: Mapping[str, Any]) -> Path:
        """Checkpoint and training state into ``last/`` in one atomic rename."""
        from safetensors.torch import save_file

        from meshfield.checkpoint import write_checkpoint_files

        root = self.checkpoint_root
        final, staging, old = root / "last", root / ".last.staging", root / ".last.old"
        # fixed names: a killed save's staging folder is cleared by the next one, and a kill
        # between the two renames leaves the previous state in .last.old for load_state
        with atomic_folder(final, staging=staging, old=old) as folder:
            write_checkpoint_files(
                self.model, folder, data_spec=self.data_spec, metadata=self._metadata(metadata)
            )
            info, tensors = self.state()
            save_file(tensors, str(folder / STATE_TENSORS), metadata={"format": STATE_FORMAT})
            _write_json(folder / STATE_JSON, info)
        return final

    def load_state(self, path: Path) -> None:
        """Restore model, optimizer, scheduler, counters and random states from ``path``.

        ``path`` is a ``last/`` folder; when a crash interrupted its replacement, the
        previous one (``.last.old``) is used.
        """
        from safetensors.torch import load_file

        from meshfield.checkpoint import load_model

        path = Path(path)
        if not (path / STATE_JSON).is_file() and (path.parent / ".last.old" / STATE_JSON).is_file():
            path = path.parent / ".last.old"
        if not (path / STATE_JSON).is_file():
            msg = f"Cannot resume: no training state ({STATE_JSON}) in {path}"
            raise FileNotFoundError(msg)
        info = json.loads((path / STATE_JSON).read_text(encoding="utf-8"))
        if info.get("format") != STATE_FORMAT:
            msg = f"{path / STATE_JSON} is not a meshfield training state"
            raise ValueError(msg)
        if info.get("world_size", 1) != self.context.world_size:
            logger.warning(
                "resuming a run of %s process(es) with %s: the batches differ from an "
                "uninterrupted run",
                info.get("world_size"),
                self.context.world_size,
            )
        saved = load_model(path)
        if saved.config != self.model.config:
            msg = f"Cannot resume: the model in {path} has another configuration than this run's"
            raise ValueError(msg)
        self.model.load_state_dict(saved.state_dict())
        tensors = load_file(str(path / STATE_TENSORS))
        load_optimizer_state(self.optimizer, info["optimizer"], tensors)
        self.scheduler.load_state_dict(info["scheduler"])
        self.epoch = int(info["epoch"])
        self.global_step = int(info["global_step"])
        best = info["best_metric"]
        self.best_metric = math.inf if best is None else float(best)
        self.best_epoch = int(info["best_epoch"])
        self.epochs_since_best = int(info["epochs_since_best"])
        self.stopped_early = bool(info["stopped_early"])
        self.train_time_s = float(info.get("train_time_s", 0.0))
        # against this run's budget, not the saved flag: a budget raised since goes on
        budget = self.config.time_budget_s
        self.budget_spent = budget is not None and self.train_time_s >= budget
        load_rng_state(info["rng"], tensors)
        if self.context.is_main and self.log_path.is_file():
            # drop log lines of epochs after the saved state (written before a crash)
            lines = self.log_path.read_text(encoding="utf-8").splitlines()
            kept = [
                line for line in lines if line.strip() and json.loads(line)["epoch"] <= self.epoch
            ]
            write_atomic(self.log_path, "".join(line + "\n" for line in kept))


# -------------------------------------------------------------------------------------------
# the entry point


def _is_spec(path: Path) -> bool:
    return path.is_file() and path.suffix in (".yaml", ".yml")


def prepare_data(
    source: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    jobs: int = 1,
    progress: bool = False,
) -> Path:
    """The dataset folder of a spec or folder, generating the data when it is missing.

    Parameters
    ----------
    source : str or Path
        A dataset folder, or a data spec (YAML).
    data_dir : str or Path, optional
        For a spec: where its dataset is (or goes). default: ``data/<spec name>``.
    jobs : int, default: 1
        Simulations at once when generating.
    progress : bool, default: False
        Progress bar of the generation.

    Returns
    -------
    pathlib.Path
        A folder with ``index.json`` and the runs.
    """
    from meshfield.data.dataset import read_index

    path = Path(source)
    if not _is_spec(path):
        if not path.is_dir():
            msg = f"{path}: neither a dataset folder nor a data spec (.yaml)"
            raise FileNotFoundError(msg)
        return path
    folder = Path(data_dir) if data_dir is not None else Path("data") / path.stem
    index = read_index(folder) if folder.is_dir() else None
    if index is None or not index.get("complete", False):
        from meshfield.cases.datagen import datagen

        datagen(path, folder, jobs=jobs, progress=progress)
    return folder


def train(
    config: TrainConfig,
    data: str | os.PathLike[str],
    *,
    resume: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    until_epoch: int | None = None,
) -> TrainResult:
    """Train a model on a dataset folder or a data spec (generated first when missing).

    Under ``torchrun`` every process calls this; rank 0 generates missing data while the
    others wait, then all train in data parallel.

    Parameters
    ----------
    config : TrainConfig
        The run (model, optimizer, schedule, run folder, ...).
    data : str or Path
        A dataset folder, or a data spec (YAML).
    resume : bool, default: False
        Continue the run in ``config.out_dir`` exactly where it stopped.
    data_dir : str or Path, optional
        Dataset folder of a spec. default: ``data/<spec name>``.
    jobs : int, default: 1
        Simulations at once when generating data.
    until_epoch : int, optional
        Stop after this epoch in this call. default: ``config.epochs``.

    Returns
    -------
    TrainResult
    """
    import torch.distributed as dist

    from meshfield.data import load_dataset, load_spec
    from meshfield.data.dataset import read_index

    context = setup(config.device)
    try:
        if context.is_main:
            folder = prepare_data(data, data_dir, jobs=jobs, progress=config.progress)
        if context.distributed:
            dist.barrier()
        if not context.is_main:
            folder = prepare_data(data, data_dir, jobs=jobs, progress=False)
        folders = [folder]
        for extra in config.extra_data:
            # an extra spec's data goes to data/<spec name>; it is never the run's --data
            if context.is_main:
                folders.append(prepare_data(extra, jobs=jobs, progress=config.progress))
            if context.distributed:
                dist.barrier()
            if not context.is_main:
                folders.append(prepare_data(extra, progress=False))
        train_set = load_dataset(folders, "train")
        with_val = [f for f in folders if "val" in (read_index(f) or {}).get("splits", {})]
        val_set = load_dataset(with_val, "val") if with_val else None
        spec_file = folder / "spec.yaml"
        spec = load_spec(spec_file) if spec_file.is_file() else None
        trainer = Trainer(config, train_set, val_set, data_spec=spec, context=context)
        result = trainer.fit(resume=resume, until_epoch=until_epoch)
        if context.distributed:
            dist.barrier()
        return result
    finally:
        cleanup(context)


def __getattr__(name: str) -> Any:
    # the command line moved to meshfield.cli.train
    if name == "run_train":
        import meshfield.cli.train as moved
        from meshfield._moved import moved_name

        return moved_name(__name__, "run", moved)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
