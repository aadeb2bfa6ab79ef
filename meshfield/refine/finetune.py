r"""Physics-informed fine-tuning, self-supervised: fit the PDE, stay close to the pretrained field.

The pretrained model is rolled out once per trajectory (the *anchor*: its own prediction,
no reference data involved) and frozen; a :class:`~meshfield.refine.refiner.PhysicsRefiner`
learns to correct every predicted frame. For a frame :math:`n` drawn at random, with
:math:`\hat u^n` the pretrained frame and :math:`\tilde u^n` the corrected one,

.. math::
    L = w_\text{pde}\,\frac1{QK}\sum_{q,k}\Big(\frac{r_k(\tilde u; q)}{s_k}\Big)^2
      + w_\text{data}\,\frac1{NC}\sum_{i,c}\Big(\frac{\tilde u^n_{ic} - \hat u^n_{ic}}
        {\sigma_c}\Big)^2
      + w_\text{bc}\,\frac1{|B|}\sum_{(q,c)\in B}\Big(\frac{\tilde u_c(q) - g_c(q)}
        {\sigma_c}\Big)^2
      + w_\text{query}\,\frac1{QC}\sum_{q,c}\Big(\frac{\tilde u_c(q) - \Pi\tilde u^n_c(q)}
        {\sigma_c}\Big)^2
      + w_\text{mesh}\,\frac1{NK}\sum_{i,k}\Big(\frac{r^h_{ik}(\tilde u)}{s^h_k}\Big)^2

* :math:`r_k(\tilde u; q)` is the residual of the transition :math:`\tilde u^{n-1} \to
  \tilde u^n` at query points drawn uniformly in the cells, in physical units
  (:func:`~meshfield.refine.refiner.transition_residual`), and :math:`s_k` the root mean
  square of the *pretrained* prediction's residual, measured once before training
  (``residual_scale``), so the PDE term starts at 1 whatever the units;
* the data term keeps the field characteristics the data taught (:math:`\sigma_c`: the
  model's field scale);
* the boundary term holds the Dirichlet values :math:`g` (constants or conditions,
  :class:`~meshfield.refine.refiner.BoundaryValue`) at points drawn on their groups;
* the query term keeps the point-query decoder :math:`\tilde u(q)` faithful to the node field
  (:math:`\Pi`: linear interpolation in the cell). Pretraining never trains that decoder, so
  ``calibration_steps`` fit it to the anchors first; afterwards it is trained by the query
  term only, so it cannot lower the residual on its own: only the node correction can.
* :math:`r^h` is the same PDE's residual at the interior nodes by the discrete mesh operators
  (:meth:`~meshfield.physics.PDE.mesh_residual`, backward difference in time), scaled by the
  pretrained prediction's :math:`s^h_k`: the autograd residual between the nodes and the
  discrete one at them see different errors of the node field, and R is reported with the
  discrete one. ``w_mesh = 0`` leaves the point-query residual alone.

Defaults (:class:`FinetuneConfig`): :math:`w_\text{pde} = 1`, :math:`w_\text{data} = 10`,
:math:`w_\text{bc} = 1`, :math:`w_\text{query} = 1`, :math:`w_\text{mesh} = 1`. Raise ``w_data`` to stay closer to the
data; lower it to enforce the PDE harder.

Two modes: :func:`finetune` over the trajectories of a dataset (the reference frames are used
only for the initial frames of each rollout), and :func:`finetune_test_time` on one new mesh
and condition with no reference data. :func:`compare_refinement` reports R and MSE before and
after, per condition (:class:`~meshfield.metrics.MSER`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from meshfield._config import Config
from meshfield._files import atomic_folder
from meshfield.physics.mesh_ops import MeshOperators
from meshfield.physics.pde import PDE
from meshfield.physics.registry import pde_to_dict
from meshfield.physics.sampling import MeshSampler
from meshfield.refine.refiner import (
    BoundaryValue,
    PhysicsRefiner,
    RefinedModel,
    RefinerConfig,
    _cond_dict,
    _frame_times,
    _model_cond,
    apply_refiner,
    boundary_targets,
    check_projection,
    draw_points,
    refine_step,
    save_refined_checkpoint,
    transition_residual,
)
from meshfield.train.validation import at_model_step

__all__ = [
    "FinetuneConfig",
    "FinetuneResult",
    "compare_refinement",
    "default_boundary_values",
    "finetune",
    "finetune_test_time",
    "format_refinement_table",
    "trainable_parameters",
]


@dataclass(frozen=True)
class FinetuneConfig(Config):
    """Settings of a fine-tuning run (weights of the loss in the module notes).

    Parameters
    ----------
    steps : int, optional
        Optimizer steps of the refinement. default: 500.
    calibration_steps : int, optional
        Steps fitting the point-query decoder to the anchors first (0 to skip). default: 100.
    lr : float, optional
        Learning rate (Adam). default: 1e-3.
    w_pde : float, optional
        Weight of the residual at the query points. default: 1.
    w_data : float, optional
        Weight of the distance to the pretrained field. default: 10.
    w_bc : float, optional
        Weight of the boundary values. default: 1.
    w_query : float, optional
        Weight of the point-query decoder's faithfulness to the node field. default: 1.
    w_mesh : float, optional
        Weight of the residual at the nodes (mesh operators). default: 1.
    unfreeze_last : int, optional
        Also train the last ``k`` blocks of the backbone (0: the backbone stays frozen).
        default: 0.
    train_query_decoder : bool, optional
        Train the point-query decoder (by the query term only). default: ``True``.
    hidden : int, optional
        Width of the refiner. default: 32.
    domain_points : int, optional
        Query points drawn in the domain per frame. default: 256.
    boundary_points : int, optional
        Query points drawn on the boundary groups per frame. default: 64.
    pooling : {"attention", "mean"}, optional
        How nodes read the residual latents. default: attention.
    grad_clip : float, optional
        Global gradient-norm clip. ``None``: no clipping. default: 1.0.
    seed : int, optional
        Seeds the frame choice and the query points (step ``i`` uses ``seed + i``, so a
        resumed run continues exactly). default: 0.
    log_every : int, optional
        Steps between log lines. default: 10.
    checkpoint_every : int, optional
        Steps between saved states (for ``resume``). default: 100.
    progress : bool, optional
        Show a progress bar (tqdm). default: ``True``.
    projection : float, optional
        Weight of a residual projection that ends every refined trajectory
        (:func:`~meshfield.physics.projection.project_residual`); with ``steps=0`` the
        refiner only projects (no learned correction). default: none.
    projection_iterations : int, optional
        L-BFGS iterations of the projection. default: 20.
    """

    steps: int = 500
    calibration_steps: int = 100
    lr: float = 1e-3
    w_pde: float = 1.0
    w_data: float = 10.0
    w_bc: float = 1.0
    w_query: float = 1.0
    w_mesh: float = 1.0
    unfreeze_last: int = 0
    train_query_decoder: bool = True
    hidden: int = 32
    domain_points: int = 256
    boundary_points: int = 64
    pooling: str = "attention"
    grad_clip: float | None = 1.0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 100
    progress: bool = True
    projection: float | None = None
    projection_iterations: int = 20

    def __post_init__(self) -> None:
        for name in ("steps", "calibration_steps", "unfreeze_last"):
            if int(getattr(self, name)) < 0:
                msg = f"Expected '{name}' >= 0 (got {getattr(self, name)})"
                raise ValueError(msg)
        for name in ("w_pde", "w_data", "w_bc", "w_query", "w_mesh"):
            if float(getattr(self, name)) < 0:
                msg = f"Expected a non-negative '{name}' (got {getattr(self, name)})"
                raise ValueError(msg)
        if self.lr <= 0:
            msg = f"Expected a positive 'lr' (got {self.lr})"
            raise ValueError(msg)
        check_projection(self.projection, self.projection_iterations)

    @property
    def total_steps(self) -> int:
        """Calibration and refinement steps together (0: the refiner is not trained)."""
        return int(self.calibration_steps) + int(self.steps)


@dataclass
class FinetuneResult:
    """What a fine-tuning run produced."""

    refiner: PhysicsRefiner
    #: root mean square residual of the pretrained prediction per component (the scale)
    residual_scale: list[float]
    #: the last logged losses
    losses: dict[str, float] = field(default_factory=dict)
    #: where the checkpoint went (``None`` if not written)
    checkpoint: Path | None = None
    steps: int = 0
    #: the model and the refiner as one module (what ``checkpoint`` holds when written)
    refined: RefinedModel | None = None


# -------------------------------------------------------------------------------------------
# parameters


def _backbone_blocks(model: nn.Module) -> list[nn.Module]:
    for owner, name in ((getattr(model, "backbone", None), "blocks"), (model, "blocks"),
                        (model, "processor")):
        blocks = getattr(owner, name, None) if owner is not None else None
        if isinstance(blocks, nn.ModuleList):
            return list(blocks)
    return []


def trainable_parameters(
    model: nn.Module, *, unfreeze_last: int = 0, train_query_decoder: bool = True
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Freeze the model except what fine-tuning trains; return those parameters.

    Parameters
    ----------
    model : FieldModel
        The pretrained model (its ``requires_grad`` flags are set here).
    unfreeze_last : int, optional
        Last backbone blocks to train. default: 0.
    train_query_decoder : bool, optional
        Train the point-query decoder. default: ``True``.

    Returns
    -------
    blocks, query : list of Parameter
        Parameters of the unfrozen blocks, and of the query decoder.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    blocks: list[nn.Parameter] = []
    if unfreeze_last > 0:
        available = _backbone_blocks(model)
        if unfreeze_last > len(available):
            msg = (
                f"'unfreeze_last' is {unfreeze_last}, but the {type(model).__name__} has "
                f"{len(available)} blocks"
            )
            raise ValueError(msg)
        for block in available[-unfreeze_last:]:
            for p in block.parameters():
                p.requires_grad_(True)
                blocks.append(p)
    query: list[nn.Parameter] = []
    if train_query_decoder:
        for p in model.query_decoder.parameters():
            p.requires_grad_(True)
            query.append(p)
    return blocks, query


# -------------------------------------------------------------------------------------------
# anchors: the pretrained prediction of every trajectory


class _Anchor:
    """One mesh and condition: the pretrained trajectory and what every step reuses."""

    def __init__(
        self,
        model: nn.Module,
        graph: Any,
        initial: Tensor | None,
        steps: int,
        cond: Mapping[str, float],
        times: Tensor | None,
        dt: float | None,
        cache: bool,
    ) -> None:
        self.graph = graph
        self.cond = dict(cond)
        self.model_cond = _model_cond(model, self.cond)
        self.sampler = MeshSampler(graph)
        self.operators = MeshOperators.from_data(graph)
        # one rollout keeps the frames, the state each step started from and (with a frozen
        # model) the step outputs
        self.trajectory = model.trajectory(
            graph, steps, initial, cond=self.model_cond, keep_outputs=cache
        )
        self.context = self.trajectory.context  # the mesh work of the rollout, reused
        frames = self.trajectory.frames
        self.frames = frames.detach()
        self.start = self.trajectory.start
        self.times = _frame_times(graph, times, frames.size(0), dt)

    def output(self, n: int) -> Any:
        """The output of the step that produced frame ``n`` (kept, else recomputed)."""
        return self.trajectory.step_output(n)

    def dt(self, n: int) -> float:
        return float(self.times[n] - self.times[n - 1])


def _pick(anchors: Sequence[_Anchor], generator: torch.Generator) -> tuple[_Anchor, int]:
    sizes = torch.tensor([a.frames.size(0) - a.start for a in anchors], dtype=torch.float64)
    i = int(torch.multinomial(sizes, 1, generator=generator))
    anchor = anchors[i]
    n = anchor.start + int(torch.randint(sizes[i].long().item(), (1,), generator=generator))
    return anchor, n


# -------------------------------------------------------------------------------------------
# the loop


def _query_term(model: nn.Module, output: Any, pos: Tensor, sample: Any) -> Tensor:
    values = model.query(sample.points, output, pos)
    target = sample.interpolate(output.fields.detach())
    return ((values - target) / model.normalizer.field_std).square().mean()


def _mesh_residual(
    pde: PDE, anchor: _Anchor, previous: Tensor, current: Tensor, n: int, names: Sequence[str]
) -> Tensor:
    frames = torch.stack([previous, current])
    times = anchor.times[n - 1 : n + 1].to(current.dtype)
    residual = pde.mesh_residual(
        anchor.operators, frames, times=times, cond=anchor.cond, field_names=names,
        time_order=1, dtype=None,
    )
    return residual[1, anchor.operators.interior]


def _residual_scale(
    model: nn.Module, pde: PDE, anchors: Sequence[_Anchor], points: int, seed: int
) -> Tensor:
    generator = torch.Generator().manual_seed(seed + 7919)
    total, count = None, 0
    for anchor in anchors:
        for n in range(anchor.start, anchor.frames.size(0)):
            sample = anchor.sampler.domain(points, generator=generator)
            residual, _ = transition_residual(
                model,
                pde,
                anchor.output(n),
                anchor.frames[n - 1],
                anchor.context.pos,
                sample,
                dt=anchor.dt(n),
                cond=anchor.cond,
                time=float(anchor.times[n]),
                before=anchor.frames[n - 2] if n >= 2 else None,
                create_graph=False,
            )
            squares = residual.double().square().sum(0)
            total = squares if total is None else total + squares
            count += residual.size(0)
    rms = (total / max(count, 1)).sqrt()
    return torch.where(rms > 0, rms, torch.ones_like(rms)).float()


def _mesh_scale(model: nn.Module, pde: PDE, anchors: Sequence[_Anchor]) -> Tensor:
    total, count = None, 0
    for anchor in anchors:
        for n in range(anchor.start, anchor.frames.size(0)):
            residual = _mesh_residual(
                pde, anchor, anchor.frames[n - 1], anchor.frames[n], n, model.field_names
            ).detach()
            squares = residual.double().square().sum(0)
            total = squares if total is None else total + squares
            count += residual.size(0)
    rms = (total / max(count, 1)).sqrt()
    return torch.where(rms > 0, rms, torch.ones_like(rms)).float()


def _state_paths(out: Path | None) -> tuple[Path, Path] | None:
    if out is None:
        return None
    folder = out.parent / f".{out.name}.finetune"
    return folder / "state.safetensors", folder / "state.json"


def _state_backup(folder: Path) -> Path:
    return folder.with_name(folder.name + ".old")


def _save_state(
    paths: tuple[Path, Path],
    step: int,
    modules: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    info: Mapping[str, Any],
) -> None:
    from safetensors.torch import save_file

    from meshfield.checkpoint import optimizer_state

    tensors = {}
    for prefix, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{prefix}.{key}"] = value.detach().cpu().contiguous().clone()
    optimizer_info, optimizer_tensors = optimizer_state(optimizer)
    tensors.update(optimizer_tensors)
    weights, meta = paths
    folder = weights.parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    # the two files are swapped in together; a kill between the two renames of the swap
    # leaves the previous pair whole in the backup folder, which _load_state falls back to
    with atomic_folder(folder, old=_state_backup(folder)) as staging:
        save_file(tensors, str(staging / weights.name))
        (staging / meta.name).write_text(
            json.dumps({**dict(info), "step": step, "optimizer": optimizer_info}, indent=2),
            encoding="utf-8",
        )


def _load_state(
    paths: tuple[Path, Path],
    modules: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    info: Mapping[str, Any],
) -> int:
    from safetensors.torch import load_file

    from meshfield.checkpoint import load_optimizer_state

    weights, meta = paths
    if not (weights.is_file() and meta.is_file()):
        backup = _state_backup(weights.parent)
        weights, meta = backup / weights.name, backup / meta.name
        if not (weights.is_file() and meta.is_file()):
            return 0
    stored = json.loads(meta.read_text(encoding="utf-8"))
    if stored.get("config") != info.get("config"):
        msg = f"{meta} was written by a different fine-tuning configuration; cannot resume"
        raise ValueError(msg)
    tensors = load_file(str(weights))
    for prefix, module in modules.items():
        own = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        module.load_state_dict({**module.state_dict(), **own})
    if "optimizer" not in stored:
        msg = f"{meta} holds no optimizer state in this meshfield's format; cannot resume"
        raise ValueError(msg)
    load_optimizer_state(optimizer, stored["optimizer"], tensors)
    return int(stored["step"])


def _train(
    model: nn.Module,
    pde: PDE,
    anchors: Sequence[_Anchor],
    config: FinetuneConfig,
    boundary: Sequence[BoundaryValue],
    *,
    out: Path | None,
    log: Path | None,
    resume: bool,
    metadata: Mapping[str, Any],
) -> FinetuneResult:
    from meshfield._progress import progress_bar

    refiner_config = RefinerConfig(
        field_names=tuple(model.field_names),
        pde=pde_to_dict(pde),
        token_width=int(model.width),
        dim=int(model.config.dim),
        hidden=config.hidden,
        domain_points=config.domain_points,
        boundary_points=config.boundary_points,
        pooling=config.pooling,
        boundary=tuple(boundary),
        learned=config.steps > 0,
        projection=config.projection,
        projection_iterations=config.projection_iterations,
    )
    device = next(iter(model.parameters())).device
    torch.manual_seed(config.seed)
    refiner = PhysicsRefiner(refiner_config).to(device)
    blocks, query = trainable_parameters(
        model, unfreeze_last=config.unfreeze_last, train_query_decoder=config.train_query_decoder
    )
    main_params = list(refiner.parameters()) + blocks
    optimizer = torch.optim.Adam(main_params + query, lr=config.lr)
    paths = _state_paths(out)
    info = {"config": asdict(config), "refiner": refiner_config.to_dict()}
    modules = {"refiner": refiner, "model": model}
    done = _load_state(paths, modules, optimizer, info) if resume and paths else 0
    total = config.total_steps
    norm = model.normalizer
    result = FinetuneResult(refiner, [])
    log_file = log.open("a", encoding="utf-8") if log is not None else None
    bar = progress_bar(total=total, initial=done, desc="finetune", enabled=config.progress)
    model.eval()
    refiner.train()
    started = _time.time()
    mesh_scale: Tensor | None = None
    try:
        for step in range(done, total):
            generator = torch.Generator().manual_seed(config.seed + step)
            anchor, n = _pick(anchors, generator)
            pos = anchor.context.pos
            output = anchor.output(n)
            losses: dict[str, Tensor] = {}
            if step < config.calibration_steps:
                domain, boundary_sample = draw_points(refiner, anchor.sampler, generator)
                losses["query"] = _query_term(model, output, pos, domain)
                main = None
            else:
                if step == config.calibration_steps:
                    refiner.residual_scale.copy_(
                        _residual_scale(model, pde, anchors, config.domain_points, config.seed)
                    )
                if config.w_mesh > 0 and mesh_scale is None:
                    mesh_scale = _mesh_scale(model, pde, anchors)
                kwargs = {"cond": anchor.cond, "generator": generator}
                corrected = refine_step(
                    model, refiner, output, anchor.frames[n - 1], pos, anchor.sampler,
                    dt=anchor.dt(n), time=float(anchor.times[n]),
                    before=anchor.frames[n - 2] if n >= 2 else None, **kwargs,
                )
                previous = anchor.frames[n - 1]
                corrections = [corrected.normalized - output.normalized]
                if n - 1 >= anchor.start:
                    earlier = anchor.output(n - 1)
                    prev_corrected = refine_step(
                        model, refiner, earlier, anchor.frames[n - 2], pos, anchor.sampler,
                        dt=anchor.dt(n - 1), time=float(anchor.times[n - 1]),
                        before=anchor.frames[n - 3] if n >= 3 else None, **kwargs,
                    )
                    previous = prev_corrected.fields
                    corrections.append(prev_corrected.normalized - earlier.normalized)
                domain, boundary_sample = draw_points(refiner, anchor.sampler, generator)
                residual, _ = transition_residual(
                    model, pde, corrected, previous, pos, domain, dt=anchor.dt(n),
                    cond=anchor.cond, time=float(anchor.times[n]),
                    before=anchor.frames[n - 2] if n >= 2 else None,
                )
                scale = refiner.residual_scale.to(residual.dtype)
                losses["pde"] = (residual / scale).square().mean()
                losses["data"] = torch.stack([c.square().mean() for c in corrections]).mean()
                if boundary_sample is not None:
                    target, mask = boundary_targets(
                        boundary, boundary_sample, anchor.sampler.group_names,
                        model.field_names, anchor.cond,
                    )
                    values = model.query(boundary_sample.points, corrected, pos)
                    miss = ((values - target) / norm.field_std).square()
                    losses["bc"] = (miss * mask).sum() / mask.sum().clamp(min=1)
                if config.w_mesh > 0:
                    mesh = _mesh_residual(
                        pde, anchor, previous, corrected.fields, n, model.field_names
                    )
                    losses["mesh"] = (mesh / mesh_scale.to(mesh.dtype)).square().mean()
                main = (
                    config.w_mesh * losses.get("mesh", residual.new_zeros(()))
                    + config.w_pde * losses["pde"]
                    + config.w_data * losses["data"]
                    + config.w_bc * losses.get("bc", residual.new_zeros(()))
                )
                if query:
                    losses["query"] = _query_term(model, corrected, pos, domain)
            optimizer.zero_grad(set_to_none=True)
            if main is not None:
                grads = torch.autograd.grad(
                    main, main_params, retain_graph=bool(query), allow_unused=True
                )
                for p, g in zip(main_params, grads, strict=True):
                    p.grad = g
            if query and "query" in losses:
                grads = torch.autograd.grad(
                    config.w_query * losses["query"], query, allow_unused=True
                )
                for p, g in zip(query, grads, strict=True):
                    p.grad = g
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(main_params + query, config.grad_clip)
            optimizer.step()
            bar.update(1)
            values = {k: float(v.detach()) for k, v in losses.items()}
            result.losses = values
            if log_file is not None and (step + 1) % config.log_every == 0:
                entry = {"step": step + 1, "phase": "calibration" if main is None else "refine",
                         "time_s": round(_time.time() - started, 3), **values}
                log_file.write(json.dumps(entry) + "\n")
                log_file.flush()
            if paths and (step + 1) % config.checkpoint_every == 0 and step + 1 < total:
                _save_state(paths, step + 1, modules, optimizer, info)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    for p in model.parameters():
        p.requires_grad_(False)
    refiner.eval()
    result.refined = RefinedModel(model, refiner)
    result.residual_scale = refiner.residual_scale.tolist()
    result.steps = total
    if out is not None:
        result.checkpoint = save_refined_checkpoint(
            model,
            refiner,
            out,
            metadata={**dict(metadata), "finetune": asdict(config)},
            refiner_info={"finetune": asdict(config), **dict(metadata)},
        )
        if paths:
            for path in paths:
                path.unlink(missing_ok=True)
            if paths[0].parent.is_dir() and not any(paths[0].parent.iterdir()):
                paths[0].parent.rmdir()
            shutil.rmtree(_state_backup(paths[0].parent), ignore_errors=True)
    return result


def finetune(
    model: nn.Module,
    dataset: Any,
    pde: PDE,
    *,
    config: FinetuneConfig | None = None,
    boundary: Sequence[BoundaryValue] = (),
    out: str | os.PathLike[str] | None = None,
    log: str | os.PathLike[str] | None = None,
    resume: bool = False,
    max_runs: int | None = None,
) -> FinetuneResult:
    """Fine-tune a refiner for a model over the trajectories of a dataset (self-supervised).

    Each trajectory is rolled out by the pretrained model from its first ``model.history``
    frames over its whole length; the refiner then learns to correct those predictions
    (loss in the module notes). The reference frames after the initial ones are never read.

    Parameters
    ----------
    model : FieldModel
        The pretrained model (modified in place when ``unfreeze_last`` or the query decoder
        is trained).
    dataset : MeshDataset or sequence of MeshGraph
        Trajectories with ``fields [T, N, C]``, ``cells``, conditions and ``times``.
    pde : PDE
        The governing equations (:mod:`meshfield.physics`).
    config : FinetuneConfig, optional
        Settings. default: ``FinetuneConfig()``.
    boundary : sequence of BoundaryValue, optional
        Dirichlet values to enforce. default: none.
    out : str or path-like, optional
        Write the checkpoint (model and refiner) there, atomically. default: do not write.
    log : str or path-like, optional
        Append JSON lines (step, phase, losses) there. default: no log.
    resume : bool, optional
        Continue from the state saved beside ``out`` by an interrupted run. default: no.
    max_runs : int, optional
        Only the first trajectories. default: all.

    Returns
    -------
    FinetuneResult
        The refiner, the model with it (``refined``), the residual scale, the last losses.
    """
    config = config or FinetuneConfig()
    count = len(dataset) if max_runs is None else min(max_runs, len(dataset))
    if count == 0:
        msg = "finetune: the dataset has no trajectories"
        raise ValueError(msg)
    frozen = config.unfreeze_last == 0
    anchors = []
    for i in range(count):
        graph = at_model_step(dataset[i], model)  # the frames the model steps through
        initial = graph.fields[: model.history].float()
        steps = graph.fields.size(0) - initial.size(0)
        if steps < 1:
            msg = f"finetune: trajectory {i} has no frame after its {initial.size(0)} initial ones"
            raise ValueError(msg)
        if config.total_steps > 0:  # a rollout per run, read only by the training steps
            anchors.append(
                _Anchor(model, graph, initial, steps, _cond_dict(model, graph, None),
                        None, None, frozen)
            )
    return _train(
        model, pde, anchors, config, boundary,
        out=Path(out) if out is not None else None,
        log=Path(log) if log is not None else None,
        resume=resume,
        metadata={"mode": "dataset", "runs": count},
    )


def finetune_test_time(
    model: nn.Module,
    mesh: Any,
    cond: Mapping[str, float],
    pde: PDE,
    *,
    steps: int,
    dt: float | None = None,
    times: Tensor | None = None,
    initial: Tensor | None = None,
    config: FinetuneConfig | None = None,
    boundary: Sequence[BoundaryValue] = (),
    out: str | os.PathLike[str] | None = None,
    log: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> FinetuneResult:
    """Fine-tune a refiner on one new mesh and condition, with no reference data.

    The pretrained model generates the trajectory (from ``initial``, or from the mesh and
    conditions alone with its initial head) and the refiner learns to correct it.

    Parameters
    ----------
    model : FieldModel
        The pretrained model.
    mesh : MeshGraph
        The new mesh (``pos``, ``edge_index``, ``cells``, ``boundary``, ``boundary_names``);
        any ``fields`` it carries are ignored.
    cond : mapping
        Physical conditions ``{name: value}`` (the model's and the PDE's).
    pde : PDE
        The governing equations.
    steps : int
        Frames to generate after the initial ones.
    dt : float, optional
        Time between frames (or give ``times``). default: ``mesh.times`` spacing.
    times : Tensor, optional
        ``[T]`` times of the frames. default: ``mesh.times``.
    initial : Tensor, optional
        ``[h, N, C]`` initial frames, physical. default: the model's initial head.
    config, boundary, out, log, resume
        As in :func:`finetune`.

    Returns
    -------
    FinetuneResult
    """
    config = config or FinetuneConfig()
    if steps < 2:
        msg = f"finetune_test_time needs 'steps' >= 2 (got {steps})"
        raise ValueError(msg)
    graph = mesh.clone() if hasattr(mesh, "clone") else mesh
    if "fields" in graph:
        del graph.fields
    anchors = [
        _Anchor(model, graph, initial, steps, dict(cond), times, dt, config.unfreeze_last == 0)
    ] if config.total_steps > 0 else []
    return _train(
        model, pde, anchors, config, boundary,
        out=Path(out) if out is not None else None,
        log=Path(log) if log is not None else None,
        resume=resume,
        metadata={"mode": "test_time", "cond": {k: float(v) for k, v in cond.items()}},
    )


# -------------------------------------------------------------------------------------------
# before / after


def compare_refinement(
    model: nn.Module,
    trajectories: Sequence[Any],
    pde: PDE,
    *,
    refiner: PhysicsRefiner | None = None,
    interior_only: bool = True,
    lam: float = 1.0,
) -> list[dict[str, Any]]:
    r"""R and MSE before and after refinement, per trajectory (condition).

    Each trajectory is rolled out by the model from its first ``model.history`` frames
    (before) and refined by :func:`~meshfield.refine.refiner.apply_refiner` (after). Both are
    scored by :func:`meshfield.metrics.mse_r_on_mesh`: MSE of the normalized fields (the
    model's field scale) against the reference, and R, the mean squared residual by the
    discrete mesh operators in physical units, with the reference data's own residual on the
    same mesh as :math:`R_\text{ref}`. A trajectory without reference frames after its
    initial ones cannot be scored this way: pass reference trajectories.

    Parameters
    ----------
    model : RefinedModel or FieldModel
        The model with its refiner (or give ``refiner``).
    trajectories : sequence of MeshGraph
        Reference trajectories.
    pde : PDE
        The governing equations.
    refiner : PhysicsRefiner, optional
        default: that of a :class:`~meshfield.refine.refiner.RefinedModel`.
    interior_only : bool, optional
        Average the residuals over interior nodes (boundary conditions, not the PDE, hold on
        the boundary). default: ``True``.
    lam : float, optional
        :math:`\lambda` of MSE-R. default: 1.

    Returns
    -------
    list of dict
        Per trajectory: ``conditions``, ``before`` and ``after`` (:class:`~meshfield.metrics.MSER`),
        ``r_factor`` (R before / R after) and ``mse_change`` (relative change of the MSE).
    """
    from meshfield.metrics import mse_r_on_mesh
    from meshfield.physics.mesh_ops import MeshOperators

    if isinstance(model, RefinedModel):
        refiner = model.refiner if refiner is None else refiner
        model = model.model
    rows = []
    for graph in trajectories:
        graph = at_model_step(graph, model)  # the frames the model steps through
        reference = graph.fields.float()
        history = model.history
        with torch.no_grad():
            before = model.rollout(graph, reference.size(0) - history,
                                   initial=reference[:history])
        after = apply_refiner(model, graph, before, refiner=refiner)
        operators = MeshOperators.from_data(graph)
        kwargs = {"times": graph.times, "cond": _cond_dict(model, graph, None),
                  "field_names": list(model.field_names), "scale": model.normalizer.field_std,
                  "lam": lam, "interior_only": interior_only}
        m_before = mse_r_on_mesh(before, reference, pde, operators, **kwargs)
        m_after = mse_r_on_mesh(after, reference, pde, operators, **kwargs)
        rows.append({
            "conditions": _cond_dict(model, graph, None),
            "before": m_before,
            "after": m_after,
            "r_factor": m_before.r / m_after.r if m_after.r > 0 else math.inf,
            "mse_change": (m_after.mse - m_before.mse) / m_before.mse if m_before.mse > 0
            else math.inf,
        })
    return rows


def format_refinement_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of :func:`compare_refinement` rows (R and MSE always together)."""
    header = ("conditions", "R_ref", "R before", "R after", "R factor", "MSE before",
              "MSE after", "MSE change", "MSE-R before", "MSE-R after")
    lines = []
    for row in rows:
        b, a = row["before"], row["after"]
        conditions = ", ".join(f"{k}={v:g}" for k, v in row["conditions"].items())
        lines.append((
            conditions, f"{b.r_ref:.4g}", f"{b.r:.4g}", f"{a.r:.4g}", f"{row['r_factor']:.2f}x",
            f"{b.mse:.4g}", f"{a.mse:.4g}", f"{100 * row['mse_change']:+.1f}%",
            f"{b.score:.4g}", f"{a.score:.4g}",
        ))
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    note = ("R: mean squared PDE residual (physical units, interior nodes, mesh operators); "
            "R_ref: that of the reference data; MSE: normalized fields vs the reference; "
            "MSE-R = MSE + R/R_ref")
    return "\n".join([*out, note])


# -------------------------------------------------------------------------------------------
# the command line


def default_boundary_values(case: str | None, cond_names: Sequence[str]) -> list[BoundaryValue]:
    """Dirichlet values of the built-in cases (``heat_plate``, ``cylinder_wake``)."""
    if case == "heat_plate":
        from meshfield.cases.heat_plate import BOUNDARY_GROUPS

        return [BoundaryValue(group, "T", name) for group, name in BOUNDARY_GROUPS.items()
                if name in cond_names]
    if case == "cylinder_wake":
        return [BoundaryValue("cylinder", "U_x", 0.0), BoundaryValue("cylinder", "U_y", 0.0),
                BoundaryValue("inlet", "U_x", 1.0), BoundaryValue("inlet", "U_y", 0.0)]
    return []


def __getattr__(name: str) -> Any:
    # the command line moved to meshfield.cli.finetune
    if name in ("add_arguments", "run_finetune"):
        import meshfield.cli.finetune as moved
        from meshfield._moved import moved_name

        return moved_name(__name__, name, moved)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
