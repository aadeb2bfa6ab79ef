"""``meshfield.generate``: fields on a mesh from physical conditions, in one call.

>>> import meshfield
>>> result = meshfield.generate("cylinder.msh", {"Re": 150})  # doctest: +SKIP
>>> result.save("wake.pvd")  # doctest: +SKIP

:func:`generate` resolves the model (a pretrained name, a checkpoint folder or a model object,
:func:`resolve_model`), reads the mesh, checks the conditions against the ones the model was
trained on, rolls the model out, computes the residual of the governing PDE at every node and
step with the discrete mesh operators, and returns a :class:`~meshfield.FieldResult`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from meshfield.physics.spec import pde_from_spec

if TYPE_CHECKING:
    from meshfield.checkpoint import CheckpointInfo
    from meshfield.models.base import FieldModel
    from meshfield.models.trajectory import Trajectory
    from meshfield.physics import PDE
    from meshfield.result import FieldResult

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_STEPS",
    "ExtrapolationWarning",
    "ResolvedModel",
    "generate",
    "generate_many",
    "pde_from_spec",
    "resolve_model",
]

#: The model :func:`generate` uses when none is named.
DEFAULT_MODEL = "cylinder_wake"
#: Steps rolled out when neither the call nor the checkpoint says how many.
DEFAULT_STEPS = 50


class ExtrapolationWarning(UserWarning):
    """A condition outside the range the model was trained on: the model extrapolates."""


class ResolvedModel(NamedTuple):
    """A model with what its checkpoint says about it (:func:`resolve_model`)."""

    #: the model, in eval mode, on the requested device
    model: FieldModel
    #: the checkpoint's ``config.json`` contents (for a model object: what the model itself
    #: knows: its ``config`` and, from its attributes of those names if any, ``data_spec``
    #: and ``metadata``)
    info: dict[str, Any]
    #: the checkpoint directory, ``None`` for a model object
    path: Path | None
    #: the pretrained name, ``None`` otherwise
    name: str | None
    #: the default mesh (pretrained models), else ``None``
    mesh: Path | None
    #: the physics refiner given with the model (a ``RefinedModel``), else ``None`` (a
    #: checkpoint's own refiner is read from :attr:`path` when needed)
    refiner: nn.Module | None = None

    @property
    def details(self) -> CheckpointInfo:
        """:attr:`info` parsed: names, condition ranges, data spec, time window, units."""
        from meshfield.checkpoint import CheckpointInfo

        return CheckpointInfo.from_dict(self.info)

    @property
    def label(self) -> str:
        """How messages name the model: its pretrained name, its path or its class."""
        if self.name is not None:
            return repr(self.name)
        if self.path is not None:
            return str(self.path)
        return type(self.model).__name__


# -------------------------------------------------------------------------------------------
# the model


def _cond_ranges(model: FieldModel) -> dict[str, list[float | None]]:
    low = model.normalizer.cond_min.tolist()
    high = model.normalizer.cond_max.tolist()
    return {
        name: [None if math.isinf(a) else a, None if math.isinf(b) else b]
        for name, a, b in zip(model.cond_names, low, high, strict=True)
    }


def _model_info(model: FieldModel) -> dict[str, Any]:
    spec = getattr(model, "data_spec", None)
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    return {
        "kind": model.kind,
        "field_names": list(model.field_names),
        "cond_names": list(model.cond_names),
        "cond_ranges": _cond_ranges(model),
        "normalization": model.normalizer.to_dict(),
        "data_spec": spec,
        "metadata": dict(getattr(model, "metadata", None) or {}),
        "config": model.config.to_dict(),
    }


def resolve_model(
    model: str | os.PathLike[str] | FieldModel = DEFAULT_MODEL,
    *,
    device: str | torch.device = "cpu",
) -> ResolvedModel:
    """Find and load a model: a pretrained name, a checkpoint directory or a model object.

    A path wins over a pretrained name of the same spelling when it holds a checkpoint. A run
    folder of ``meshfield train`` means its ``best/`` checkpoint (else ``last/``).

    Parameters
    ----------
    model : str, path-like, FieldModel or RefinedModel, default: "cylinder_wake"
        A name from :func:`meshfield.pretrained.list_pretrained`, a checkpoint or run
        directory, or a model (used as it is, moved to ``device``; a
        :class:`~meshfield.refine.RefinedModel` brings its refiner).
    device : str or torch.device, default: "cpu"
        Where the model runs.

    Returns
    -------
    ResolvedModel
        ``(model, info, path, name, mesh)``.

    Raises
    ------
    ValueError
        If ``model`` is neither a checkpoint nor a pretrained name (the message lists the
        names).
    FileNotFoundError
        If a registered pretrained model is not installed.
    CheckpointError
        If the checkpoint is corrupt or inconsistent.

    Example
    -------
    >>> resolved = resolve_model("runs/cylinder/best")  # doctest: +SKIP
    >>> resolved.model.field_names  # doctest: +SKIP
    ('U_x', 'U_y', 'p')
    """
    from meshfield.checkpoint import load_model, read_checkpoint
    from meshfield.models.base import FieldModel
    from meshfield.pretrained import (
        pretrained_mesh,
        pretrained_name_of,
        resolve_checkpoint,
    )
    from meshfield.refine.refiner import RefinedModel

    if isinstance(model, FieldModel):
        return ResolvedModel(model.to(device), _model_info(model), None, None, None)
    if isinstance(model, RefinedModel):
        inner = model.model.to(device)
        return ResolvedModel(
            inner, _model_info(inner), None, None, None, model.refiner.to(device)
        )
    if not isinstance(model, (str, os.PathLike)):
        msg = (
            "Expected 'model' to be a pretrained name, a checkpoint directory, a FieldModel "
            f"or a RefinedModel (got {type(model).__name__})"
        )
        raise TypeError(msg)
    checkpoint = resolve_checkpoint(model)
    name = pretrained_name_of(checkpoint)
    info = read_checkpoint(checkpoint)
    loaded = load_model(checkpoint, device=device)
    mesh = pretrained_mesh(name) if name is not None else None
    return ResolvedModel(loaded, info, checkpoint, name, mesh)


# -------------------------------------------------------------------------------------------
# checks of the inputs


def _format_range(bounds: Sequence[float | None] | None) -> str:
    if not bounds:
        return "[?, ?]"
    lo, hi = bounds
    return f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


def _check_conditions(
    conditions: Mapping[str, float] | None,
    resolved: ResolvedModel,
) -> dict[str, float]:
    expected = list(resolved.model.cond_names)
    ranges = resolved.details.cond_ranges
    if conditions is None:
        conditions = {}
    if not isinstance(conditions, Mapping):
        msg = (
            "Expected 'conditions' to be a mapping such as {'Re': 150.0} (got "
            f"{type(conditions).__name__})"
        )
        raise TypeError(msg)
    missing = [name for name in expected if name not in conditions]
    unknown = [str(name) for name in conditions if name not in expected]
    if missing or unknown:
        listed = ", ".join(f"{n} in {_format_range(ranges.get(n))}" for n in expected)
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if unknown:
            parts.append(f"unknown {unknown}")
        msg = (
            f"Conditions {' and '.join(parts)}: the model {resolved.label} expects "
            f"{expected if expected else 'no conditions'}"
            + (f" (trained on {listed})" if expected else "")
        )
        raise ValueError(msg)
    values: dict[str, float] = {}
    for name in expected:
        raw = conditions[name]
        try:
            value = float(raw)
        except (TypeError, ValueError):
            msg = f"Condition {name!r} must be a number (got {raw!r})"
            raise ValueError(msg) from None
        if not math.isfinite(value):
            msg = f"Condition {name!r} must be finite (got {value})"
            raise ValueError(msg)
        bounds = ranges.get(name)
        if bounds:
            lo, hi = bounds
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                msg = (
                    f"{name}={value:g} is outside the range the model {resolved.label} was "
                    f"trained on, {name} in {_format_range(bounds)}: the prediction extrapolates"
                )
                warnings.warn(msg, ExtrapolationWarning, stacklevel=3)
        values[name] = value
    return values


def _mesh_graph(
    mesh: Any, resolved: ResolvedModel, boundary_map: Mapping[str, str] | None = None
) -> Any:
    from torch_geometric.data import Data

    from meshfield.io import load_mesh

    if mesh is None:
        if resolved.mesh is None:
            msg = (
                f"No mesh given and the model {resolved.label} has no default mesh: pass a mesh "
                "file, a pyvista/meshio object or a MeshGraph"
            )
            raise ValueError(msg)
        mesh = resolved.mesh
    graph = mesh if isinstance(mesh, Data) else load_mesh(mesh)
    model = resolved.model
    pos = getattr(graph, "pos", None)
    if not isinstance(pos, Tensor) or pos.dim() != 2:
        msg = "Expected a mesh with 'pos' [N, d]"
        raise ValueError(msg)
    dim = int(pos.shape[1])
    if dim != model.config.dim:
        hint = (
            " (a 3D mesh whose points all share one z reads as 2D; this one does not)"
            if dim == 3
            else ""
        )
        msg = (
            f"The mesh is {dim}D but the model {resolved.label} works on {model.config.dim}D "
            f"meshes{hint}"
        )
        raise ValueError(msg)
    edges = getattr(graph, "edge_index", None)
    if edges is None or edges.numel() == 0:
        msg = "The mesh has no edges (a point cloud?): the model needs a mesh with cells"
        raise ValueError(msg)
    _check_cells(graph, dim)
    if boundary_map:
        graph = _rename_boundaries(graph, boundary_map)
    boundary = getattr(graph, "boundary", None)
    tags = int(getattr(model.encoder, "num_boundary_tags", 0) or 0)
    if boundary is not None and tags and boundary.numel() and int(boundary.max()) >= tags:
        names = list(getattr(graph, "boundary_names", []))[1:]
        msg = (
            f"The mesh has {int(boundary.max())} boundary groups {names} but the model "
            f"{resolved.label} knows {tags - 1}: merge boundary groups or train a model with "
            "more boundary tags"
        )
        raise ValueError(msg)
    trained = resolved.details.metadata.get("boundary_names")
    given = getattr(graph, "boundary_names", None)
    if trained and given is not None and list(trained) != list(given):
        graph = _match_boundary_names(graph, list(given), list(trained), resolved.label)
    return graph


def _rename_boundaries(graph: Any, renames: Mapping[str, str]) -> Any:
    """The graph with boundary groups renamed; groups that end up with one name are merged."""
    names = [str(n) for n in (getattr(graph, "boundary_names", None) or [])]
    if not isinstance(renames, Mapping):
        msg = f"boundary_map: expected a mapping of group names (got {type(renames).__name__})"
        raise TypeError(msg)
    unknown = [str(k) for k in renames if str(k) not in names[1:]]
    if unknown:
        msg = f"boundary_map: the mesh has no boundary group {unknown} (it has {names[1:]})"
        raise ValueError(msg)
    renamed = [names[0]] + [str(renames.get(name, name)) for name in names[1:]]
    merged = list(dict.fromkeys(renamed))  # first use keeps the order
    if renamed.count(names[0]) > 1:  # a group renamed to the interior's name joins it
        merged = [names[0], *[n for n in merged if n != names[0]]]
    return _relabel_boundaries(graph, [merged.index(name) for name in renamed], merged)


def _relabel_boundaries(graph: Any, new_tag: list[int], names: list[str]) -> Any:
    """A copy of ``graph`` whose boundary tag ``t`` becomes ``new_tag[t]``, named ``names``."""
    mapping = torch.tensor(new_tag, dtype=torch.long, device=graph.boundary.device)
    graph = graph.clone()
    graph.boundary = mapping[graph.boundary.long()]
    graph.boundary_names = list(names)
    return graph


def _check_cells(graph: Any, dim: int) -> None:
    """A mesh the model can step on has cells of its dimension that cover some area (volume)."""
    from meshfield.data.cells import cell_dim

    cells = getattr(graph, "cells", None)
    if not isinstance(cells, Mapping) or not cells:
        return  # a graph built from edges alone: nothing more to check
    kinds = {str(kind): cell_dim(str(kind)) for kind in cells}
    if not any(d == dim for d in kinds.values()):
        msg = (
            f"The mesh has no {dim}D cells (it has {sorted(kinds)}): the model works on "
            f"{dim}D meshes of {'triangles or quads' if dim == 2 else 'volume cells'}"
        )
        raise ValueError(msg)
    triangles = cells.get("triangle")
    if dim == 2 and isinstance(triangles, Tensor) and len(kinds) == 1 and triangles.numel():
        pos = graph.pos.double()
        a, b, c = (pos[triangles[:, i].long()] for i in range(3))
        area = 0.5 * ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]).abs()
        extent = float((pos.amax(0) - pos.amin(0)).prod())
        if float(area.sum()) <= 1e-12 * max(extent, 1e-300):
            msg = "The mesh's triangles have zero area (all points on a line?)"
            raise ValueError(msg)


def _match_boundary_names(graph: Any, given: list[str], trained: list[str], label: str) -> Any:
    """Renumber a mesh's boundary tags so that each group gets the tag its name had in training."""
    unknown = [name for name in given[1:] if name not in trained]
    if unknown:
        msg = (
            f"The mesh's boundary groups {unknown} are not among those the model {label} was "
            f"trained with {trained[1:]}: rename them to the trained names"
        )
        raise ValueError(msg)
    # tag 0 is the interior whatever it is called
    return _relabel_boundaries(graph, [0] + [trained.index(n) for n in given[1:]], trained)


