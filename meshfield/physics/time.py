r"""Time derivatives of field sequences by finite differences over frames.

A field sequence ``values [T, ...]`` sampled at ``times [T]`` is differentiated frame by frame
with finite-difference stencils whose weights are computed for the actual times (Fornberg's
algorithm), so non-uniform time steps are handled exactly as uniform ones, at the same order:

* ``derivative=1, order=1``: two-point differences (backward, forward at the first frame);
* ``derivative=1, order=2``: three-point stencils, centred inside, one-sided at both ends;
* ``derivative=2, order=1``: three-point stencils (first order on non-uniform steps, second
  inside a uniform sequence), one-sided at both ends;
* ``derivative=2, order=2``: three-point centred stencils inside a uniform sequence (the
  classical :math:`(u_{n+1} - 2u_n + u_{n-1})/h^2`), four-point stencils otherwise and at both
  ends (a three-point stencil is only first-order accurate for the second derivative on
  non-uniform steps or one-sided).

Every frame gets a derivative, so the output has the same ``T`` as the input. The error of an
order-``p`` stencil is :math:`O(h^p)` with ``h`` the largest step of the stencil.

References
----------
B. Fornberg, "Generation of finite difference formulas on arbitrarily spaced grids",
Math. Comp. 51 (1988) 699-706.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["fd_weights", "time_derivative", "time_stencil"]


def fd_weights(x0: float, x: np.ndarray, derivative: int) -> np.ndarray:
    r"""Finite-difference weights for the ``derivative``-th derivative at ``x0`` (Fornberg).

    .. math::
        u^{(m)}(x_0) \approx \sum_k w_k\, u(x_k)

    exact for polynomials of degree ``len(x) - 1``.

    Parameters
    ----------
    x0 : float
        Where the derivative is wanted.
    x : numpy.ndarray
        ``[S]`` distinct sample positions.
    derivative : int
        Order ``m`` of the derivative, ``0 <= m < S``.

    Returns
    -------
    numpy.ndarray
        ``[S]`` weights.

    Examples
    --------
    >>> fd_weights(0.0, np.array([-1.0, 0.0, 1.0]), 2)
    array([ 1., -2.,  1.])
    """
    x = np.asarray(x, dtype=np.float64)
    size = len(x)
    c = np.zeros((size, derivative + 1))
    c1 = 1.0
    c4 = x[0] - x0
    c[0, 0] = 1.0
    for i in range(1, size):
        mn = min(i, derivative)
        c2 = 1.0
        c5 = c4
        c4 = x[i] - x0
        for j in range(i):
            c3 = x[i] - x[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i, k] = c1 * (k * c[i - 1, k - 1] - c5 * c[i - 1, k]) / c2
                c[i, 0] = -c1 * c5 * c[i - 1, 0] / c2
            for k in range(mn, 0, -1):
                c[j, k] = (c4 * c[j, k] - k * c[j, k - 1]) / c3
            c[j, 0] = c4 * c[j, 0] / c3
        c1 = c2
    return c[:, derivative]


def _as_times(times: Tensor | np.ndarray, num_frames: int) -> np.ndarray:
    t = np.asarray(
        times.detach().cpu().double().numpy() if isinstance(times, Tensor) else times,
        dtype=np.float64,
    ).reshape(-1)
    if t.shape[0] != num_frames:
        msg = (
            f"Expected 'times' with shape [{num_frames}] to match the frames (got {list(t.shape)})"
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        msg = "Expected strictly increasing, finite 'times'"
        raise ValueError(msg)
    return t


def time_stencil(
    times: Tensor | np.ndarray, *, derivative: int = 1, order: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    r"""Stencil indices and weights of a time derivative at every frame.

    Parameters
    ----------
    times : Tensor or numpy.ndarray
        ``[T]`` strictly increasing times.
    derivative : int, optional
        1 or 2. default: 1.
    order : int, optional
        Order of accuracy, 1 or 2. default: 2.

    Returns
    -------
    index : numpy.ndarray
        ``[T, S]`` frame indices of each frame's stencil.
    weights : numpy.ndarray
        ``[T, S]`` float64 weights: ``d^m u / dt^m (t_n) ~ sum_s weights[n, s] u[index[n, s]]``.
    """
    if derivative not in (1, 2):
        msg = f"Expected 'derivative' 1 or 2 (got {derivative})"
        raise ValueError(msg)
    if order not in (1, 2):
        msg = f"Expected 'order' 1 or 2 (got {order})"
        raise ValueError(msg)
    t = _as_times(times, len(times))
    num = len(t)
    steps = np.diff(t)
    uniform = num < 3 or bool(np.allclose(steps, steps[0], rtol=1e-9, atol=0.0))
    size = 3 if (derivative, order) == (2, 1) else derivative + order
    if num < size:
        msg = (
            f"A time derivative of order {derivative} with accuracy {order} needs at least "
            f"{size} frames (got {num})"
        )
        raise ValueError(msg)
    index = np.empty((num, size), dtype=np.int64)
    weights = np.zeros((num, size), dtype=np.float64)
    for n in range(num):
        width = size
        if derivative == 2 and order == 2 and uniform and 0 < n < num - 1:
            width = 3  # the centred stencil gains one order by symmetry
        if derivative == 1 and order == 1:
            start = max(n - 1, 0)
        else:
            start = min(max(n - (width - 1) // 2, 0), num - width)
        stencil = np.arange(start, start + width)
        index[n, :width] = stencil
        index[n, width:] = n  # padding with zero weight
        weights[n, :width] = fd_weights(t[n], t[stencil], derivative)
    return index, weights


def time_derivative(
    values: Tensor,
    times: Tensor | np.ndarray,
    *,
    derivative: int = 1,
    order: int = 2,
) -> Tensor:
    r"""Time derivative of a field sequence by finite differences over frames.

    .. math::
        \frac{\partial^m u}{\partial t^m}(t_n) \approx \sum_{s} w_{ns}\, u_{k_{ns}}

    with the stencils of :func:`time_stencil`.

    Parameters
    ----------
    values : Tensor
        ``[T, ...]`` frames (e.g. ``fields [T, N, C]``).
    times : Tensor or numpy.ndarray
        ``[T]`` strictly increasing times; non-uniform steps are handled.
    derivative : int, optional
        1 (:math:`\partial_t`) or 2 (:math:`\partial_{tt}`). default: 1.
    order : int, optional
        Order of accuracy in the time step, 1 or 2. default: 2.

    Returns
    -------
    Tensor
        ``[T, ...]``, same dtype and device as ``values``; differentiable in ``values``.

    Examples
    --------
    >>> t = torch.tensor([0.0, 0.5, 1.5, 3.0], dtype=torch.float64)  # non-uniform steps
    >>> time_derivative(t**2, t)
    tensor([0., 1., 3., 6.], dtype=torch.float64)
    """
    if values.dim() < 1:
        msg = f"Expected 'values' with a leading frame axis [T, ...] (got {tuple(values.shape)})"
        raise ValueError(msg)
    _as_times(times, values.shape[0])
    index, weights = time_stencil(times, derivative=derivative, order=order)
    index_t = torch.as_tensor(index, device=values.device)
    weights_t = torch.as_tensor(weights, dtype=values.dtype, device=values.device)
    shape = (*weights_t.shape, *([1] * (values.dim() - 1)))
    return (values[index_t] * weights_t.reshape(shape)).sum(1)
