r"""The physics refinement block: PDE residuals at query points, encoded, decoded to a correction.

A pretrained field model predicts frame :math:`\hat u^{n}` from the frames before it. The
:class:`PhysicsRefiner` looks at where that prediction breaks the governing equations and
corrects it:

1. query points :math:`q` are drawn in the domain (uniform in the cells) and on the boundary
   groups that carry a boundary condition (:class:`~meshfield.physics.sampling.MeshSampler`);
2. at the domain points the PDE residual :math:`r(q)` is computed in physical units
   (:func:`transition_residual`): spatial derivatives by autograd through the model's
   point-query decoder, the time derivative by the backward difference of the frames at
   :math:`q`; at the boundary points the boundary-condition residual :math:`u(q) - g`;
3. a small encoder maps every point's (position, scaled residual) to a latent vector; every
   node attends to the points (dot-product attention with a learned distance penalty, so a
   node reads mostly the residuals around it) and also sees their mean;
4. a head decodes, per node, a correction :math:`\delta_i` in normalized field units from the
   node's token, its attention read-out and the pooled latent:

   .. math::
       \tilde u^{n}_i = \hat u^{n}_i + \sigma \odot \delta_i,

   with :math:`\sigma` the model's field scale. The head's last layer starts at zero, so a new
   refiner is the identity;
5. optionally (``RefinerConfig.projection``), the corrected trajectory is projected onto the
   PDE: the least change that lowers its residual on the mesh
   (:func:`meshfield.physics.projection.project_residual`). A refiner fine-tuned with no steps
   (``learned=False``) only projects.

The refiner is trained self-supervised by :func:`meshfield.refine.finetune.finetune` (over a
dataset) or :func:`~meshfield.refine.finetune.finetune_test_time` (one new mesh and
condition), and applied to a predicted trajectory by :func:`apply_refiner`. It is saved beside
the model in the checkpoint folder (``refiner.safetensors`` and ``refiner.json``, written by
:func:`save_refined_checkpoint`) and restored by :func:`load_refiner`; nothing is unpickled.

References
----------
P. Du et al., "Spatiotemporal Field Generation Based on Hybrid Mamba-Transformer with
Physics-informed Fine-tuning" (HMT-PF), arXiv:2505.11578, 2025.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from meshfield._config import Config
from meshfield._files import atomic_folder, sha256
from meshfield.physics.pde import PDE, AutogradDerivatives
from meshfield.physics.registry import pde_from_dict
from meshfield.physics.sampling import MeshSampler, PointSample

__all__ = [
    "BoundaryValue",
    "PhysicsRefiner",
    "RefinedModel",
    "RefinerConfig",
    "apply_refiner",
    "boundary_targets",
    "load_refiner",
    "refine_step",
    "save_refined_checkpoint",
    "transition_residual",
]

REFINER_WEIGHTS = "refiner.safetensors"
REFINER_CONFIG = "refiner.json"
REFINER_FORMAT = "meshfield-refiner"
REFINER_VERSION = 1


# -------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class BoundaryValue:
    """A Dirichlet value on a boundary group: ``field = value`` on ``group``.

    Parameters
    ----------
    group : str
        Boundary group name (``boundary_names`` of the mesh), e.g. ``"left"``, ``"cylinder"``.
    field : str
        Field name, e.g. ``"T"``, ``"U_x"``.
    value : float or str
        A constant, or the name of a condition that holds it (e.g. ``"T_left"``).
    """

    group: str
    field: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> list[BoundaryValue]:
        """``"group:field=value[,field=value]"``, e.g. ``"cylinder:U_x=0,U_y=0"``."""
        group, sep, rest = text.partition(":")
        if not sep or not group or not rest:
            msg = f"Expected a boundary condition 'group:field=value[,field=value]' (got {text!r})"
            raise ValueError(msg)
        out = []
        for part in rest.split(","):
            name, eq, value = part.partition("=")
            if not eq or not name or not value:
                msg = f"Expected 'field=value' in the boundary condition {text!r} (got {part!r})"
                raise ValueError(msg)
            try:
                parsed: float | str = float(value)
            except ValueError:
                parsed = value.strip()
            out.append(cls(group.strip(), name.strip(), parsed))
        return out


@dataclass(frozen=True)
class RefinerConfig(Config):
    """Configuration of a :class:`PhysicsRefiner` (stored in ``refiner.json``).

    Parameters
    ----------
    field_names : tuple of str
        The model's channels, in order.
    pde : mapping
        The governing equations, ``{"name": "heat", "params": {...}}`` (:func:`pde_to_dict`).
    token_width : int
        Width :math:`D` of the model's node tokens (``model.width``).
    dim : int, optional
        Spatial dimension. default: 2.
    hidden : int, optional
        Width of the encoder, the attention and the head. default: 32.
    domain_points : int, optional
        Query points drawn in the domain per frame. default: 256.
    boundary_points : int, optional
        Query points drawn on the boundary groups of ``boundary`` per frame. default: 64.
    pooling : {"attention", "mean"}, optional
        ``"attention"``: every node attends to the query latents (plus their mean);
        ``"mean"``: every node reads only the mean latent of its graph. default: attention.
    boundary : tuple of BoundaryValue, optional
        Dirichlet values the refiner sees (and fine-tuning enforces). default: none.
    learned : bool, optional
        Apply the learned correction (``False`` for a refiner fine-tuned with no steps, which
        only projects). default: ``True``.
    projection : float, optional
        Then project the trajectory onto the PDE with this weight
        (:func:`meshfield.physics.projection.project_residual`: the least change, in units
        of the model's field std, that lowers the residual on the mesh). default: none.
    projection_iterations : int, optional
        L-BFGS iterations of the projection. default: 20.
    """

    field_names: tuple[str, ...]
    pde: Mapping[str, Any]
    token_width: int
    dim: int = 2
    hidden: int = 32
    domain_points: int = 256
    boundary_points: int = 64
    pooling: str = "attention"
    boundary: tuple[BoundaryValue, ...] = field(default_factory=tuple)
    learned: bool = True
    projection: float | None = None
    projection_iterations: int = 20

    def __post_init__(self) -> None:
        check_projection(self.projection, self.projection_iterations)
        if self.pooling not in ("attention", "mean"):
            msg = f"Expected 'pooling' 'attention' or 'mean' (got {self.pooling!r})"
            raise ValueError(msg)
        for name in ("token_width", "hidden", "domain_points"):
            if int(getattr(self, name)) < 1:
                msg = f"Expected a positive '{name}' (got {getattr(self, name)})"
                raise ValueError(msg)
        if self.boundary_points < 0:
            msg = f"Expected 'boundary_points' >= 0 (got {self.boundary_points})"
            raise ValueError(msg)
        object.__setattr__(self, "field_names", tuple(self.field_names))
        object.__setattr__(self, "boundary", tuple(self.boundary))
        for bc in self.boundary:
            if bc.field not in self.field_names:
                msg = f"Boundary value on {bc.group!r} names the unknown field {bc.field!r}"
                raise ValueError(msg)


def check_projection(weight: float | None, iterations: int) -> None:
    """The projection settings of a refiner or a fine-tuning run are usable, else ValueError."""
    if weight is not None and not 0 < float(weight) < math.inf:
        msg = f"Expected a positive, finite 'projection' weight or none (got {weight})"
        raise ValueError(msg)
    if int(iterations) < 1:
        msg = f"Expected 'projection_iterations' >= 1 (got {iterations})"
        raise ValueError(msg)


# -------------------------------------------------------------------------------------------
# residuals at query points


class _StepDerivatives(AutogradDerivatives):
    """Space by autograd at the query points, time by differences of frames at those points."""

    def __init__(
        self,
        values: Tensor,
        coords: Tensor,
        field_names: Sequence[str],
        dim: int,
        *,
        current: Tensor,
        previous: Tensor,
        before: Tensor | None,
        dt: float,
        time: float,
    ) -> None:
        super().__init__(values, coords, field_names, dim)
        self.current, self.previous, self.before = current, previous, before
        self.step, self.time = dt, time

    def dt(self, name: str) -> Tensor:
        c = self._channel(name)
        return (self.current[..., c] - self.previous[..., c]) / self.step

    def d2t(self, name: str) -> Tensor:
        if self.before is None:
            msg = "A second time derivative needs two earlier frames"
            raise ValueError(msg)
        c = self._channel(name)
        return (self.current[..., c] - 2 * self.previous[..., c] + self.before[..., c]) / (
            self.step**2
        )

    def t(self) -> Tensor:
        return self.coords.new_full(self.coords.shape[:-1], self.time)


def transition_residual(
    model: nn.Module,
    pde: PDE,
    output: Any,
    previous: Tensor,
    pos: Tensor,
    sample: PointSample,
    *,
    dt: float,
    cond: Mapping[str, Any] | None = None,
    time: float = 0.0,
    before: Tensor | None = None,
    create_graph: bool = True,
    return_values: bool = False,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    r"""PDE residual of one predicted step at query points, in physical units.

    The field at the new time is the model's point-query decoder on ``output``; spatial
    derivatives are taken by autograd with respect to the query coordinates. The time
    derivative is the backward difference of the frames at the points, each frame interpolated
    linearly from its nodes:

    .. math::
        \partial_t u(q) \approx \frac{\Pi u^{n}(q) - \Pi u^{n-1}(q)}{\Delta t},

    so the residual is that of an implicit (backward Euler) step, the scheme of the heat_plate
    reference.

    Parameters
    ----------
    model : FieldModel
        Provides ``query``.
    pde : PDE
        The equations (their ``fields`` must be among the model's ``field_names``).
    output : StepOutput
        The step (possibly corrected) that predicted frame :math:`n`.
    previous : Tensor
        ``[N, C]`` frame :math:`n - 1`, physical.
    pos : Tensor
        ``[N, d]`` node positions, physical.
    sample : PointSample
        Domain points (with their simplices).
    dt : float
        :math:`\Delta t` between the frames.
    cond : mapping, optional
        Physical conditions of the PDE. default: the PDE's own.
    time : float, optional
        Time of frame :math:`n` (for PDEs that read it). default: 0.
    before : Tensor, optional
        ``[N, C]`` frame :math:`n - 2` (second time derivatives). default: none.
    create_graph : bool, optional
        Keep the graph for training. default: ``True``.
    return_values : bool, optional
        Also return the queried values ``[Q, C]``. default: ``False``.

    Returns
    -------
    residual, scale : Tensor
        ``[Q, K]`` each: the residual and the magnitude of its terms (:meth:`PDE.evaluate`).
    """
    q = sample.points.detach().to(pos.dtype).requires_grad_(True)
    with torch.enable_grad():
        values = model.query(q, output, pos)
        current = sample.interpolate(output.fields)
        previous_q = sample.interpolate(previous)
        before_q = sample.interpolate(before) if before is not None else None
        provider = _StepDerivatives(
            values,
            q,
            model.field_names,
            pde.dim,
            current=current,
            previous=previous_q,
            before=before_q,
            dt=float(dt),
            time=float(time),
        )
        residual, scale = pde.evaluate(provider, cond)
    if not create_graph:
        residual, scale, values = residual.detach(), scale.detach(), values.detach()
    if return_values:
        return residual, scale, values
    return residual, scale


def boundary_targets(
    boundary: Sequence[BoundaryValue],
    sample: PointSample,
    group_names: Sequence[str],
    field_names: Sequence[str],
    cond: Mapping[str, Any] | None,
) -> tuple[Tensor, Tensor]:
    """Dirichlet targets at boundary points: ``(values [Q, C], mask [Q, C])`` (physical).

    A value given as a condition name is read from ``cond``.
    """
    q = sample.points.size(0)
    target = sample.points.new_zeros(q, len(field_names))
    mask = torch.zeros(q, len(field_names), dtype=torch.bool, device=sample.points.device)
    for bc in boundary:
        if bc.group not in group_names:
            continue
        if isinstance(bc.value, str):
            if cond is None or bc.value not in cond:
                msg = (
                    f"The boundary value of {bc.field!r} on {bc.group!r} is the condition "
                    f"{bc.value!r}, which is not given (conditions: {sorted(cond or {})})"
                )
                raise ValueError(msg)
            value = float(cond[bc.value])
        else:
            value = float(bc.value)
        rows = sample.group == list(group_names).index(bc.group)
        column = list(field_names).index(bc.field)
        target[rows, column] = value
        mask[rows, column] = True
    return target, mask


# -------------------------------------------------------------------------------------------
# the module


class PhysicsRefiner(nn.Module):
    r"""Residual-conditioned correction of a model's predicted frame (module notes above).

    Point features (per query point, :math:`F = d + K + 2C + 1`): normalized position,
    :math:`\operatorname{asinh}(r_k / s_k)` (domain points; :math:`s_k` is
    :attr:`residual_scale`), :math:`(u - g)/\sigma` and the mask of the constrained channels
    (boundary points), and a boundary flag. With :math:`e_q = \mathrm{MLP}(f_q)` and
    :math:`z_i = W_h h_i + W_u \hat u_i + W_x \hat x_i`,

    .. math::
        a_i = \sum_q \operatorname{softmax}_q\Big(\frac{(W_Q z_i)\cdot(W_K e_q)}{\sqrt{H}}
              - \beta\,\lVert \hat x_i - \hat q \rVert^2\Big)\, W_V e_q, \qquad
        \delta_i = \mathrm{MLP}([z_i, a_i, \bar e]),

    where :math:`\bar e` is the mean latent and the last layer of the head starts at zero.

    Parameters
    ----------
    config : RefinerConfig
        The configuration.

    Shapes
    ------
    - **input:** node tokens ``[N, D]``, normalized positions ``[N, d]``, normalized values
      ``[N, C]``, normalized query positions ``[Q, d]``, point features ``[Q, F]``
    - **output:** correction ``[N, C]`` in normalized field units

    Example
    -------
    >>> cfg = RefinerConfig(field_names=("T",), pde={"name": "heat", "params": {}},
    ...                     token_width=8, hidden=8)
    >>> refiner = PhysicsRefiner(cfg)
    >>> out = refiner(torch.randn(5, 8), torch.rand(5, 2), torch.randn(5, 1), torch.rand(7, 2),
    ...               torch.randn(7, refiner.point_features))
    >>> out.shape, bool(out.abs().max() == 0)
    (torch.Size([5, 1]), True)
    """

    def __init__(self, config: RefinerConfig) -> None:
        super().__init__()
        self.config = config
        self.pde = pde_from_dict(config.pde)
        num_fields = len(config.field_names)
        num_components = len(self.pde.components)
        d, h = config.dim, config.hidden
        self.point_features = d + num_components + 2 * num_fields + 1
        self.point_encoder = nn.Sequential(
            nn.Linear(self.point_features, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU()
        )
        self.node_token = nn.Linear(config.token_width, h)
        self.node_values = nn.Linear(num_fields, h, bias=False)
        self.node_pos = nn.Linear(d, h, bias=False)
        self.attn_q = nn.Linear(h, h, bias=False)
        self.attn_k = nn.Linear(h, h, bias=False)
        self.attn_v = nn.Linear(h, h, bias=False)
        self.log_locality = nn.Parameter(torch.zeros(()))
        self.head = nn.Sequential(
            nn.Linear(3 * h, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, num_fields)
        )
        self.register_buffer("residual_scale", torch.ones(num_components))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize every layer; the head's last layer is zero (the refiner is the identity)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        with torch.no_grad():
            self.log_locality.fill_(math.log(25.0))
            last = self.head[-1]
            last.weight.zero_()
            last.bias.zero_()

    @property
    def components(self) -> tuple[str, ...]:
        """Residual components of the PDE."""
        return tuple(self.pde.components)

    def forward(
        self,
        node_features: Tensor,
        pos: Tensor,
        values: Tensor,
        query: Tensor,
        point_features: Tensor,
    ) -> Tensor:
        """Correction ``[N, C]`` (normalized units) of one graph's frame (shapes above)."""
        if point_features.shape != (query.size(0), self.point_features):
            msg = (
                f"Expected point features with shape [{query.size(0)}, {self.point_features}] "
                f"(got {list(point_features.shape)})"
            )
            raise ValueError(msg)
        latent = self.point_encoder(point_features)  # [Q, H]
        node = (
            self.node_token(node_features)
            + self.node_values(values.to(node_features.dtype))
            + self.node_pos(pos.to(node_features.dtype))
        )  # [N, H]
        pooled = latent.mean(0, keepdim=True).expand(node.size(0), -1)
        if self.config.pooling == "attention":
            logits = self.attn_q(node) @ self.attn_k(latent).T / math.sqrt(node.size(1))
            distance = torch.cdist(pos.to(node.dtype), query.to(node.dtype)).square()
            logits = logits - self.log_locality.exp() * distance
            read = torch.softmax(logits, dim=-1) @ self.attn_v(latent)
        else:
            read = torch.zeros_like(node)
        return self.head(torch.cat([node, read, pooled], dim=-1))

    def extra_repr(self) -> str:
        cfg = self.config
        return (
            f"pde={cfg.pde.get('name')!r}, fields={list(cfg.field_names)}, hidden={cfg.hidden}, "
            f"pooling={cfg.pooling!r}, points={cfg.domain_points}+{cfg.boundary_points}"
        )


# -------------------------------------------------------------------------------------------
# one refined frame


def _corrected(model: nn.Module, output: Any, correction: Tensor) -> Any:
    normalized = output.normalized + correction
    return output._replace(
        fields=model.normalizer.denormalize_fields(normalized), normalized=normalized
    )


def draw_points(
    refiner: PhysicsRefiner,
    sampler: MeshSampler,
    generator: torch.Generator | None,
) -> tuple[PointSample, PointSample | None]:
    """The domain points and (when the refiner has boundary values) the boundary points."""
    cfg = refiner.config
    domain = sampler.domain(cfg.domain_points, generator=generator)
    groups = sorted({bc.group for bc in cfg.boundary if bc.group in sampler.group_names})
    boundary = None
    if groups and cfg.boundary_points > 0:
        boundary = sampler.boundary(cfg.boundary_points, groups=groups, generator=generator)
    return domain, boundary


def refine_step(
    model: nn.Module,
    refiner: PhysicsRefiner,
    output: Any,
    previous: Tensor,
    pos: Tensor,
    sampler: MeshSampler,
    *,
    dt: float,
    cond: Mapping[str, Any] | None,
    time: float = 0.0,
    before: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Any:
    """Correct one predicted step: residuals at fresh query points -> refiner -> new output.

    Parameters
    ----------
    model : FieldModel
        The model that produced ``output``.
    refiner : PhysicsRefiner
        The refiner.
    output : StepOutput
        The model's step for frame :math:`n`.
    previous : Tensor
        ``[N, C]`` frame :math:`n - 1` the step started from, physical.
    pos : Tensor
        ``[N, d]`` physical node positions.
    sampler : MeshSampler
        The mesh's sampler.
    dt : float
        Time between the frames.
    cond : mapping, optional
        Physical conditions (PDE and boundary values).
    time : float, optional
        Time of frame :math:`n`. default: 0.
    before : Tensor, optional
        ``[N, C]`` frame :math:`n - 2`. default: none.
    generator : torch.Generator, optional
        Source of the query points. default: torch's global one.

    Returns
    -------
    StepOutput
        ``output`` with ``fields`` and ``normalized`` corrected.
    """
    norm = model.normalizer
    domain, boundary = draw_points(refiner, sampler, generator)
    residual, _ = transition_residual(
        model,
        refiner.pde,
        output,
        previous,
        pos,
        domain,
        dt=dt,
        cond=cond,
        time=time,
        before=before,
        create_graph=False,
    )
    scale = refiner.residual_scale.to(residual.dtype)
    num_fields = len(model.field_names)
    num_components = residual.size(1)
    dtype = output.normalized.dtype
    dom = torch.cat(
        [
            norm.normalize_pos(domain.points),
            torch.asinh(residual / scale).to(dtype),
            domain.points.new_zeros(domain.points.size(0), 2 * num_fields + 1),
        ],
        dim=-1,
    )
    parts_q, parts_f = [norm.normalize_pos(domain.points)], [dom]
    if boundary is not None:
        target, mask = boundary_targets(
            refiner.config.boundary, boundary, sampler.group_names, model.field_names, cond
        )
        values = boundary.interpolate(output.fields.detach())
        miss = torch.where(mask, (values - target) / norm.field_std, torch.zeros_like(values))
        bnd = torch.cat(
            [
                norm.normalize_pos(boundary.points),
                boundary.points.new_zeros(boundary.points.size(0), num_components),
                miss.to(dtype),
                mask.to(dtype),
                boundary.points.new_ones(boundary.points.size(0), 1),
            ],
            dim=-1,
        )
        parts_q.append(norm.normalize_pos(boundary.points))
        parts_f.append(bnd)
    correction = refiner(
        output.node_features,
        norm.normalize_pos(pos),
        output.normalized,
        torch.cat(parts_q),
        torch.cat(parts_f).to(dtype),
    )
    return _corrected(model, output, correction)


# -------------------------------------------------------------------------------------------
# attaching, saving, loading

class RefinedModel(nn.Module):
    """A field model and its physics refiner as one module: saved, loaded and rebuilt together.

    ``model`` predicts, ``refiner`` corrects (:meth:`refine`, :func:`apply_refiner`); both are
    submodules, so ``.to()``, ``.eval()`` and ``state_dict()`` (keys ``model.*`` and
    ``refiner.*``) cover the pair. On disk it is one checkpoint folder: the model's files and,
    beside them, ``refiner.safetensors`` and ``refiner.json`` (:meth:`save`,
    :meth:`load`). :attr:`config` holds both configurations and :meth:`from_config` builds
    the same (untrained) pair from it.

    Parameters
    ----------
    model : FieldModel
        The field model.
    refiner : PhysicsRefiner
        A refiner of the model's fields.

    Example
    -------
    >>> refined = RefinedModel.load("runs/refined")                            # doctest: +SKIP
    >>> pred = refined.model.rollout(graph, 20, initial=graph.fields[:1])      # doctest: +SKIP
    >>> corrected = refined.refine(graph, pred)                                 # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, refiner: PhysicsRefiner) -> None:
        super().__init__()
        if tuple(model.field_names) != tuple(refiner.config.field_names):
            msg = (
                f"The refiner corrects {list(refiner.config.field_names)}; the model predicts "
                f"{list(model.field_names)}"
            )
            raise ValueError(msg)
        self.model = model
        self.refiner = refiner

    @property
    def frame_step(self) -> int:
        """The model's snapshots per step."""
        return int(getattr(self.model, "frame_step", 1))

    @property
    def config(self) -> dict[str, Any]:
        """``{"model": {"kind", "config"}, "refiner": RefinerConfig.to_dict()}`` (JSON)."""
        return {
            "model": {"kind": self.model.kind, "config": self.model.config.to_dict()},
            "refiner": self.refiner.config.to_dict(),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RefinedModel:
        """A new (untrained) pair of the configurations in ``config`` (see :attr:`config`)."""
        from meshfield.models.registry import model_class

        try:
            spec, refiner = config["model"], config["refiner"]
            model_cls = model_class(spec["kind"])
            model_config = model_cls.config_class().from_dict(spec["config"])
        except (KeyError, TypeError) as err:
            msg = f"Expected a RefinedModel configuration {{'model', 'refiner'}} ({err})"
            raise ValueError(msg) from None
        return cls(model_cls(model_config), PhysicsRefiner(RefinerConfig.from_dict(refiner)))

    def refine(self, data: Any, fields: Tensor, **kwargs: Any) -> Tensor:
        """:func:`apply_refiner` of this pair (same arguments after ``fields``)."""
        return apply_refiner(self.model, data, fields, refiner=self.refiner, **kwargs)

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        metadata: Mapping[str, Any] | None = None,
        refiner_info: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the pair as one checkpoint folder (:func:`save_refined_checkpoint`)."""
        return save_refined_checkpoint(
            self.model, self.refiner, path, metadata=metadata, refiner_info=refiner_info
        )

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
    ) -> RefinedModel:
        """The pair saved in a checkpoint folder, in eval mode (nothing is unpickled)."""
        from meshfield.checkpoint import load_model

        model = load_model(path, device=device)
        return cls(model, load_refiner(path, model)).eval()


def attach_refiner(model: nn.Module, refiner: PhysicsRefiner) -> RefinedModel:
    """Deprecated: ``RefinedModel(model, refiner)``, which it returns.

    It no longer attaches anything to ``model``: pass the returned module where the model
    went (``apply_refiner``, ``generate``, ``evaluate``).
    """
    import warnings

    warnings.warn(
        "attach_refiner is deprecated and no longer attaches the refiner to the model: use "
        "the module it returns, RefinedModel(model, refiner)",
        DeprecationWarning,
        stacklevel=2,
    )
    return RefinedModel(model, refiner)


def get_refiner(model: nn.Module) -> PhysicsRefiner | None:
    """Deprecated: the refiner of a :class:`RefinedModel` (``model.refiner``), else ``None``."""
    import warnings

    warnings.warn(
        "get_refiner is deprecated: a RefinedModel holds its refiner as .refiner",
        DeprecationWarning,
        stacklevel=2,
    )
    return model.refiner if isinstance(model, RefinedModel) else None


def _write_refiner(refiner: PhysicsRefiner, folder: Path, extra: Mapping[str, Any]) -> None:
    from meshfield.checkpoint import write_weights_and_info

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in refiner.state_dict().items()}
    info = {
        "format": REFINER_FORMAT,
        "version": REFINER_VERSION,
        "config": refiner.config.to_dict(),
        **json.loads(json.dumps(dict(extra))),
    }
    write_weights_and_info(
        folder, REFINER_WEIGHTS, tensors, REFINER_CONFIG, info, {"format": REFINER_FORMAT}
    )


def save_refined_checkpoint(
    model: nn.Module,
    refiner: PhysicsRefiner,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    refiner_info: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder with the model and, beside it, the refiner (atomically).

    The folder holds what :func:`meshfield.save_checkpoint` writes plus
    ``refiner.safetensors`` and ``refiner.json``; ``config.json`` gets
    ``metadata["refiner"] = "refiner.json"``. Everything is written into a temporary folder
    next to ``path`` first and renamed into place, so an interrupted save leaves the old
    checkpoint (or none), never a partial one.

    Parameters
    ----------
    model : FieldModel
        The (fine-tuned) model.
    refiner : PhysicsRefiner
        Its refiner.
    path : str or path-like
        The checkpoint folder to create or replace.
    metadata : mapping, optional
        Further JSON data for ``config.json``. default: none.
    refiner_info : mapping, optional
        Further JSON data for ``refiner.json`` (e.g. the fine-tuning settings). default: none.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from meshfield.checkpoint import CONFIG_FILE, write_checkpoint_files

    path = Path(path)
    if path.exists() and not (path / CONFIG_FILE).is_file() and any(path.iterdir()):
        msg = f"{path} exists and is not a meshfield checkpoint; refusing to replace it"
        raise FileExistsError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(path) as folder:
        info = {**dict(metadata or {}), "refiner": REFINER_CONFIG}
        write_checkpoint_files(model, folder, metadata=info)
        _write_refiner(refiner, folder, refiner_info or {})
    return path


def load_refiner(
    path: str | os.PathLike[str], model: nn.Module | None = None
) -> PhysicsRefiner:
    """Load the refiner saved in a checkpoint folder (no unpickling); check it against ``model``.

    Parameters
    ----------
    path : str or path-like
        A checkpoint folder written by :func:`save_refined_checkpoint`.
    model : FieldModel, optional
        Check that the refiner corrects this model's fields and move it to the model's
        device (:class:`RefinedModel` pairs them). default: none.

    Returns
    -------
    PhysicsRefiner
        In eval mode.

    Raises
    ------
    FileNotFoundError
        No ``refiner.json`` or weights in the folder.
    meshfield.checkpoint.CheckpointError
        A modified, truncated or inconsistent refiner.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from meshfield.checkpoint import CheckpointError

    path = Path(path)
    config_path = path / REFINER_CONFIG
    if not config_path.is_file():
        msg = f"No refiner in {path} (expected {REFINER_CONFIG}; fine-tune with meshfield finetune)"
        raise FileNotFoundError(msg)
    try:
        info = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"{config_path} is not valid JSON: {err}"
        raise CheckpointError(msg) from None
    if not isinstance(info, dict) or info.get("format") != REFINER_FORMAT:
        msg = f'{config_path} is not a meshfield refiner (no "format": "{REFINER_FORMAT}")'
        raise CheckpointError(msg)
    if info.get("version") != REFINER_VERSION:
        msg = f"{config_path} has refiner version {info.get('version')!r}; this reads {REFINER_VERSION}"
        raise CheckpointError(msg)
    try:
        config = RefinerConfig.from_dict(info["config"])
    except (KeyError, TypeError, ValueError) as err:
        msg = f"{config_path} has a bad 'config': {err}"
        raise CheckpointError(msg) from None
    weights = path / REFINER_WEIGHTS
    if not weights.is_file():
        msg = f"{weights} is missing (the refiner {config_path} names it)"
        raise FileNotFoundError(msg)
    recorded = info.get("weights", {})
    if weights.stat().st_size != recorded.get("bytes") or sha256(weights) != recorded.get(
        "sha256"
    ):
        msg = f"{weights} is truncated or was modified (size or SHA-256 differ from {config_path})"
        raise CheckpointError(msg)
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        msg = f"{weights} is not a readable safetensors file: {err}"
        raise CheckpointError(msg) from None
    refiner = PhysicsRefiner(config)
    expected = refiner.state_dict()
    if set(expected) != set(tensors) or any(
        expected[k].shape != tensors[k].shape for k in expected
    ):
        msg = f"{weights} does not match the refiner configuration of {config_path}"
        raise CheckpointError(msg)
    refiner.load_state_dict(tensors, strict=True)
    refiner.eval()
    if model is not None:
        if tuple(model.field_names) != config.field_names:
            msg = (
                f"The refiner in {path} corrects {list(config.field_names)}; the model predicts "
                f"{list(model.field_names)}"
            )
            raise CheckpointError(msg)
        device = next(iter(model.parameters())).device
        refiner.to(device)
    return refiner


# -------------------------------------------------------------------------------------------
# the hook of generate(..., refine=True)


def _cond_dict(model: nn.Module, data: Any, cond: Any) -> dict[str, float]:
    if isinstance(cond, Mapping):
        return {str(k): float(v) for k, v in cond.items()}
    names = list(getattr(data, "cond_names", None) or model.cond_names)
    values = cond if cond is not None else getattr(data, "cond", None)
    if values is None:
        return {}
    values = torch.as_tensor(values).reshape(-1).tolist()
    return dict(zip(names, (float(v) for v in values), strict=False))


def _model_cond(model: nn.Module, cond: Mapping[str, float]) -> Tensor | None:
    if not model.cond_names:
        return None
    missing = [n for n in model.cond_names if n not in cond]
    if missing:
        msg = f"The model needs the conditions {list(model.cond_names)} (missing {missing})"
        raise ValueError(msg)
    return torch.tensor([cond[n] for n in model.cond_names])


def _frame_times(data: Any, times: Tensor | None, count: int, dt: float | None) -> Tensor:
    if times is None:
        times = getattr(data, "times", None)
    if times is not None and torch.as_tensor(times).numel() >= count:
        return torch.as_tensor(times, dtype=torch.float64).reshape(-1)[:count]
    if dt is None:
        msg = "Refinement needs the times of the frames: pass 'times' [T] or 'dt'"
        raise ValueError(msg)
    return torch.arange(count, dtype=torch.float64) * float(dt)


@torch.no_grad()
def apply_refiner(
    model: nn.Module,
    data: Any,
    fields: Tensor,
    *,
    cond: Mapping[str, float] | Tensor | None = None,
    times: Tensor | None = None,
    dt: float | None = None,
    refiner: PhysicsRefiner | str | os.PathLike[str] | None = None,
    start: int | None = None,
    seed: int = 0,
) -> Tensor:
    r"""Refine a predicted trajectory with the model's physics refiner.

    Every frame :math:`n \ge` ``start`` is predicted again by the model from the given frames
    before it, the temporal state carried from step to step (teacher forcing on ``fields``;
    for a trajectory that came from ``model.rollout`` from its first ``start`` frames this
    reproduces it), then corrected by :func:`refine_step` from the residuals of that step
    at query points. Frames are corrected independently, each from the unrefined trajectory,
    exactly as during fine-tuning (skipped when the refiner's config says ``learned=False``).
    Then, when the config sets ``projection``, the trajectory is projected onto the PDE: the
    least change (in units of the model's field std) that lowers its residual on the mesh
    (:func:`meshfield.physics.projection.project_residual`; trajectories of three frames or
    more). The first ``start`` frames (the given initial state) are returned unchanged.

    Parameters
    ----------
    model : RefinedModel or FieldModel
        The model with its refiner, or a model whose refiner is ``refiner``.
    data : MeshGraph
        The mesh (``pos``, ``edge_index``, ``boundary``, ``cells``; ``boundary_names`` for the
        boundary values); its ``cond`` and ``times`` are the defaults below.
    fields : Tensor
        ``[T, N, C]`` the predicted trajectory, physical units.
    cond : mapping or Tensor, optional
        Physical conditions (``{name: value}``, or values in the order of ``data.cond_names``
        / ``model.cond_names``). default: ``data.cond``.
    times : Tensor, optional
        ``[T]`` times of the frames. default: ``data.times``, else ``dt`` steps.
    dt : float, optional
        Time step when no times are known. default: none.
    refiner : PhysicsRefiner or str or path-like, optional
        The refiner, or a checkpoint folder to load it from. default: that of a
        :class:`RefinedModel`.
    start : int, optional
        Frames kept as given. default: ``model.history``.
    seed : int, optional
        Seed of the query points (the result is deterministic for a seed). default: 0.

    Returns
    -------
    Tensor
        ``[T, N, C]`` refined fields, physical units.

    Example
    -------
    >>> refined = RefinedModel.load("runs/refined")                            # doctest: +SKIP
    >>> pred = refined.model.rollout(graph, 20, initial=graph.fields[:1])      # doctest: +SKIP
    >>> corrected = apply_refiner(refined, graph, pred)                         # doctest: +SKIP
    """
    if isinstance(model, RefinedModel):
        refiner = model.refiner if refiner is None else refiner
        model = model.model
    if isinstance(refiner, str | os.PathLike):
        refiner = load_refiner(refiner, model)
    if refiner is None:
        msg = (
            "The model has no refiner: pass a RefinedModel (RefinedModel.load(path)) or "
            "'refiner' (a PhysicsRefiner or a refined checkpoint folder)"
        )
        raise ValueError(msg)
    num_fields = len(model.field_names)
    if fields.dim() != 3 or fields.shape[1:] != (data.pos.size(0), num_fields):
        msg = (
            f"Expected 'fields' with shape [T, {data.pos.size(0)}, {num_fields}] "
            f"(got {list(fields.shape)})"
        )
        raise ValueError(msg)
    start = int(model.history if start is None else start)
    if start < 1:
        msg = f"'start' must be at least 1 (got {start})"
        raise ValueError(msg)
    conditions = _cond_dict(model, data, cond)
    frame_times = _frame_times(data, times, fields.size(0), dt)
    refined = fields
    if refiner.config.learned:
        refined = _learned_corrections(
            model, refiner, data, fields, conditions, frame_times, start=start, seed=seed
        )
    if refiner.config.projection is not None and fields.size(0) >= max(start + 1, 3):
        from meshfield.data.stats import safe_std
        from meshfield.physics import MeshOperators
        from meshfield.physics.projection import project_residual

        refined = project_residual(
            refined,
            refiner.pde,
            MeshOperators.from_data(data),
            scale=safe_std(model.normalizer.field_std.to(torch.float64)),
            weight=float(refiner.config.projection),
            iterations=int(refiner.config.projection_iterations),
            keep=start,
            times=frame_times,
            cond=conditions,
            field_names=list(model.field_names),
        ).fields
    return refined


def _learned_corrections(
    model: nn.Module,
    refiner: PhysicsRefiner,
    data: Any,
    fields: Tensor,
    conditions: Mapping[str, float],
    frame_times: Tensor,
    *,
    start: int,
    seed: int,
) -> Tensor:
    """Every frame from ``start`` on predicted again (teacher-forced) and corrected."""
    was_training = refiner.training
    refiner.eval()
    context = model.prepare(data)
    sampler = MeshSampler(data)
    model_cond = _model_cond(model, conditions)
    generator = torch.Generator().manual_seed(seed)
    out = [fields[i] for i in range(min(start, fields.size(0)))]
    steps = max(fields.size(0) - start, 0)
    for step in model.rollout_steps(
        data, steps, fields[:start], cond=model_cond, teacher=fields, context=context
    ):
        n = step.index
        refined = refine_step(
            model,
            refiner,
            step.output,
            fields[n - 1],
            context.pos,
            sampler,
            dt=float(frame_times[n] - frame_times[n - 1]),
            cond=conditions,
            time=float(frame_times[n]),
            before=fields[n - 2] if n >= 2 else None,
            generator=generator,
        )
        out.append(refined.fields.detach())
    refiner.train(was_training)
    return torch.stack(out)