def _initial_frames(initial: Any, graph: Any, resolved: ResolvedModel) -> Tensor | None:
    if initial is None:
        return None
    names = list(resolved.model.field_names)
    num_nodes = int(graph.pos.shape[0])
    if isinstance(initial, str):
        if initial != "mesh":
            msg = f"Expected initial='mesh', frames [h, N, C] or a mapping (got {initial!r})"
            raise ValueError(msg)
        stored = list(getattr(graph, "field_names", None) or [])
        if getattr(graph, "fields", None) is None:
            msg = f"initial='mesh' but the mesh has no fields; the model needs {names}"
            raise ValueError(msg)
        missing = [n for n in names if n not in stored]
        if missing:
            msg = (
                f"initial='mesh' but the mesh lacks the fields {missing}: the model "
                f"{resolved.label} needs {names}, the mesh has {stored}"
            )
            raise ValueError(msg)
        frames = graph.fields[..., [stored.index(n) for n in names]]
    elif isinstance(initial, Mapping):
        missing = [n for n in names if n not in initial]
        unknown = [str(n) for n in initial if n not in names]
        if missing or unknown:
            msg = f"Initial fields must name exactly {names} (missing {missing}, unknown {unknown})"
            raise ValueError(msg)
        columns = []
        for n in names:
            value = torch.as_tensor(np.asarray(initial[n]), dtype=torch.float32)
            columns.append(value if value.dim() == 2 else value.reshape(1, -1))
        shapes = {tuple(c.shape) for c in columns}
        if len(shapes) != 1:
            msg = f"Initial fields must share one shape [h, N] (got {sorted(shapes)})"
            raise ValueError(msg)
        frames = torch.stack(columns, dim=-1)
    else:
        value = initial.detach() if isinstance(initial, Tensor) else np.asarray(initial)
        frames = torch.as_tensor(value)
    frames = frames.to(torch.float32)
    if frames.dim() == 2:
        frames = frames.unsqueeze(0)
    if frames.dim() != 3 or frames.shape[1:] != (num_nodes, len(names)):
        msg = (
            f"Expected initial frames with shape [h, {num_nodes}, {len(names)}] ({names}) "
            f"(got {list(frames.shape)})"
        )
        raise ValueError(msg)
    if frames.shape[0] == 0 or not bool(torch.isfinite(frames).all()):
        msg = "Initial frames must hold at least one frame of finite values"
        raise ValueError(msg)
    return frames


