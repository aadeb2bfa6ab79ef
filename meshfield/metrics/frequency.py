r"""Shedding frequency and Strouhal number of a force signal (e.g. the lift on a cylinder).

.. math::
    St = \frac{f D}{U}

References
----------
A. Roshko, "On the development of turbulent wakes from vortex streets", NACA Report 1191
(1954).
B. G. Quinn, "Estimating frequency by interpolation using Fourier coefficients", IEEE Trans.
Signal Process. 42 (1994) 1264-1268 (spectral peak interpolation).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from torch import Tensor

__all__ = ["dominant_frequency", "strouhal"]


def _as_array(values: Tensor | np.ndarray, name: str) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        msg = f"Expected {name!r} with shape [T] (got {list(array.shape)})"
        raise ValueError(msg)
    return array


def dominant_frequency(
    signal: Tensor | np.ndarray,
    times: Tensor | np.ndarray,
    *,
    method: Literal["fft", "zero_crossings"] = "fft",
) -> float:
    r"""Dominant frequency of a signal.

    ``"fft"``: the mean is removed, a Hann window applied, the spectrum zero-padded to at least
    8 times the length, and the peak (DC excluded) refined by a parabola through the log
    magnitudes of the three bins around it (exact for a Gaussian peak, which the Hann window
    nearly gives). Non-uniform times are linearly resampled onto a uniform grid of the same
    count first. ``"zero_crossings"``: the mean period between upward crossings of the mean,
    each located by linear interpolation; best for clean periodic signals.

    Parameters
    ----------
    signal : Tensor or numpy.ndarray
        ``[T]`` values.
    times : Tensor or numpy.ndarray
        ``[T]`` strictly increasing times.
    method : {"fft", "zero_crossings"}, optional
        default: ``"fft"``.

    Returns
    -------
    float
        Frequency in cycles per unit time.
    """
    y = _as_array(signal, "signal")
    t = _as_array(times, "times")
    if y.shape != t.shape or len(y) < 4:
        msg = f"Expected 'signal' and 'times' of the same length >= 4 (got {len(y)} and {len(t)})"
        raise ValueError(msg)
    if np.any(np.diff(t) <= 0):
        msg = "Expected strictly increasing 'times'"
        raise ValueError(msg)
    y = y - y.mean()
    if method == "zero_crossings":
        up = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0))
        if len(up) < 2:
            msg = "Fewer than two upward zero crossings: the signal holds less than one period"
            raise ValueError(msg)
        crossing = t[up] - y[up] * (t[up + 1] - t[up]) / (y[up + 1] - y[up])
        return float((len(crossing) - 1) / (crossing[-1] - crossing[0]))
    if method != "fft":
        msg = f"Expected 'method' to be 'fft' or 'zero_crossings' (got {method!r})"
        raise ValueError(msg)
    steps = np.diff(t)
    if not np.allclose(steps, steps.mean(), rtol=1e-6, atol=0.0):
        uniform = np.linspace(t[0], t[-1], len(t))
        y = np.interp(uniform, t, y)
        y = y - y.mean()
        t = uniform
    dt = (t[-1] - t[0]) / (len(t) - 1)
    size = 1 << max(3 + math.ceil(math.log2(len(y))), 1)
    magnitude = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=size))
    k = 1 + int(np.argmax(magnitude[1:]))
    if 1 <= k < len(magnitude) - 1 and magnitude[k - 1] > 0 and magnitude[k + 1] > 0:
        a, b, c = np.log(magnitude[k - 1 : k + 2])
        denominator = a - 2 * b + c
        shift = 0.5 * (a - c) / denominator if denominator != 0 else 0.0
    else:
        shift = 0.0
    return float((k + shift) / (size * dt))


def strouhal(
    lift: Tensor | np.ndarray,
    times: Tensor | np.ndarray,
    *,
    diameter: float = 1.0,
    velocity: float = 1.0,
    method: Literal["fft", "zero_crossings"] = "fft",
    transient: float = 0.0,
) -> float:
    r"""Strouhal number :math:`St = f D / U` of a lift signal.

    Parameters
    ----------
    lift : Tensor or numpy.ndarray
        ``[T]`` lift force or coefficient.
    times : Tensor or numpy.ndarray
        ``[T]`` strictly increasing times.
    diameter : float, optional
        Cylinder diameter :math:`D`. default: 1.0.
    velocity : float, optional
        Free-stream velocity :math:`U`. default: 1.0.
    method : {"fft", "zero_crossings"}, optional
        Frequency estimator (:func:`dominant_frequency`). default: ``"fft"``.
    transient : float, optional
        Ignore samples before this time (start-up of the wake). default: 0.0.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 50, 1001)
    >>> round(strouhal(np.sin(2 * np.pi * 0.2 * t), t, diameter=1.0, velocity=1.0), 3)
    0.2
    """
    t = _as_array(times, "times")
    y = _as_array(lift, "lift")
    if y.shape != t.shape:
        msg = f"Expected 'lift' and 'times' of the same length (got {len(y)} and {len(t)})"
        raise ValueError(msg)
    if velocity <= 0 or diameter <= 0:
        msg = f"Expected positive 'diameter' and 'velocity' (got {diameter}, {velocity})"
        raise ValueError(msg)
    keep = t >= transient
    return float(dominant_frequency(y[keep], t[keep], method=method) * diameter / velocity)
