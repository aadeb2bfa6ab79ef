"""Normalization statistics stored with a model, so its API speaks physical units."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from meshfield.data import stats as _stats
from meshfield.data.stats import Moments, safe_std

__all__ = ["Normalizer"]

#: a standard deviation (or position scale) at or below this is taken as 1: a constant channel
#: is centred but not scaled, as in :class:`meshfield.data.FieldStats` (the one floor rule,
#: :func:`meshfield.data.stats.safe_std`)
STD_FLOOR = _stats.STD_FLOOR

_STATS = (
    "field_mean",
    "field_std",
    "delta_mean",
    "delta_std",
    "cond_mean",
    "cond_std",
    "cond_min",
    "cond_max",
    "pos_center",
    "pos_scale",
)


class Normalizer(nn.Module):
    r"""Per-channel statistics of fields, increments, conditions and positions.

    Models keep one as ``model.normalizer``: inputs and outputs of their public methods are
    physical, everything inside is normalized,

    .. math::
        \hat{u}_c = \frac{u_c - \mu_c}{\sigma_c}, \qquad
        \widehat{\Delta u}_c = \frac{u^{t+1}_c - u^t_c - \mu^\Delta_c}{\sigma^\Delta_c}, \qquad
        \hat{k} = \frac{k - \mu_k}{\sigma_k}, \qquad
        \hat{x} = \frac{x - x_0}{s}.

    Increments get their own statistics (as in MeshGraphNets): they are typically orders of
    magnitude smaller than the fields. Positions are scaled isotropically (one :math:`s`) so
    shapes are not distorted. The ranges of the conditions seen in training are kept for
    extrapolation checks. All statistics are buffers: they move with ``.to()``, are saved in
    the ``state_dict`` and (by :func:`meshfield.save_checkpoint`) in JSON beside the weights.

    Parameters
    ----------
    num_fields : int
        Channels :math:`C`.
    num_cond : int, default: 0
        Conditions :math:`K`.
    dim : int, default: 2
        Spatial dimension :math:`d`.

    Shapes
    ------
    - fields and increments: :math:`(\ldots, C)`; conditions :math:`(\ldots, K)`;
      positions :math:`(\ldots, d)`

    Example
    -------
    >>> import torch
    >>> norm = Normalizer(2).set_stats(field_mean=[1.0, 2.0], field_std=[2.0, 4.0])
    >>> norm.normalize_fields(torch.tensor([3.0, 6.0])).tolist()
    [1.0, 1.0]
    """

    field_mean: Tensor
    field_std: Tensor
    delta_mean: Tensor
    delta_std: Tensor
    cond_mean: Tensor
    cond_std: Tensor
    cond_min: Tensor
    cond_max: Tensor
    pos_center: Tensor
    pos_scale: Tensor

    def __init__(self, num_fields: int, num_cond: int = 0, dim: int = 2) -> None:
        super().__init__()
        if num_fields < 1 or num_cond < 0 or dim < 1:
            msg = (
                f"Expected num_fields >= 1, num_cond >= 0 and dim >= 1 "
                f"(got {num_fields}, {num_cond}, {dim})"
            )
            raise ValueError(msg)
        self.num_fields = num_fields
        self.num_cond = num_cond
        self.dim = dim
        sizes = {"field": num_fields, "delta": num_fields, "cond": num_cond}
        for prefix, size in sizes.items():
            self.register_buffer(f"{prefix}_mean", torch.zeros(size))
            self.register_buffer(f"{prefix}_std", torch.ones(size))
        self.register_buffer("cond_min", torch.full((num_cond,), float("-inf")))
        self.register_buffer("cond_max", torch.full((num_cond,), float("inf")))
        self.register_buffer("pos_center", torch.zeros(dim))
        self.register_buffer("pos_scale", torch.ones(1))

    def reset_parameters(self) -> None:
        """Back to the identity: zero means, unit scales, unbounded condition ranges."""
        for prefix in ("field", "delta", "cond"):
            getattr(self, f"{prefix}_mean").zero_()
            getattr(self, f"{prefix}_std").fill_(1.0)
        self.cond_min.fill_(float("-inf"))
        self.cond_max.fill_(float("inf"))
        self.pos_center.zero_()
        self.pos_scale.fill_(1.0)

    # ---------------------------------------------------------------------------------------
    # statistics

    @torch.no_grad()
    def set_stats(self, **stats: Any) -> Normalizer:
        """Set some statistics by name (``field_mean=[...]``, ``pos_scale=2.0``, ...).

        Standard deviations and the position scale at or below ``STD_FLOOR`` (a constant
        channel) become 1 (:func:`meshfield.data.stats.safe_std`); any other value is stored as
        given. Returns ``self``.
        """
        unknown = sorted(set(stats) - set(_STATS))
        if unknown:
            msg = f"Unknown statistics {unknown}; expected some of {list(_STATS)}"
            raise ValueError(msg)
        for name, value in stats.items():
            buffer = getattr(self, name)
            value = torch.as_tensor(value, dtype=buffer.dtype, device=buffer.device)
            if value.numel() != buffer.numel():
                msg = f"Expected {buffer.numel()} values for '{name}' (got {value.numel()})"
                raise ValueError(msg)
            if not bool(torch.isfinite(value).all()) and name not in (
                "cond_min",
                "cond_max",
            ):
                msg = f"Expected finite values for '{name}' (got {value.tolist()})"
                raise ValueError(msg)
            if name.endswith("_std") or name == "pos_scale":
                value = safe_std(value)
            buffer.copy_(value.reshape(buffer.shape))
        return self

    @torch.no_grad()
    def fit(self, graphs: Iterable[Any], *, frame_step: int = 1) -> Normalizer:
        """Compute every statistic from training graphs (one pass, float64).

        Means and standard deviations are those of :func:`meshfield.data.compute_stats` (the
        same streaming algorithm, :class:`meshfield.data.stats.Moments`): per graph, fields
        over every node and time step, increments over one model step, conditions.

        Parameters
        ----------
        graphs : iterable of MeshGraph
            Graphs with ``pos``, ``fields [T, N, C]`` (increments need ``T > frame_step``)
            and, when the normalizer has conditions, ``cond [K]``.
        frame_step : int, default: 1
            Snapshots per model step: the increments are ``fields[t + s] - fields[t]`` for
            every ``t`` (the model's ``frame_step``).

        Returns
        -------
        Normalizer
            ``self``, with means, standard deviations, condition ranges, the position centre
            (midpoint of the bounding box of all nodes) and scale (half its longest side).
        """
        f64 = torch.float64
        moments = {key: Moments(size) for key, size in self._sizes().items()}
        cond_min = torch.full((self.num_cond,), float("inf"), dtype=f64)
        cond_max = torch.full((self.num_cond,), float("-inf"), dtype=f64)
        low = torch.full((self.dim,), float("inf"), dtype=f64)
        high = torch.full((self.dim,), float("-inf"), dtype=f64)
        if isinstance(frame_step, bool) or not isinstance(frame_step, int) or frame_step < 1:
            msg = f"Expected frame_step >= 1 (got {frame_step!r})"
            raise ValueError(msg)
        seen = 0
        for graph in graphs:
            seen += 1
            fields = graph.fields
            if fields.dim() != 3 or fields.size(-1) != self.num_fields:
                msg = (
                    f"Expected 'fields' with shape [T, N, {self.num_fields}] "
                    f"(got {list(fields.shape)})"
                )
                raise ValueError(msg)
            moments["field"].add(fields)
            if fields.size(0) > frame_step:
                moments["delta"].add(fields[frame_step:] - fields[:-frame_step])
            if self.num_cond:
                cond = torch.as_tensor(graph.cond).reshape(-1, self.num_cond).to(f64)
                moments["cond"].add(cond)
                cond_min = torch.minimum(cond_min, cond.amin(0))
                cond_max = torch.maximum(cond_max, cond.amax(0))
            pos = graph.pos.detach().to(f64)
            low = torch.minimum(low, pos.amin(0))
            high = torch.maximum(high, pos.amax(0))
        if seen == 0:
            msg = "Normalizer.fit needs at least one graph"
            raise ValueError(msg)
        stats: dict[str, Tensor] = {}
        for key, summary in moments.items():
            if summary.count == 0:
                continue
            stats[f"{key}_mean"] = summary.mean
            stats[f"{key}_std"] = summary.std
        if self.num_cond:
            stats["cond_min"], stats["cond_max"] = cond_min, cond_max
        stats["pos_center"] = (low + high) / 2
        stats["pos_scale"] = ((high - low).amax() / 2).reshape(1)
        return self.set_stats(**stats)

    def load_field_stats(self, stats: Any) -> Normalizer:
        """Take field and condition statistics from a :class:`meshfield.data.FieldStats`.

        Any object with ``field_names``, ``mean``, ``std``, ``cond_names``, ``cond_mean`` and
        ``cond_std`` works; the names must match the model's order. Increments, condition
        ranges and positions keep their current statistics. Returns ``self``.
        """
        field_names = tuple(stats.field_names)
        cond_names = tuple(getattr(stats, "cond_names", ()))
        if len(field_names) != self.num_fields or len(cond_names) != self.num_cond:
            msg = (
                f"Statistics of fields {list(field_names)} and conditions {list(cond_names)} do "
                f"not fit a normalizer of {self.num_fields} fields and {self.num_cond} conditions"
            )
            raise ValueError(msg)
        values = {"field_mean": stats.mean, "field_std": stats.std}
        if self.num_cond:
            values.update(cond_mean=stats.cond_mean, cond_std=stats.cond_std)
        return self.set_stats(**values)

    def _sizes(self) -> dict[str, int]:
        sizes = {"field": self.num_fields, "delta": self.num_fields}
        if self.num_cond:
            sizes["cond"] = self.num_cond
        return sizes

    def to_dict(self) -> dict[str, list[float]]:
        """JSON values of every statistic (floats; infinite ranges as ``None``)."""

        def plain(value: float) -> float | None:
            return value if abs(value) != float("inf") else None

        return {
            name: [plain(v) for v in getattr(self, name).tolist()] for name in _STATS
        }

    def load_dict(self, values: Mapping[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`; returns ``self``."""
        missing = sorted(set(_STATS) - set(values))
        if missing:
            msg = f"Normalization statistics {missing} are missing"
            raise ValueError(msg)
        stats = {}
        for name in _STATS:
            fill = float("-inf") if name == "cond_min" else float("inf")
            try:
                stats[name] = [fill if v is None else float(v) for v in values[name]]
            except (TypeError, ValueError):
                msg = f"Normalization statistic '{name}' must be a list of numbers"
                raise ValueError(msg) from None
        return self.set_stats(**stats)

    # ---------------------------------------------------------------------------------------
    # transforms

    def normalize_fields(self, fields: Tensor) -> Tensor:
        """Physical fields ``[..., C]`` to normalized."""
        return (fields - self.field_mean) / self.field_std

    def denormalize_fields(self, fields: Tensor) -> Tensor:
        """Normalized fields ``[..., C]`` to physical."""
        return fields * self.field_std + self.field_mean

    def normalize_delta(self, current: Tensor, following: Tensor) -> Tensor:
        """Normalized increment from ``current`` to ``following`` (both physical, ``[..., C]``).

        This is the target of a one-step loss on :attr:`StepOutput.delta`.
        """
        return (following - current - self.delta_mean) / self.delta_std

    def apply_delta(self, current: Tensor, delta: Tensor) -> Tensor:
        """The physical next frame from the physical ``current`` and a normalized ``delta``."""
        return current + delta * self.delta_std + self.delta_mean

    def normalize_cond(self, cond: Tensor) -> Tensor:
        """Physical conditions ``[..., K]`` to normalized."""
        return (cond - self.cond_mean) / self.cond_std

    def normalize_pos(self, pos: Tensor) -> Tensor:
        """Positions ``[..., d]`` to the normalized frame (centred, isotropically scaled)."""
        return (pos - self.pos_center) / self.pos_scale

    def extra_repr(self) -> str:
        return f"num_fields={self.num_fields}, num_cond={self.num_cond}, dim={self.dim}"
