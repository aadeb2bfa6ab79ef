"""The configuration of a training run: one frozen dataclass, stored as JSON with the run."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshfield._config import Config

__all__ = ["TrainConfig", "config_from_args", "model_options"]

_SCHEDULES = ("cosine", "constant")
_UNROLL_LOSSES = ("all", "last")
_DEVICES = ("auto", "cpu", "cuda")


def _frozen_mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"'{key}' must be a mapping of configuration fields (got {type(value).__name__})"
        raise TypeError(msg)
    try:
        # a plain JSON copy: the run's config.json must reproduce it exactly
        return json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as err:
        msg = f"'{key}' must hold JSON values only: {err}"
        raise TypeError(msg) from None


@dataclass(frozen=True)
class TrainConfig(Config):
    r"""Everything that defines a training run of :func:`meshfield.train.train`.

    Parameters
    ----------
    model : str, default: "hmt"
        A name of :data:`meshfield.models.MODEL_NAMES` (``"hmt"``, ``"meshgraphnet"``,
        ``"transformer"``, ``"hmt-no-mamba"``, ``"hmt-no-attention"``).
    width : int, optional
        Token width of the model (``backbone.d_model`` of HMT, ``width`` of the baselines).
        default: the model's own default (128).
    model_options : mapping, default: {}
        Further configuration fields of the model (JSON values; nested configurations as
        mappings), e.g. ``{"num_layers": 4}`` or ``{"backbone": {"pattern": "MA"}}``.
    history : int, default: 1
        Input frames per step.
    frame_step : int, default: 1
        Snapshots per model step: windows take every ``frame_step``-th frame of a trajectory
        (from every start), so the model learns a step of ``frame_step`` snapshot intervals
        and rolls a trajectory out in ``frame_step`` times fewer steps. Recorded in the model
        (``config.frame_step``); validation, evaluation and generation follow it.
    epochs : int, default: 20
        Passes over the training windows.
    batch_size : int, default: 4
        Windows per optimizer step and process (the global batch under ``torchrun`` is
        ``batch_size`` times the number of processes).
    steps_per_epoch : int, optional
        Stop an epoch after this many optimizer steps. default: every batch.
    lr : float, default: 1e-3
        Peak learning rate of AdamW.
    weight_decay : float, default: 1e-4
        Decoupled weight decay of AdamW.
    warmup_steps : int, default: 100
        Optimizer steps of linear warm-up from 0 to ``lr``.
    schedule : {"cosine", "constant"}, default: "cosine"
        After the warm-up, a half-cosine decay to ``min_lr`` at the last step, or ``lr``
        throughout. With ``time_budget_s`` the cosine follows whichever is further along,
        the steps or the seconds of the budget, so it ends where the run ends.
    min_lr : float, default: 0.0
        Learning rate at the end of the cosine decay.
    grad_clip : float, optional
        Clip the global gradient norm to this value. default: 1.0; ``None`` disables it.
    noise_std : float, default: 0.0
        Standard deviation of the Gaussian noise added to the input frames, in units of each
        field's standard deviation; the target is the increment from the noisy frame to the
        true next one, so the model learns to correct its own drift (MeshGraphNets).
    pushforward_steps : int, default: 0
        Extra steps unrolled from the model's own predictions, each with its one-step loss;
        0 trains on one step only.
    pushforward_grad : bool, default: False
        Backpropagate through the unrolled steps (a multi-step rollout loss). By default the
        unrolled inputs are detached: each step's loss trains that step alone.
    unroll_loss : {"all", "last"}, default: "all"
        Which unrolled steps are trained: every one, or only the last, the steps before it
        run without gradients (the pushforward trick of Brandstetter et al.: the model learns
        from inputs of its own making at the cost of one backward pass per window). ``"last"``
        needs ``pushforward_grad`` false.
    state_warmup : int or None, default: None
        Steps on which the temporal state of a model that has one (HMT) is advanced, teacher
        forced and without gradients, over the frames before each window, so that the
        window's unroll starts from the state a rollout from the trajectory's start meets
        there. ``None``: from the trajectory's start (exact); ``k``: the last ``k`` steps
        before the window (from a fresh state before them); 0: every window starts fresh.
    state_carry : bool, default: False
        Carry the temporal state from each window to the next of the same trajectory instead
        of warming it up again: every batch position walks one trajectory in time order
        (:class:`~meshfield.train.TrajectoryStreams`), its windows ``1 + pushforward_steps``
        frames apart, and starts each window from the state its previous unroll ended with
        (detached: truncated backpropagation through time), a state made from the model's
        own predictions, as in a rollout. Only a trajectory's first window is warmed up
        (``state_warmup``); the carried state is dropped at every epoch.
    horizon_ramp_epochs : int, default: 0
        Curriculum of the unroll: the trained horizon grows linearly from 1 step in the first
        epoch to ``1 + pushforward_steps`` at epoch ``horizon_ramp_epochs + 1``; 0 trains
        the whole horizon from the start.
    init_from : str, optional
        A checkpoint (or run folder) whose weights and normalization start the run; its
        model configuration must equal this run's. default: a fresh initialization.
    extra_data : tuple of str, default: ()
        More dataset folders (or data specs) whose train and val runs join those of the
        run's data: typically the same case on a mesh of another resolution, so that the
        model meets more than one node spacing. Fields and conditions must agree.
    time_budget_s : float, optional
        Stop training after this many seconds of optimizer steps (over all resumptions of
        the run; the epoch in progress ends there, is validated and checkpointed). A run
        resumed with a larger budget goes on until the new one is spent. default: no budget.
    initial_weight : float, default: 1.0
        Weight of the loss of the initial head (the first frame from the mesh and the
        conditions alone); 0 leaves that head untrained.
    initial_every : int, default: 1
        Train the initial head on every ``k``-th optimizer step only, its loss weighted ``k``
        times there (the same gradient in expectation). Its target is one frame per run, so
        it needs fewer steps than the time steps do, and a step without it skips a forward
        and backward pass of the model: about a fifth of the shipped recipe's step.
    val_runs : int, optional
        Validation trajectories rolled out after each epoch. default: all.
    patience : int, optional
        Stop when the validation rollout error has not improved for this many epochs.
        default: never stop early.
    min_delta : float, default: 0.0
        Smallest decrease of the validation error that counts as an improvement.
    seed : int, default: 0
        Seeds Python, NumPy and torch, the shuffling and the training noise.
    num_workers : int, default: 0
        Data-loading worker processes.
    cache_runs : int, default: 16
        Trajectories each process (and worker) keeps in memory between windows.
    device : {"auto", "cpu", "cuda"}, default: "auto"
        ``"auto"`` takes a GPU when there is one.
    out_dir : str, default: "runs/train"
        The run folder: ``last/`` and ``best/`` checkpoints, ``log.jsonl``, ``train.json``.
    log_dir, checkpoint_dir : str, optional
        Where the log and the checkpoints go. default: ``out_dir``.
    progress : bool, default: True
        Show a progress bar (tqdm) on the main process.
    compile : bool, default: False
        Run the model step under ``torch.compile``
        (:meth:`~meshfield.models.FieldModel.compile_step`): the first steps compile (several
        minutes on 2 CPU cores, seconds from the on-disk cache), the rest run faster (1.26x
        for the shipped recipe there); eager again, with one warning, where compilation fails.

    Example
    -------
    >>> cfg = TrainConfig(model="meshgraphnet", width=32, epochs=2, out_dir="runs/mgn")
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    model: str = "hmt"
    width: int | None = None
    model_options: Mapping[str, Any] = field(default_factory=dict)
    history: int = 1
    frame_step: int = 1
    epochs: int = 20
    batch_size: int = 4
    steps_per_epoch: int | None = None
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr: float = 0.0
    grad_clip: float | None = 1.0
    noise_std: float = 0.0
    pushforward_steps: int = 0
    pushforward_grad: bool = False
    unroll_loss: str = "all"
    state_warmup: int | None = None
    state_carry: bool = False
    horizon_ramp_epochs: int = 0
    init_from: str | None = None
    extra_data: tuple[str, ...] = ()
    time_budget_s: float | None = None
    initial_weight: float = 1.0
    initial_every: int = 1
    val_runs: int | None = None
    patience: int | None = None
    min_delta: float = 0.0
    seed: int = 0
    num_workers: int = 0
    cache_runs: int = 16
    device: str = "auto"
    out_dir: str = "runs/train"
    log_dir: str | None = None
    checkpoint_dir: str | None = None
    progress: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        from meshfield.models.registry import MODEL_NAMES

        if self.model not in MODEL_NAMES:
            msg = f"'model' must be one of {list(MODEL_NAMES)} (got {self.model!r})"
            raise ValueError(msg)
        object.__setattr__(
            self, "model_options", _frozen_mapping(self.model_options, "model_options")
        )
        extra = self.extra_data
        if isinstance(extra, str) or not isinstance(extra, list | tuple) or not all(
            isinstance(item, str) and item for item in extra
        ):
            msg = f"'extra_data' must be a list of dataset folders (got {extra!r})"
            raise TypeError(msg)
        object.__setattr__(self, "extra_data", tuple(extra))
        positive = {
            "history": self.history,
            "frame_step": self.frame_step,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "initial_every": self.initial_every,
            "cache_runs": self.cache_runs,
        }
        optional_positive = {
            "width": self.width,
            "steps_per_epoch": self.steps_per_epoch,
            "val_runs": self.val_runs,
            "patience": self.patience,
        }
        for key, value in {**positive, **optional_positive}.items():
            if value is None and key in optional_positive:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"'{key}' must be a positive integer (got {value!r})"
                raise ValueError(msg)
        non_negative_int = {
            "warmup_steps": self.warmup_steps,
            "pushforward_steps": self.pushforward_steps,
            "horizon_ramp_epochs": self.horizon_ramp_epochs,
            "num_workers": self.num_workers,
            "seed": self.seed,
        }
        for key, value in non_negative_int.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                msg = f"'{key}' must be an integer >= 0 (got {value!r})"
                raise ValueError(msg)
        non_negative = {
            "weight_decay": self.weight_decay,
            "min_lr": self.min_lr,
            "noise_std": self.noise_std,
            "initial_weight": self.initial_weight,
            "min_delta": self.min_delta,
        }
        for key, value in non_negative.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                msg = f"'{key}' must be a finite number >= 0 (got {value!r})"
                raise ValueError(msg)
        if not isinstance(self.lr, int | float) or not math.isfinite(self.lr) or self.lr <= 0:
            msg = f"'lr' must be a positive number (got {self.lr!r})"
            raise ValueError(msg)
        if self.state_warmup is not None and (
            isinstance(self.state_warmup, bool)
            or not isinstance(self.state_warmup, int)
            or self.state_warmup < 0
        ):
            msg = f"'state_warmup' must be an integer >= 0 or None (got {self.state_warmup!r})"
            raise ValueError(msg)
        if not isinstance(self.state_carry, bool):
            msg = f"'state_carry' must be true or false (got {self.state_carry!r})"
            raise ValueError(msg)
        if self.time_budget_s is not None and (
            isinstance(self.time_budget_s, bool)
            or not isinstance(self.time_budget_s, int | float)
            or not math.isfinite(self.time_budget_s)
            or self.time_budget_s <= 0
        ):
            msg = f"'time_budget_s' must be a positive number or None (got {self.time_budget_s!r})"
            raise ValueError(msg)
        if self.init_from is not None and not isinstance(self.init_from, str):
            msg = f"'init_from' must be a path (got {type(self.init_from).__name__})"
            raise TypeError(msg)
        if self.min_lr > self.lr:
            msg = f"'min_lr' must not exceed 'lr' (got {self.min_lr} > {self.lr})"
            raise ValueError(msg)
        if self.grad_clip is not None and not (self.grad_clip > 0):
            msg = f"'grad_clip' must be positive or None (got {self.grad_clip!r})"
            raise ValueError(msg)
        if self.unroll_loss not in _UNROLL_LOSSES:
            msg = (
                f"'unroll_loss' must be one of {list(_UNROLL_LOSSES)} (got {self.unroll_loss!r})"
            )
            raise ValueError(msg)
        if self.unroll_loss == "last" and self.pushforward_grad:
            msg = (
                "'unroll_loss' 'last' runs the steps before the last without gradients; "
                "'pushforward_grad' must be false with it "
                "(\"pushforward_grad\": false in a config file)"
            )
            raise ValueError(msg)
        if self.schedule not in _SCHEDULES:
            msg = f"'schedule' must be one of {list(_SCHEDULES)} (got {self.schedule!r})"
            raise ValueError(msg)
        if self.device not in _DEVICES and not str(self.device).startswith("cuda:"):
            msg = f"'device' must be one of {list(_DEVICES)} or 'cuda:N' (got {self.device!r})"
            raise ValueError(msg)

    # ---------------------------------------------------------------------------------------

    @property
    def horizon(self) -> int:
        """Target frames per training window (1 + ``pushforward_steps``)."""
        return 1 + self.pushforward_steps

    def horizon_at(self, epoch: int) -> int:
        """The unrolled horizon trained in epoch ``epoch`` (1-based) under the curriculum."""
        if self.horizon_ramp_epochs == 0 or self.horizon == 1:
            return self.horizon
        grown = 1 + (self.horizon - 1) * (max(epoch, 1) - 1) // self.horizon_ramp_epochs
        return min(self.horizon, grown)

    @property
    def log_path(self) -> str:
        """The JSON-lines log file."""
        return str(_join(self.log_dir or self.out_dir, "log.jsonl"))

    @property
    def checkpoint_root(self) -> str:
        """The folder holding ``last/`` and ``best/``."""
        return self.checkpoint_dir or self.out_dir


