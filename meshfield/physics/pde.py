r"""The PDE interface: equations written once, evaluated by autograd or on a mesh.

A :class:`PDE` names the fields it reads (``fields``, e.g. ``("U_x", "U_y", "p")``, matching
meshfield's channel names), the components of its residual (``components``), and the physical
conditions it reads (``conditions``, e.g. ``("Re",)``) with their defaults. Its
:meth:`PDE.equations` is written once against a :class:`Derivatives` provider, which offers the
values and derivatives of the named fields:

* :class:`AutogradDerivatives` differentiates a callable ``f(coords) -> values`` (a model's
  point-query decoder, or any differentiable function) by autograd: residuals ``[..., Q, K]``
  at query points, differentiable with respect to the parameters of ``f``
  (:meth:`PDE.residual`);
* :class:`MeshDerivatives` differentiates node values over frames with the discrete mesh
  operators (:class:`~meshfield.physics.mesh_ops.MeshOperators`) and finite differences in time
  (:func:`~meshfield.physics.time.time_derivative`): residuals ``[T, N, K]`` of data with no
  network behind it (:meth:`PDE.mesh_residual`).

Residuals are in physical units: give fields that are denormalized.

Writing your own PDE
--------------------
Subclass :class:`PDE`, declare the names and write :meth:`PDE.equations`; every equation may
return its terms as a tuple (their sum is the residual; their magnitudes give the scale used
to judge it). An Allen-Cahn equation :math:`u_t - \epsilon^2 \Delta u + u^3 - u = 0`:

>>> import torch
>>> from dataclasses import dataclass
>>> from meshfield.physics import PDE
>>> @dataclass
... class AllenCahn(PDE):
...     eps: float = 0.1
...     fields = ("u",)
...     components = ("allen_cahn",)
...     conditions = ("eps",)
...     def equations(self, d, cond):
...         u = d.u("u")
...         return {"allen_cahn": (d.dt("u"), -cond["eps"] ** 2 * d.laplacian("u"), u**3 - u)}
>>> pde = AllenCahn()
>>> coords = torch.rand(5, 3, dtype=torch.float64)  # (x, y, t)
>>> pde.residual(lambda q: torch.ones_like(q[..., :1]), coords).abs().max().item()
0.0

References
----------
M. Raissi, P. Perdikaris and G. E. Karniadakis, "Physics-informed neural networks", J. Comput.
Phys. 378 (2019) 686-707.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from meshfield.physics.autograd import grad_or_zero, map_chunks
from meshfield.physics.mesh_ops import MeshOperators
from meshfield.physics.time import time_derivative

__all__ = ["PDE", "AutogradDerivatives", "Derivatives", "MeshDerivatives"]

Condition = float | Tensor
Equations = Mapping[str, Tensor | Sequence[Tensor]]


class Derivatives:
    r"""Values and derivatives of named fields, as a PDE's equations read them.

    Every method returns a tensor of the provider's point shape ``S`` (``[..., Q]`` for
    autograd, ``[T, N]`` or ``[N]`` on a mesh), with a trailing ``d`` (or ``d, d``) for vector
    (or matrix) quantities.

    Attributes
    ----------
    dim : int
        Number of spatial dimensions ``d``.
    """

    dim: int

    def u(self, name: str) -> Tensor:
        """Values of field ``name``: ``S``."""
        raise NotImplementedError

    def grad(self, name: str) -> Tensor:
        r"""Spatial gradient :math:`\nabla u`: ``S + [d]``."""
        raise NotImplementedError

    def laplacian(self, name: str) -> Tensor:
        r"""Spatial Laplacian :math:`\Delta u`: ``S``."""
        raise NotImplementedError

    def hessian(self, name: str) -> Tensor:
        r"""Spatial Hessian :math:`\nabla\nabla u`: ``S + [d, d]``."""
        raise NotImplementedError

    def dt(self, name: str) -> Tensor:
        r"""Time derivative :math:`\partial_t u`: ``S``."""
        raise NotImplementedError

    def d2t(self, name: str) -> Tensor:
        r"""Second time derivative :math:`\partial_{tt} u`: ``S``."""
        raise NotImplementedError

    def x(self) -> Tensor:
        """Spatial coordinates of the points: ``S + [d]`` (broadcastable)."""
        raise NotImplementedError

    def t(self) -> Tensor:
        """Time of the points: ``S`` (broadcastable)."""
        raise NotImplementedError

    def vector(self, names: Sequence[str]) -> Tensor:
        """Several fields stacked as a vector: ``S + [len(names)]``."""
        return torch.stack([self.u(name) for name in names], dim=-1)

    def partial(self, name: str, axis: int) -> Tensor:
        r""":math:`\partial u / \partial x_{axis}`: ``S``."""
        return self.grad(name)[..., axis]

    def div(self, names: Sequence[str]) -> Tensor:
        r"""Divergence of the vector with components ``names``: ``S``."""
        return sum(self.partial(name, axis) for axis, name in enumerate(names))


def _channel_index(needed: Sequence[str], available: Sequence[str]) -> dict[str, int]:
    missing = [name for name in needed if name not in available]
    if missing:
        msg = f"The PDE needs fields {list(needed)}; {missing} not among the field names {list(available)}"
        raise ValueError(msg)
    return {name: list(available).index(name) for name in needed}


class AutogradDerivatives(Derivatives):
    r"""Derivatives of a pointwise callable at query points, by autograd.

    Parameters
    ----------
    values : Tensor
        ``[..., Q, C]`` computed from ``coords`` by a pointwise function.
    coords : Tensor
        ``[..., Q, D]`` with ``requires_grad=True``; layout ``(x, y[, z][, t])``.
    field_names : sequence of str
        Names of the ``C`` channels.
    dim : int
        Number ``d`` of spatial coordinates; coordinate ``d``, when present, is time.

    Notes
    -----
    Derivatives are built with ``create_graph=True`` and cached per field, so an equation
    that reads ``grad("p")`` twice pays one backward pass.
    """

    def __init__(
        self, values: Tensor, coords: Tensor, field_names: Sequence[str], dim: int
    ) -> None:
        self.values = values
        self.coords = coords
        self.dim = dim
        self.index = {name: i for i, name in enumerate(field_names)}
        self._first: dict[str, Tensor] = {}
        self._second: dict[tuple[str, int], Tensor] = {}

    def _d(self, target: Tensor) -> Tensor:
        return grad_or_zero(target, self.coords, create_graph=True)

    def _channel(self, name: str) -> int:
        if name not in self.index:
            msg = f"Unknown field {name!r}; the fields are {list(self.index)}"
            raise ValueError(msg)
        return self.index[name]

    def _jac(self, name: str) -> Tensor:
        if name not in self._first:
            self._first[name] = self._d(self.values[..., self._channel(name)])
        return self._first[name]

    def _jac2(self, name: str, axis: int) -> Tensor:
        key = (name, axis)
        if key not in self._second:
            self._second[key] = self._d(self._jac(name)[..., axis])
        return self._second[key]

    def _time_axis(self) -> int:
        if self.coords.shape[-1] <= self.dim:
            msg = (
                f"A time derivative needs time as coordinate {self.dim} of coords "
                f"[..., Q, {self.dim + 1}] (got {self.coords.shape[-1]} coordinates)"
            )
            raise ValueError(msg)
        return self.dim

    def u(self, name: str) -> Tensor:
        return self.values[..., self._channel(name)]

    def grad(self, name: str) -> Tensor:
        return self._jac(name)[..., : self.dim]

    def laplacian(self, name: str) -> Tensor:
        return sum(self._jac2(name, axis)[..., axis] for axis in range(self.dim))

    def hessian(self, name: str) -> Tensor:
        rows = [self._jac2(name, axis)[..., : self.dim] for axis in range(self.dim)]
        return torch.stack(rows, dim=-2)

    def dt(self, name: str) -> Tensor:
        return self._jac(name)[..., self._time_axis()]

    def d2t(self, name: str) -> Tensor:
        axis = self._time_axis()
        return self._jac2(name, axis)[..., axis]

    def x(self) -> Tensor:
        return self.coords[..., : self.dim]

    def t(self) -> Tensor:
        return self.coords[..., self._time_axis()]


class MeshDerivatives(Derivatives):
    r"""Derivatives of node values over frames: mesh operators in space, differences in time.

    Parameters
    ----------
    operators : MeshOperators
        The mesh's discrete operators.
    fields : Tensor
        ``[T, N, C]`` (or ``[N, C]`` for a steady field without time derivatives).
    field_names : sequence of str
        Names of the ``C`` channels.
    times : Tensor, optional
        ``[T]`` times of the frames; needed by time derivatives. default: none.
    time_order : int, optional
        Accuracy order of the time differences, 1 or 2. default: 2.
    """

    def __init__(
        self,
        operators: MeshOperators,
        fields: Tensor,
        field_names: Sequence[str],
        *,
        times: Tensor | None = None,
        time_order: int = 2,
    ) -> None:
        self.ops = operators
        self.fields = fields
        self.dim = operators.dim
        self.times = times
        self.time_order = time_order
        self.index = {name: i for i, name in enumerate(field_names)}
        self._cache: dict[str, Tensor] = {}

    def _all(self, key: str) -> Tensor:
        if key not in self._cache:
            if key == "grad":
                value = self.ops.grad(self.fields)
            elif key == "laplacian":
                value = self.ops.laplacian(self.fields)
            elif key == "hessian":
                value = self.ops.hessian(self.fields)
            else:
                if self.times is None or self.fields.dim() != 3:
                    msg = "Time derivatives on a mesh need fields [T, N, C] and their times [T]"
                    raise ValueError(msg)
                derivative = 1 if key == "dt" else 2
                value = time_derivative(
                    self.fields, self.times, derivative=derivative, order=self.time_order
                )
            self._cache[key] = value
        return self._cache[key]

    def _channel(self, name: str) -> int:
        if name not in self.index:
            msg = f"Unknown field {name!r}; the fields are {list(self.index)}"
            raise ValueError(msg)
        return self.index[name]

    def u(self, name: str) -> Tensor:
        return self.fields[..., self._channel(name)]

    def grad(self, name: str) -> Tensor:
        return self._all("grad")[..., self._channel(name), :]

    def laplacian(self, name: str) -> Tensor:
        return self._all("laplacian")[..., self._channel(name)]

    def hessian(self, name: str) -> Tensor:
        return self._all("hessian")[..., self._channel(name), :, :]

    def dt(self, name: str) -> Tensor:
        return self._all("dt")[..., self._channel(name)]

    def d2t(self, name: str) -> Tensor:
        return self._all("d2t")[..., self._channel(name)]

    def x(self) -> Tensor:
        pos = self.ops.pos.to(dtype=self.fields.dtype, device=self.fields.device)
        return pos.expand(*self.fields.shape[:-1], self.dim)

    def t(self) -> Tensor:
        if self.times is None:
            msg = "This PDE reads the time; pass the times [T] of the frames"
            raise ValueError(msg)
        times = torch.as_tensor(self.times, dtype=self.fields.dtype, device=self.fields.device)
        return times[:, None].expand(self.fields.shape[:-1])


class PDE:
    r"""A PDE whose residual is written once and evaluated by autograd or on a mesh.

    Subclasses set ``fields``, ``components``, ``conditions`` (names whose defaults are the
    attributes of the same name) and ``dim``, and implement :meth:`equations`.

    Attributes
    ----------
    fields : tuple of str
        Names of the fields the equations read.
    components : tuple of str
        Names of the residual components, in output order.
    conditions : tuple of str
        Names of the physical conditions read; the default of each is ``getattr(self, name)``,
        and a call can override it (``cond={"Re": 200.0}``). A default of ``None`` makes the
        condition required.
    dim : int
        Number of spatial dimensions.
    time_dependent : bool
        Whether the equations read time derivatives (then autograd coordinates end with ``t``).
    """

    fields: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    dim: int = 2
    time_dependent: bool = True

    def equations(self, d: Derivatives, cond: Mapping[str, Condition]) -> Equations:
        r"""The residual of every component, or its terms (their sum is the residual).

        Parameters
        ----------
        d : Derivatives
            Values and derivatives of the fields.
        cond : dict
            Every name of :attr:`conditions` -> a float or a tensor broadcastable to the
            point shape.

        Returns
        -------
        dict
            Component name -> tensor of the point shape, or a tuple of such terms.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        conditions = ", ".join(f"{name}={getattr(self, name, None)!r}" for name in self.conditions)
        return f"{type(self).__name__}(dim={self.dim}{', ' if conditions else ''}{conditions})"

    def resolve_conditions(
        self, cond: Mapping[str, Condition] | None = None
    ) -> dict[str, Condition]:
        """Conditions for one evaluation: ``cond`` over the defaults; raises on a missing one."""
        given = dict(cond or {})
        resolved: dict[str, Condition] = {}
        for name in self.conditions:
            value = given.get(name, getattr(self, name, None))
            if value is None:
                msg = (
                    f"{type(self).__name__} needs the condition {name!r}: set it on the PDE or pass "
                    f"cond={{{name!r}: ...}}"
                )
                raise ValueError(msg)
            resolved[name] = value
        return resolved

    def evaluate(
        self, d: Derivatives, cond: Mapping[str, Condition] | None = None
    ) -> tuple[Tensor, Tensor]:
        r"""Residual and term scale from a derivatives provider.

        Returns
        -------
        residual : Tensor
            ``S + [K]``, ``K = len(components)``: the sum of each component's terms.
        scale : Tensor
            ``S + [K]``: the sum of the absolute values of each component's terms, the
            magnitude against which the residual is small or not.
        """
        equations = self.equations(d, self.resolve_conditions(cond))
        missing = [name for name in self.components if name not in equations]
        if missing:
            msg = f"{type(self).__name__}.equations returned no {missing}"
            raise ValueError(msg)
        residuals, scales = [], []
        for name in self.components:
            terms = equations[name]
            terms = (terms,) if isinstance(terms, Tensor) else tuple(terms)
            shape = torch.broadcast_shapes(*(torch.as_tensor(t).shape for t in terms))
            total = sum(terms)
            residuals.append(torch.as_tensor(total).expand(shape))
            scales.append(sum(torch.as_tensor(t).abs() for t in terms).expand(shape))
        return torch.stack(residuals, dim=-1), torch.stack(scales, dim=-1)

    def residual(
        self,
        f: Callable[[Tensor], Tensor],
        coords: Tensor,
        *,
        cond: Mapping[str, Condition] | None = None,
        field_names: Sequence[str] | None = None,
        chunk_size: int | None = None,
        create_graph: bool = True,
        return_scale: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Residual at query points, by autograd.

        Parameters
        ----------
        f : callable
            Pointwise field ``[..., Q, D] -> [..., Q, C]`` in physical units.
        coords : Tensor
            ``[..., Q, D]``, layout ``(x, y[, z][, t])``: ``D = dim + 1`` for a time-dependent
            PDE, ``dim`` (or ``dim + 1``, time unused) for a steady one.
        cond : dict, optional
            Condition values (floats, or tensors broadcastable to ``[..., Q]``) over the PDE's
            defaults. default: the defaults.
        field_names : sequence of str, optional
            Names of the ``C`` output channels of ``f``. default: :attr:`fields`.
        chunk_size : int, optional
            Queries per chunk (:func:`~meshfield.physics.autograd.map_chunks`). default: all.
        create_graph : bool, optional
            Keep the graph so the residual can be trained on; ``False`` frees each chunk's graph
            (evaluation of many points). default: ``True``.
        return_scale : bool, optional
            Also return the term scale of :meth:`evaluate`. default: ``False``.

        Returns
        -------
        Tensor or tuple of Tensor
            ``[..., Q, K]`` residual (and scale).
        """
        names = tuple(self.fields) if field_names is None else tuple(field_names)
        _channel_index(self.fields, names)
        size = coords.shape[-1] if isinstance(coords, Tensor) and coords.dim() >= 1 else None
        allowed = (self.dim + 1,) if self.time_dependent else (self.dim, self.dim + 1)
        if size not in allowed:
            layout = "(x, y[, z], t)" if self.time_dependent else "(x, y[, z])"
            msg = (
                f"Expected 'coords' with shape [..., Q, {allowed[0]}] for {type(self).__name__} "
                f"in {self.dim}D, layout {layout} (got {tuple(coords.shape) if size else coords!r})"
            )
            raise ValueError(msg)

        def compute(q: Tensor) -> Tensor:
            values = f(q)
            if values.shape[-1] != len(names):
                msg = f"f returned {values.shape[-1]} channels; field_names has {len(names)}"
                raise ValueError(msg)
            provider = AutogradDerivatives(values, q, names, self.dim)
            residual, scale = self.evaluate(provider, cond)
            return torch.cat([residual, scale], dim=-1)

        both = map_chunks(compute, coords, chunk_size=chunk_size, create_graph=create_graph)
        residual, scale = both.split(len(self.components), dim=-1)
        return (residual, scale) if return_scale else residual

    def mesh_residual(
        self,
        mesh: Any,
        fields: Tensor | None = None,
        *,
        times: Tensor | None = None,
        cond: Mapping[str, Condition] | None = None,
        field_names: Sequence[str] | None = None,
        time_order: int = 2,
        dtype: torch.dtype | None = torch.float64,
        return_scale: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        r"""Residual at the nodes of a mesh, by the discrete operators.

        Parameters
        ----------
        mesh : MeshGraph or MeshOperators
            A mesh graph (its ``fields``, ``field_names``, ``times`` and ``cond`` are the
            defaults of the arguments below) or prebuilt operators (reuse them across calls).
        fields : Tensor, optional
            ``[T, N, C]`` node values in physical units (``[N, C]`` for a steady PDE).
            default: ``mesh.fields``.
        times : Tensor, optional
            ``[T]`` (non-uniform steps are handled). default: ``mesh.times``.
        cond : dict, optional
            Condition values over ``mesh.cond`` and the PDE's defaults.
        field_names : sequence of str, optional
            Channel names. default: ``mesh.field_names``, else :attr:`fields`.
        time_order : int, optional
            Accuracy of the time differences, 1 or 2. default: 2.
        dtype : torch.dtype, optional
            Compute in this dtype (``None``: that of ``fields``). default: float64.
        return_scale : bool, optional
            Also return the term scale of :meth:`evaluate`. default: ``False``.

        Returns
        -------
        Tensor or tuple of Tensor
            ``[T, N, K]`` (or ``[N, K]``) residual (and scale).
        """
        if isinstance(mesh, MeshOperators):
            operators = mesh
        else:
            operators = MeshOperators.from_data(mesh)
            fields = getattr(mesh, "fields", None) if fields is None else fields
            times = getattr(mesh, "times", None) if times is None else times
            if field_names is None and getattr(mesh, "field_names", None) is not None:
                field_names = list(mesh.field_names)
            stored = getattr(mesh, "cond", None)
            stored_names = getattr(mesh, "cond_names", None)
            if stored is not None and stored_names is not None:
                cond = {**dict(zip(stored_names, stored.tolist())), **dict(cond or {})}
        if fields is None:
            msg = "mesh_residual needs node values: pass 'fields' [T, N, C] or a mesh with 'fields'"
            raise ValueError(msg)
        names = tuple(self.fields) if field_names is None else tuple(field_names)
        _channel_index(self.fields, names)
        if fields.dim() not in (2, 3) or fields.shape[-2:] != (operators.num_nodes, len(names)):
            msg = (
                f"Expected 'fields' with shape [T, {operators.num_nodes}, {len(names)}] "
                f"(got {tuple(fields.shape)})"
            )
            raise ValueError(msg)
        if dtype is not None:
            fields = fields.to(dtype)
        provider = MeshDerivatives(operators, fields, names, times=times, time_order=time_order)
        residual, scale = self.evaluate(provider, cond)
        return (residual, scale) if return_scale else residual