# -------------------------------------------------------------------------------------------
# what the checkpoint says: steps, times, units, PDE


#: the most steps a checkpoint may ask for by default (a larger default is a broken or crafted
#: checkpoint; pass ``steps`` explicitly for longer rollouts)
MAX_DEFAULT_STEPS = 100_000


def _default_steps(info: CheckpointInfo, num_initial: int) -> int:
    meta = info.metadata
    if isinstance(meta.get("rollout_steps"), int):
        steps, where = max(int(meta["rollout_steps"]), 0), "metadata.rollout_steps"
    else:
        frames = info.num_frames
        if frames is None:
            return DEFAULT_STEPS
        steps, where = max(frames - num_initial, 0), "the data spec's time window"
    if steps > MAX_DEFAULT_STEPS:
        msg = (
            f"The checkpoint's default rollout ({where}) is {steps} steps, more than "
            f"{MAX_DEFAULT_STEPS}: pass steps= (--steps) explicitly"
        )
        raise ValueError(msg)
    return steps


def _rollout_steps(steps: Any, resolved: ResolvedModel, num_initial: int) -> int:
    """``steps`` checked, or the checkpoint's default."""
    if steps is None:
        steps = _default_steps(resolved.details, num_initial)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        msg = f"'steps' must be a non-negative integer (got {steps!r})"
        raise ValueError(msg)
    return int(steps)


