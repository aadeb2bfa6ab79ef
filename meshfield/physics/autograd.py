r"""Derivatives of a field given as a differentiable function of coordinates, by autograd.

The field is any callable ``f(coords) -> values`` that maps query coordinates ``[..., Q, D]`` to
values ``[..., Q, C]``: the point-query decoder of a model, a closed-form solution, a small MLP.
Derivatives come from :func:`torch.autograd.grad`, so they are exact up to round-off (no mesh,
no step size), and with ``create_graph=True`` they are themselves differentiable: a residual
built from them can be minimized with respect to the parameters of ``f``.

Coordinate layout
-----------------
The last axis of ``coords`` holds ``(x, y[, z][, t])``: the ``d`` spatial coordinates first,
then time when the field depends on it. ``spatial_dim`` (default: every coordinate) tells the
operators how many leading coordinates are spatial, so that :func:`laplacian` and
:func:`divergence` never differentiate with respect to time.

Requirements on ``f``
---------------------
``f`` must be *pointwise*: row ``q`` of the output depends on row ``q`` of the input only (as
for a decoder that answers each query independently). The operators differentiate the sum of
an output channel over all queries, which gives every query's own derivative in one backward
pass only under that condition. Leading batch axes are allowed and passed through unchanged.

Memory
------
``chunk_size`` splits the queries (axis ``-2`` of ``coords``) into chunks evaluated one after
the other. With ``create_graph=False`` each chunk's graph is freed before the next one starts,
so peak memory is set by ``chunk_size`` and a million queries fit on a laptop. With
``create_graph=True`` (training) the graphs of all chunks are kept until the loss is
backpropagated, so chunking bounds the memory of the *derivative computation* only; sample
fewer query points per step rather than relying on chunks.

References
----------
M. Raissi, P. Perdikaris and G. E. Karniadakis, "Physics-informed neural networks: A deep
learning framework for solving forward and inverse problems involving nonlinear partial
differential equations", J. Comput. Phys. 378 (2019) 686-707.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from meshfield._chunks import spans

__all__ = [
    "divergence",
    "grad_or_zero",
    "gradient",
    "hessian",
    "jacobian_of",
    "laplacian",
    "map_chunks",
]

Field = Callable[[Tensor], Tensor]


def _check_coords(coords: Tensor) -> None:
    if not isinstance(coords, Tensor) or coords.dim() < 2:
        got = tuple(coords.shape) if isinstance(coords, Tensor) else type(coords).__name__
        msg = f"Expected 'coords' tensor with shape [..., Q, D] (got {got})"
        raise ValueError(msg)
    if not coords.is_floating_point():
        msg = f"Expected floating-point 'coords' (got dtype {coords.dtype})"
        raise ValueError(msg)


def _spatial_dim(coords: Tensor, spatial_dim: int | None) -> int:
    size = coords.shape[-1]
    if spatial_dim is None:
        return size
    if not 1 <= spatial_dim <= size:
        msg = f"Expected 'spatial_dim' between 1 and {size} for coords [..., Q, {size}] (got {spatial_dim})"
        raise ValueError(msg)
    return spatial_dim


def grad_or_zero(output: Tensor, coords: Tensor, *, create_graph: bool = True) -> Tensor:
    r"""Gradient of ``output.sum()`` with respect to ``coords``; zeros if it does not depend on them.

    A field that is linear in a coordinate has a constant first derivative, which autograd sees
    as a tensor without a graph; its derivatives are zero, not an error.
    """
    if not output.requires_grad:
        return torch.zeros_like(coords)
    (derivative,) = torch.autograd.grad(
        output.sum(), coords, create_graph=create_graph, retain_graph=True, allow_unused=True
    )
    return torch.zeros_like(coords) if derivative is None else derivative


def jacobian_of(values: Tensor, coords: Tensor, *, create_graph: bool = True) -> Tensor:
    r"""Derivatives of already computed ``values`` with respect to ``coords``.

    .. math::
        J_{qcj} = \frac{\partial v_{qc}}{\partial x_{qj}}

    Parameters
    ----------
    values : Tensor
        ``[..., Q, C]``, computed pointwise from ``coords``.
    coords : Tensor
        ``[..., Q, D]`` with ``requires_grad=True`` (a leaf or part of the graph of ``values``).
    create_graph : bool, optional
        Keep the graph of the derivatives so they can be differentiated again.
        default: ``True``.

    Returns
    -------
    Tensor
        ``[..., Q, C, D]``. A channel that does not depend on ``coords`` gets zeros.
    """
    columns = [
        grad_or_zero(values[..., channel], coords, create_graph=create_graph)
        for channel in range(values.shape[-1])
    ]
    return torch.stack(columns, dim=-2)


def map_chunks(
    compute: Callable[[Tensor], Tensor],
    coords: Tensor,
    *,
    chunk_size: int | None = None,
    create_graph: bool = True,
) -> Tensor:
    r"""Apply ``compute`` to chunks of queries with gradients enabled, and concatenate.

    ``compute`` receives a chunk of ``coords`` (axis ``-2``) that requires grad and returns a
    tensor whose axis ``coords.dim() - 2`` is the query axis. Each chunk is a fresh leaf unless
    ``coords`` already requires grad, in which case the chunk stays part of the caller's graph.

    Parameters
    ----------
    compute : callable
        ``chunk [..., q, D] -> [..., q, ...]``.
    coords : Tensor
        ``[..., Q, D]``.
    chunk_size : int, optional
        Queries per chunk. default: all at once.
    create_graph : bool, optional
        When ``False`` every chunk's result is detached, freeing its graph. default: ``True``.

    Returns
    -------
    Tensor
        The chunk results concatenated along the query axis.
    """
    _check_coords(coords)
    axis = coords.dim() - 2
    size = coords.shape[axis]
    if chunk_size is not None and chunk_size < 1:
        msg = f"Expected 'chunk_size' >= 1 or None (got {chunk_size})"
        raise ValueError(msg)
    step = size if chunk_size is None else chunk_size
    outputs = []
    with torch.enable_grad():
        # no points: one empty chunk, so the result keeps its shape
        for part in spans(size, max(step, 1)) or [slice(0, 0)]:
            chunk = coords.narrow(axis, part.start, part.stop - part.start)
            if not chunk.requires_grad:
                chunk = chunk.detach().requires_grad_(True)
            result = compute(chunk)
            outputs.append(result if create_graph else result.detach())
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=axis)


def gradient(
    f: Field,
    coords: Tensor,
    *,
    chunk_size: int | None = None,
    create_graph: bool = True,
) -> Tensor:
    r"""Gradient of every output channel with respect to every coordinate.

    .. math::
        (\nabla f)_{qcj} = \frac{\partial f_c}{\partial x_j}(x_q)

    Time, when it is the last coordinate, is included: ``[..., d]`` is the spatial gradient and
    ``[..., d]`` the time derivative.

    Parameters
    ----------
    f : callable
        Pointwise field ``[..., Q, D] -> [..., Q, C]``.
    coords : Tensor
        Query coordinates ``(x, y[, z][, t])``.
    chunk_size : int, optional
        Queries per chunk (see the module notes on memory). default: all at once.
    create_graph : bool, optional
        Keep the graph so the result can be trained on. default: ``True``.

    Returns
    -------
    Tensor
        ``[..., Q, C, D]``.

    Shapes
    ------
    ``coords [..., Q, D]``, ``f(coords) [..., Q, C]`` -> ``[..., Q, C, D]``.

    Examples
    --------
    >>> import torch
    >>> from meshfield.physics.autograd import gradient
    >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> gradient(lambda q: (q[..., :1] ** 2) * q[..., 1:], x, create_graph=False)
    tensor([[[4., 1.]]], dtype=torch.float64)
    """
    return map_chunks(
        lambda q: jacobian_of(f(q), q, create_graph=create_graph),
        coords,
        chunk_size=chunk_size,
        create_graph=create_graph,
    )


def hessian(
    f: Field,
    coords: Tensor,
    *,
    spatial_dim: int | None = None,
    chunk_size: int | None = None,
    create_graph: bool = True,
) -> Tensor:
    r"""Second derivatives of every output channel with respect to the spatial coordinates.

    .. math::
        H_{qcij} = \frac{\partial^2 f_c}{\partial x_i \partial x_j}(x_q),
        \quad i, j < d

    Parameters
    ----------
    f : callable
        Pointwise field ``[..., Q, D] -> [..., Q, C]``.
    coords : Tensor
        Query coordinates ``(x, y[, z][, t])``.
    spatial_dim : int, optional
        Number ``d`` of leading spatial coordinates. default: all ``D``.
    chunk_size : int, optional
        Queries per chunk. default: all at once.
    create_graph : bool, optional
        Keep the graph so the result can be trained on. default: ``True``.

    Returns
    -------
    Tensor
        ``[..., Q, C, d, d]``, symmetric in the last two axes up to round-off.
    """
    d = _spatial_dim(coords, spatial_dim)

    def compute(q: Tensor) -> Tensor:
        first = jacobian_of(f(q), q, create_graph=True)[..., :d]  # [..., q, C, d]
        flat = first.flatten(-2)  # [..., q, C*d]
        second = jacobian_of(flat, q, create_graph=create_graph)[..., :d]  # [..., q, C*d, d]
        return second.unflatten(-2, (first.shape[-2], d))

    return map_chunks(compute, coords, chunk_size=chunk_size, create_graph=create_graph)


def laplacian(
    f: Field,
    coords: Tensor,
    *,
    spatial_dim: int | None = None,
    chunk_size: int | None = None,
    create_graph: bool = True,
) -> Tensor:
    r"""Spatial Laplacian of every output channel.

    .. math::
        \Delta f_c = \sum_{i<d} \frac{\partial^2 f_c}{\partial x_i^2}

    Only the diagonal of the Hessian is formed: ``C * d`` backward passes after the first.

    Parameters
    ----------
    f : callable
        Pointwise field ``[..., Q, D] -> [..., Q, C]``.
    coords : Tensor
        Query coordinates ``(x, y[, z][, t])``.
    spatial_dim : int, optional
        Number ``d`` of leading spatial coordinates. default: all ``D``.
    chunk_size : int, optional
        Queries per chunk. default: all at once.
    create_graph : bool, optional
        Keep the graph so the result can be trained on. default: ``True``.

    Returns
    -------
    Tensor
        ``[..., Q, C]``.

    Examples
    --------
    >>> import torch
    >>> from meshfield.physics.autograd import laplacian
    >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> laplacian(lambda q: (q**2).sum(-1, keepdim=True), x, create_graph=False)
    tensor([[4.]], dtype=torch.float64)
    """
    d = _spatial_dim(coords, spatial_dim)

    def compute(q: Tensor) -> Tensor:
        first = jacobian_of(f(q), q, create_graph=True)  # [..., q, C, D]
        total = []
        for channel in range(first.shape[-2]):
            parts = []
            for i in range(d):
                second = grad_or_zero(first[..., channel, i], q, create_graph=create_graph)
                parts.append(second[..., i])
            total.append(torch.stack(parts, dim=-1).sum(-1))
        return torch.stack(total, dim=-1)

    return map_chunks(compute, coords, chunk_size=chunk_size, create_graph=create_graph)


def divergence(
    f: Field,
    coords: Tensor,
    *,
    spatial_dim: int | None = None,
    chunk_size: int | None = None,
    create_graph: bool = True,
) -> Tensor:
    r"""Spatial divergence of a vector field whose ``d`` channels are its components.

    .. math::
        \nabla \cdot f = \sum_{i<d} \frac{\partial f_i}{\partial x_i}

    Parameters
    ----------
    f : callable
        Pointwise vector field ``[..., Q, D] -> [..., Q, d]``.
    coords : Tensor
        Query coordinates ``(x, y[, z][, t])``.
    spatial_dim : int, optional
        Number ``d`` of leading spatial coordinates. default: all ``D``.
    chunk_size : int, optional
        Queries per chunk. default: all at once.
    create_graph : bool, optional
        Keep the graph so the result can be trained on. default: ``True``.

    Returns
    -------
    Tensor
        ``[..., Q]``.
    """
    d = _spatial_dim(coords, spatial_dim)

    def compute(q: Tensor) -> Tensor:
        values = f(q)
        if values.shape[-1] != d:
            msg = f"Expected a vector field with {d} channels for the divergence (got {values.shape[-1]})"
            raise ValueError(msg)
        jac = jacobian_of(values, q, create_graph=create_graph)
        return torch.diagonal(jac[..., :d], dim1=-2, dim2=-1).sum(-1)

    return map_chunks(compute, coords, chunk_size=chunk_size, create_graph=create_graph)