def _join(folder: str, name: str) -> str:
    from pathlib import Path

    return str(Path(folder) / name)


def model_options(
    config: TrainConfig,
    field_names: tuple[str, ...],
    cond_names: tuple[str, ...],
    dim: int,
) -> dict[str, Any]:
    """The keyword options :func:`meshfield.models.build_model` gets for a run.

    ``width`` goes to the backbone's ``d_model`` for the HMT family and to ``width``
    otherwise; ``model_options`` are merged on top (nested mappings merged key by key).

    Parameters
    ----------
    config : TrainConfig
        The run.
    field_names, cond_names : tuple of str
        Channels and conditions of the dataset.
    dim : int
        Spatial dimension of its meshes.

    Returns
    -------
    dict
        Options for ``build_model(config.model, **options)``.
    """
    options: dict[str, Any] = {
        "field_names": tuple(field_names),
        "cond_names": tuple(cond_names),
        "dim": int(dim),
        "history": config.history,
        "frame_step": config.frame_step,
    }
    if config.width is not None:
        if config.model.startswith("hmt"):
            options["backbone"] = {"d_model": config.width}
        else:
            options["width"] = config.width
    for key, value in config.model_options.items():
        if isinstance(value, Mapping) and isinstance(options.get(key), Mapping):
            options[key] = {**options[key], **value}
        else:
            options[key] = value
    return options