def _residual(
    option: bool | PDE,
    resolved: ResolvedModel,
    graph: Any,
    fields: Tensor,
    times: Tensor,
    cond: Mapping[str, float],
) -> tuple[Tensor | None, list[str]]:
    from meshfield.physics import PDE

    if option is False or option is None:
        return None, []
    model = resolved.model
    if isinstance(option, PDE):
        pde = option
    elif option is True:
        spec = resolved.details.spec
        pde = pde_from_spec(spec, cond, model.field_names, dim=model.config.dim)
        if pde is None:
            named = (spec.get("pde") or {}).get("name") if spec else None
            why = (
                f"the PDE {named!r} of its data spec cannot be set up for the fields "
                f"{list(model.field_names)} and conditions {dict(cond)}"
                if named
                else "its checkpoint has no data spec naming a PDE"
            )
            msg = (
                f"No residual for the model {resolved.label}: {why}. Pass residual=<a "
                "meshfield.physics PDE> to compute one; result.residual is None"
            )
            warnings.warn(msg, UserWarning, stacklevel=3)
            return None, []
    else:
        msg = f"Expected 'residual' to be True, False or a PDE (got {type(option).__name__})"
        raise TypeError(msg)
    missing = [n for n in pde.fields if n not in model.field_names]
    if missing:
        msg = (
            f"{type(pde).__name__} needs the fields {list(pde.fields)} but the model predicts "
            f"{list(model.field_names)}"
        )
        raise ValueError(msg)
    total = int(fields.shape[0])
    order = 2
    if pde.time_dependent:
        if total < 2:
            msg = (
                f"No residual: {type(pde).__name__} needs a time derivative and the result has "
                f"{total} frame; generate more steps. result.residual is None"
            )
            warnings.warn(msg, UserWarning, stacklevel=3)
            return None, []
        order = 2 if total >= 3 else 1
    residual = pde.mesh_residual(
        graph,
        fields.to(torch.float64),
        times=times.to(torch.float64),
        cond=dict(cond),
        field_names=list(model.field_names),
        time_order=order,
    )
    if residual.dim() == 2:
        residual = residual.unsqueeze(0).expand(total, -1, -1)
    return residual.to(torch.float32), list(pde.components)


