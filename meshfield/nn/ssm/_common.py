"""Argument checks and the time-step transform shared by the SSD scans."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_DT_LIMIT: tuple[float, float] = (0.0, math.inf)


def _shape(t: Tensor | None) -> str:
    return "None" if t is None else str(list(t.shape))


def check_scan_inputs(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    D: Tensor | None,
    z: Tensor | None,
    dt_bias: Tensor | None,
    seq_idx: Tensor | None,
    initial_states: Tensor | None,
) -> None:
    """Raise ``ValueError`` naming the argument whose shape does not fit ``x``."""
    if x.dim() != 4:
        msg = f"Expected 'x' tensor with shape [batch, seqlen, nheads, headdim] (got {_shape(x)})"
        raise ValueError(msg)
    b, seqlen, h, p = x.shape
    if B.dim() != 4 or B.shape[:2] != (b, seqlen):
        msg = f"Expected 'B' tensor with shape [{b}, {seqlen}, ngroups, dstate] (got {_shape(B)})"
        raise ValueError(msg)
    g, n = B.shape[2:]
    if g == 0 or h % g != 0:
        msg = f"Expected the number of heads ({h}) to be a multiple of ngroups ({g})"
        raise ValueError(msg)
    if C.shape != B.shape:
        msg = f"Expected 'C' tensor with the shape of 'B' {_shape(B)} (got {_shape(C)})"
        raise ValueError(msg)
    if dt.shape != (b, seqlen, h):
        msg = f"Expected 'dt' tensor with shape [{b}, {seqlen}, {h}] (got {_shape(dt)})"
        raise ValueError(msg)
    if A.shape != (h,):
        msg = f"Expected 'A' tensor with shape [{h}] (one decay rate per head) (got {_shape(A)})"
        raise ValueError(msg)
    if D is not None and D.shape not in ((h,), (h, p)):
        msg = f"Expected 'D' tensor with shape [{h}] or [{h}, {p}] (got {_shape(D)})"
        raise ValueError(msg)
    if z is not None and z.shape != x.shape:
        msg = f"Expected 'z' tensor with the shape of 'x' {_shape(x)} (got {_shape(z)})"
        raise ValueError(msg)
    if dt_bias is not None and dt_bias.shape != (h,):
        msg = f"Expected 'dt_bias' tensor with shape [{h}] (got {_shape(dt_bias)})"
        raise ValueError(msg)
    if seq_idx is not None:
        if seq_idx.shape != (b, seqlen):
            msg = f"Expected 'seq_idx' tensor with shape [{b}, {seqlen}] (got {_shape(seq_idx)})"
            raise ValueError(msg)
        if seq_idx.is_floating_point() or seq_idx.is_complex():
            msg = f"Expected 'seq_idx' to hold integer segment ids (got dtype {seq_idx.dtype})"
            raise ValueError(msg)
    if initial_states is not None and initial_states.shape != (b, h, p, n):
        msg = (
            f"Expected 'initial_states' tensor with shape [{b}, {h}, {p}, {n}] "
            f"(got {_shape(initial_states)})"
        )
        raise ValueError(msg)


def process_dt(
    dt: Tensor,
    dt_bias: Tensor | None,
    dt_softplus: bool,
    dt_limit: tuple[float, float],
) -> Tensor:
    """``clamp(softplus(dt + dt_bias))`` in the order the Mamba-2 kernels apply it."""
    if dt_bias is not None:
        dt = dt + dt_bias.to(dt.dtype)
    if dt_softplus:
        # threshold 20 is the kernels' switch to the identity as well
        dt = F.softplus(dt, beta=1.0, threshold=20.0)
    if tuple(dt_limit) != DEFAULT_DT_LIMIT:
        dt = dt.clamp(min=dt_limit[0], max=dt_limit[1])
    return dt


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs are scanned in float32 (the decays underflow otherwise)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