#: TrainConfig fields without a ``meshfield train`` option of their name: ``--out`` sets
#: ``out_dir`` and ``--quiet`` ``progress``; the others are set in a ``--config`` file only.
#: Every other field is an option of its name (:mod:`meshfield.cli.train`).
NOT_OPTIONS = frozenset({"out_dir", "log_dir", "checkpoint_dir", "progress", "cache_runs"})


def config_from_args(args: Any, base: TrainConfig | None = None) -> TrainConfig:
    """The TrainConfig of parsed ``meshfield train`` options.

    Options left unset (``None``) keep the value of ``base`` (default: a JSON file given by
    ``--config``, else :class:`TrainConfig` defaults). ``--grad-clip 0`` disables clipping,
    ``--model-options`` is a JSON object, ``--out`` is the run folder and ``--quiet`` turns
    the progress bars off.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options.
    base : TrainConfig, optional
        The configuration the options change (e.g. the saved one of a resumed run).

    Returns
    -------
    TrainConfig
    """
    from pathlib import Path

    if base is None:
        path = getattr(args, "config", None)
        if path:
            try:
                values = json.loads(Path(path).read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                msg = f"{path}: not valid JSON ({err})"
                raise ValueError(msg) from None
            base = TrainConfig.from_dict(values)
        else:
            base = TrainConfig()
    changes: dict[str, Any] = {}
    for name in (f.name for f in dataclasses.fields(TrainConfig)):
        if name in NOT_OPTIONS or name == "model_options":  # model_options: JSON, below
            continue
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if changes.get("grad_clip") == 0:
        changes["grad_clip"] = None
    if changes.get("state_warmup") == "all":
        changes["state_warmup"] = None
    elif "state_warmup" in changes:
        try:
            changes["state_warmup"] = int(changes["state_warmup"])
        except ValueError:
            msg = f"--state-warmup: expected 'all' or an integer >= 0 (got {changes['state_warmup']!r})"
            raise ValueError(msg) from None
    text = getattr(args, "model_options", None)
    if text:
        try:
            changes["model_options"] = json.loads(text)
        except json.JSONDecodeError as err:
            msg = f"--model-options: expected a JSON object ({err})"
            raise ValueError(msg) from None
    if getattr(args, "out", None):
        changes["out_dir"] = str(args.out)
    if getattr(args, "quiet", False):
        changes["progress"] = False
    return base.replace(**changes)