# -------------------------------------------------------------------------------------------
# refinement hook


def _has_refiner(resolved: ResolvedModel) -> bool:
    """A refiner given with the model (a ``RefinedModel``), or saved in its checkpoint."""
    if resolved.refiner is not None:
        return True
    if resolved.path is None:
        return False
    from meshfield.refine.refiner import REFINER_CONFIG

    metadata = resolved.details.metadata
    return (resolved.path / REFINER_CONFIG).is_file() or bool(metadata.get("refiner"))


def _no_refiner(resolved: ResolvedModel) -> ValueError:
    msg = (
        f"refine=True but the model {resolved.label} has no refiner (no refiner.json in its "
        "checkpoint); physics-fine-tune one first (meshfield finetune) or call generate "
        "without refine"
    )
    return ValueError(msg)


def _refine(
    resolved: ResolvedModel,
    graph: Any,
    fields: Tensor,
    times: Tensor,
    cond: Mapping[str, float],
    start: int,
) -> Tensor:
    """The rollout corrected by the model's physics refiner (``apply_refiner``)."""
    from meshfield.refine.refiner import apply_refiner

    if not _has_refiner(resolved):
        raise _no_refiner(resolved)
    refined = apply_refiner(
        resolved.model,
        graph,
        fields.to(graph.pos.device),
        cond=dict(cond),
        times=times.to(device=graph.pos.device, dtype=fields.dtype),
        refiner=resolved.refiner if resolved.refiner is not None else resolved.path,
        start=start,
    )
    return refined.detach().cpu()


# -------------------------------------------------------------------------------------------
# the rollout


def _query_points(points: Any, dim: int) -> Tensor:
    value = points.detach() if isinstance(points, Tensor) else np.asarray(points)
    points = torch.as_tensor(value, dtype=torch.float32)
    if points.dim() != 2 or points.shape[1] != dim:
        msg = f"Expected 'query_points' with shape [Q, {dim}] (got {list(points.shape)})"
        raise ValueError(msg)
    if not bool(torch.isfinite(points).all()):
        msg = "'query_points' must be finite"
        raise ValueError(msg)
    return points


def _make_query_fn(rollout: Trajectory, fields: Tensor, names: list[str], mesh: Any) -> Any:
    from meshfield.result import FieldResult

    model = rollout.model
    device = rollout.context.pos.device

    def query_fn(points: Any, step: int) -> Tensor:
        """Fields ``[Q, C]`` at ``points`` ``[Q, d]`` at time step ``step`` (an index)."""
        step = int(step)
        if step < rollout.num_input:
            # a given initial frame has no decoder output behind it: interpolate it
            frame = FieldResult(fields[step : step + 1], names, None, mesh)
            return frame.at(points, step=0)
        q = points if isinstance(points, Tensor) else torch.as_tensor(np.asarray(points))
        q = q.to(device=device, dtype=rollout.context.pos.dtype)
        with torch.set_grad_enabled(q.requires_grad):
            output = rollout.step_output(step)
            values = model.query(q, output, rollout.context.pos)
        return values if q.requires_grad else values.cpu()

    return query_fn


# -------------------------------------------------------------------------------------------
# generate


def _check_finite(fields: Tensor, names: list[str], cond: Any, num_input: int) -> None:
    """Stop before anything is written when a rollout blew up to NaN or inf."""
    from meshfield.errors import NonFiniteError

    finite = torch.isfinite(fields).flatten(1).all(dim=1)
    if bool(finite.all()):
        return
    step = int((~finite).nonzero()[0])
    where = "the initial frames" if step < max(num_input, 1) else f"step {step}"
    msg = (
        f"generate: the fields {names} are not finite (NaN or inf) from {where} on, with "
        f"conditions {cond}: inputs far outside the model's training data?"
    )
    raise NonFiniteError(msg)


def generate(
    mesh: Any,
    conditions: Mapping[str, float] | None,
    *,
    model: str | os.PathLike[str] | FieldModel = DEFAULT_MODEL,
    steps: int | None = None,
    initial: Any = None,
    query_points: Any = None,
    refine: bool | None = False,
    residual: bool | PDE = True,
    device: str | torch.device = "cpu",
    progress: bool = False,
    compile: bool = False,
    boundary_map: Mapping[str, str] | None = None,
) -> FieldResult:
    r"""Generate a field sequence on a mesh for given physical conditions.

    The model is rolled out without gradients: from ``initial`` frames when given, otherwise
    from a first frame it produces from the mesh and the conditions alone. When the
    checkpoint's data spec names a PDE (``pde.name``, e.g. ``navier_stokes``), the residual of
    that PDE is computed at every node and step with the discrete mesh operators
    (:meth:`meshfield.physics.PDE.mesh_residual`, least-squares derivatives in space, finite
    differences in time), in physical units.

    Parameters
    ----------
    mesh : path, pyvista/meshio/trimesh object, MeshGraph or None
        Anything :func:`meshfield.load_mesh` reads, or a graph. ``None`` uses the default mesh
        of a pretrained model (the bundled cylinder mesh for ``"cylinder_wake"``).
    conditions : mapping or None
        Physical conditions by name, e.g. ``{"Re": 150}``; exactly the model's condition
        names. Values outside the training range give an :class:`ExtrapolationWarning`.
    model : str, path-like, FieldModel or RefinedModel, default: "cylinder_wake"
        A pretrained name (:func:`meshfield.pretrained.list_pretrained`), a checkpoint or run
        directory, or a model object (a :class:`~meshfield.refine.RefinedModel` brings its
        refiner).
    steps : int, optional
        Frames to predict after the initial one(s). default: the checkpoint's
        ``metadata["rollout_steps"]``, else the data spec's number of snapshots (every
        ``frame_step``-th one, for a model trained with a step of several snapshots) minus
        the initial frames, else :data:`DEFAULT_STEPS`.
    initial : array-like, mapping or "mesh", optional
        Physical initial frames ``[h, N, C]`` (or ``[N, C]``) in the model's field order, a
        mapping ``{field name: [h, N] or [N]}``, or ``"mesh"`` to start from the fields the
        mesh carries (picked by name). default: none (the model generates the first frame).
    query_points : array-like, optional
        Points ``[Q, d]``; their values at every step are stored as ``result.query_values``
        ``[T, Q, C]`` (with ``result.query_points``), from the model's point-query decoder
        (given initial frames are interpolated on the mesh instead). default: none.
    refine : bool or None, default: False
        Correct the rollout with the model's physics refiner
        (:func:`meshfield.refine.refiner.apply_refiner`; the refiner of a
        :class:`~meshfield.refine.RefinedModel`, or the one saved in the checkpoint by
        ``meshfield finetune``). ``True`` raises when there is
        none, ``None`` refines only when there is one. A refined result has no ``query_fn``
        (:meth:`~meshfield.FieldResult.at` interpolates the refined frames).
    residual : bool or PDE, default: True
        Compute the PDE residual: ``True`` for the PDE of the checkpoint's data spec (a warning
        and no residual when there is none), a :class:`~meshfield.physics.PDE` to use that one,
        ``False`` for none. The conditions of the call override the PDE's own values of the
        same name.
    device : str or torch.device, default: "cpu"
        Where the model runs; results come back on the CPU.
    progress : bool, default: False
        Show a progress bar over the steps.
    compile : bool, default: False
        Run the model step under ``torch.compile``
        (:meth:`~meshfield.models.FieldModel.compile_step`; a model object passed as
        ``model`` stays compiled). The first call compiles (tens of seconds on a small CPU,
        a few from the on-disk cache), so it pays off for long rollouts, repeated calls with
        one model object, and large meshes; eager again, with one warning, where compilation
        fails.
    boundary_map : mapping, optional
        Renames the mesh's boundary groups to the names the model was trained with, e.g.
        ``{"top": "walls", "bottom": "walls"}`` for an OpenFOAM case whose side walls are two
        patches. Groups are matched by name after the renaming (several may take one name);
        a name the mesh does not have is an error.

    Returns
    -------
    FieldResult
        ``fields [T, N, C]`` physical, ``field_names``, ``times [T]`` (from the data spec's
        start and snapshot interval times the model's ``frame_step``, else step numbers),
        ``mesh``, ``cond``, ``units`` (from the data spec), ``residual [T, N, R]`` with
        ``residual_names`` and ``metrics`` (``"R"``: mean squared residual,
        ``"R_<component>"``) when a PDE is known, and a
        ``query_fn(points, step)`` backed by the model's point-query decoder: ``result.at(q,
        step=k)`` evaluates the decoder of step ``k`` (the last is cached, others are
        recomputed from the stored frames; with ``q.requires_grad`` the values are
        differentiable in ``q``). ``T = h + steps`` with ``h`` the initial frames (1 when
        generated).

    Raises
    ------
    ValueError
        Missing or unknown conditions, a mesh of the wrong dimension or with more boundary
        groups than the model knows, initial frames of the wrong shape or fields, an unknown
        model name.
    FileNotFoundError
        A mesh file or registered pretrained model that is not there.

    Warns
    -----
    ExtrapolationWarning
        A condition outside the training range.
    UserWarning
        No PDE to compute the residual with.

    Example
    -------
    >>> import meshfield
    >>> result = meshfield.generate(None, {"Re": 150}, steps=20)  # doctest: +SKIP
    >>> result.fields.shape  # doctest: +SKIP
    torch.Size([21, 1651, 3])
    >>> result.save("wake.pvd")  # doctest: +SKIP
    """
    from meshfield.runtime import tune_malloc

    tune_malloc()  # large activations reuse heap memory (see meshfield.runtime)
    resolved = resolve_model(model, device=device)
    net = resolved.model
    if compile and not net.compiled:
        net.compile_step()
    cond = _check_conditions(conditions, resolved)
    graph = _mesh_graph(mesh, resolved, boundary_map)
    frames0 = _initial_frames(initial, graph, resolved)
    num_initial = 1 if frames0 is None else int(frames0.shape[0])
    steps = _rollout_steps(steps, resolved, num_initial)
    points = None if query_points is None else _query_points(query_points, net.config.dim)
    if refine is True and not _has_refiner(resolved):
        raise _no_refiner(resolved)

    refined = refine is True or (refine is None and _has_refiner(resolved))
    names = list(net.field_names)
    was_training = net.training
    net.eval()
    # Data.to moves in place: move a copy, the result keeps the graph on the CPU
    device_graph = graph.clone().to(device) if torch.device(device).type != "cpu" else graph
    if residual is True:
        # conditions the PDE cannot take (Re = 0) fail here, not after the whole rollout
        pde_from_spec(resolved.details.spec, cond, net.field_names, dim=net.config.dim)
    try:
        with torch.no_grad():
            rollout = net.trajectory(
                device_graph,
                int(steps),
                None if frames0 is None else frames0.to(device_graph.pos.device),
                cond=dict(cond) if cond else None,
                query=points,
                progress=progress,
            )
            fields = rollout.frames.detach().cpu()
        _check_finite(fields, names, cond, rollout.num_input)
        times = resolved.details.times(fields.shape[0])
        if refined:
            fields = _refine(resolved, device_graph, fields, times, cond, rollout.num_input or 1)
    finally:
        net.train(was_training)

    query_fn = None if refined else _make_query_fn(rollout, fields, names, graph)
    result = _result(resolved, graph, fields, times, cond, residual, query_fn)
    if points is not None:
        result.query_points = points
        if refined:  # the decoder does not know the correction: interpolate the refined frames
            result.query_values = torch.stack(
                [result.at(points, step=k).to(torch.float32) for k in range(result.num_steps)]
            )
        else:
            result.query_values = _query_values(rollout, points, fields, graph)
    return result


def generate_many(
    mesh: Any,
    conditions: Sequence[Mapping[str, float]],
    *,
    model: str | os.PathLike[str] | FieldModel = DEFAULT_MODEL,
    steps: int | None = None,
    initial: Any = None,
    refine: bool | None = False,
    residual: bool | PDE = True,
    device: str | torch.device = "cpu",
    compile: bool = False,
    boundary_map: Mapping[str, str] | None = None,
) -> list[FieldResult]:
    r"""Generate one field sequence per set of conditions on one mesh, all in one rollout.

    The mesh is repeated as a batch of graphs, one per entry of ``conditions``, and the model
    steps them together (one step of :math:`B` graphs instead of :math:`B` steps of one). The
    results are those of :func:`generate` called once per entry, up to rounding; the residual
    and the refiner run per entry afterwards.

    Parameters
    ----------
    mesh : path, mesh object, MeshGraph or None
        As in :func:`generate`.
    conditions : sequence of mapping
        One mapping per result, e.g. ``[{"Re": 100}, {"Re": 150}]``.
    model, steps, refine, residual, device, compile, boundary_map
        As in :func:`generate`.
    initial : array-like, mapping or "mesh", optional
        Initial frames shared by every entry (as in :func:`generate`). default: each entry's
        first frame is generated from its conditions.

    Returns
    -------
    list of FieldResult
        In the order of ``conditions``; their ``query_fn`` is None (``result.at`` interpolates
        the frames).

    Example
    -------
    >>> results = meshfield.generate_many(None, [{"Re": 100}, {"Re": 150}])  # doctest: +SKIP
    >>> [r.fields.shape for r in results]  # doctest: +SKIP
    [torch.Size([100, 4548, 3]), torch.Size([100, 4548, 3])]
    """
    from torch_geometric.data import Batch, Data

    from meshfield.runtime import tune_malloc

    tune_malloc()
    if isinstance(conditions, Mapping) or not isinstance(conditions, Sequence) or not conditions:
        msg = (
            "Expected 'conditions' to be a non-empty list of mappings such as [{'Re': 100}, "
            f"{{'Re': 150}}] (got {type(conditions).__name__}); one mapping: use generate"
        )
        raise TypeError(msg)
    resolved = resolve_model(model, device=device)
    net = resolved.model
    if compile and not net.compiled:
        net.compile_step()
    conds = [_check_conditions(c, resolved) for c in conditions]
    graph = _mesh_graph(mesh, resolved, boundary_map)
    frames0 = _initial_frames(initial, graph, resolved)
    num_initial = 1 if frames0 is None else int(frames0.shape[0])
    steps = _rollout_steps(steps, resolved, num_initial)
    if refine is True and not _has_refiner(resolved):
        raise _no_refiner(resolved)
    refined = refine is True or (refine is None and _has_refiner(resolved))
    if residual is True:
        for cond in conds:
            pde_from_spec(resolved.details.spec, cond, net.field_names, dim=net.config.dim)
    names = list(net.field_names)
    count = len(conds)
    num_nodes = int(graph.pos.shape[0])
    mesh_only = Data(pos=graph.pos, edge_index=graph.edge_index)
    if getattr(graph, "boundary", None) is not None:
        mesh_only.boundary = graph.boundary
    batch = Batch.from_data_list([mesh_only] * count).to(device)
    cond_tensor = torch.tensor([[c[n] for n in net.cond_names] for c in conds])
    if not net.cond_names:
        cond_tensor = None
    start = None if frames0 is None else frames0.to(device).repeat(1, count, 1)
    was_training = net.training
    net.eval()
    try:
        trajectory = net.rollout(batch, int(steps), start, cond=cond_tensor).cpu()
    finally:
        net.train(was_training)
    times = resolved.details.times(trajectory.shape[0])
    results = []
    for i, cond in enumerate(conds):
        fields = trajectory[:, i * num_nodes : (i + 1) * num_nodes].contiguous()
        _check_finite(fields, names, cond, 0 if frames0 is None else num_initial)
        if refined:
            fields = _refine(resolved, graph, fields, times, cond, num_initial)
        results.append(_result(resolved, graph, fields, times, cond, residual, None))
    return results


def _result(
    resolved: ResolvedModel,
    graph: Any,
    fields: Tensor,
    times: Tensor,
    cond: dict[str, float],
    residual: bool | PDE,
    query_fn: Any,
) -> FieldResult:
    """A FieldResult of a rollout, with its residual (when asked for) and metrics."""
    from meshfield.result import FieldResult

    result = FieldResult(
        fields=fields,
        field_names=list(resolved.model.field_names),
        times=times.to(torch.float32),
        mesh=graph,
        units=resolved.details.units,
        cond=cond,
        query_fn=query_fn,
    )
    values, components = _residual(residual, resolved, graph, fields, times, cond)
    if values is not None:
        result.residual = values
        result.residual_names = components
        from meshfield.metrics.residual import interior_nodes, residual_scores

        interior = interior_nodes(graph)
        result.metrics.update(residual_scores(values, components, interior=interior))
    return result


def _query_values(rollout: Trajectory, points: Tensor, fields: Tensor, graph: Any) -> Tensor:
    """``[T, Q, C]``: given initial frames interpolated on the mesh, then the decoder's values."""
    from meshfield.result import FieldResult

    names = list(rollout.model.field_names)
    values = [
        FieldResult(fields[step : step + 1], names, None, graph).at(points, step=0)
        for step in range(rollout.num_input)
    ]
    queried = [] if rollout.queries is None else list(rollout.queries.unbind(0))
    return torch.stack([v.to(torch.float32) for v in [*values, *queried]])
