"""The selective state-space recurrence, one time step after another (slow, obviously correct)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from meshfield.nn.ssm._common import (
    DEFAULT_DT_LIMIT,
    check_scan_inputs,
    compute_dtype,
    process_dt,
)

__all__ = ["ssd_reference"]


def ssd_reference(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    chunk_size: int | None = None,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = DEFAULT_DT_LIMIT,
    seq_idx: Tensor | None = None,
    initial_states: Tensor | None = None,
    return_final_states: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Selective scan by the plain recurrence, a loop over the sequence.

    For every batch row, head :math:`h` and time step :math:`t`

    .. math::

        h_t = \exp(\Delta_t A)\, h_{t-1} + \Delta_t\, x_t B_t^\top, \qquad
        y_t = h_t C_t + D x_t,

    with the state :math:`h_t` of shape ``[headdim, dstate]`` and a scalar decay per head. The
    state is reset to zero where ``seq_idx`` changes. This is the slow reference that
    :func:`~meshfield.nn.ssm.ssd_chunked` is tested against; it has the same signature.

    Parameters
    ----------
    x : Tensor
        Inputs, ``[batch, seqlen, nheads, headdim]``.
    dt : Tensor
        Time steps :math:`\Delta`, ``[batch, seqlen, nheads]``; used as given unless
        ``dt_bias``, ``dt_softplus`` or ``dt_limit`` say otherwise.
    A : Tensor
        Decay rates, ``[nheads]``, negative for a stable scan.
    B, C : Tensor
        Input and output projections, ``[batch, seqlen, ngroups, dstate]``; head ``h`` uses
        group ``h // (nheads // ngroups)``.
    chunk_size : int, optional
        Ignored; accepted so both scans share one signature. default: None.
    D : Tensor, optional
        Skip connection, ``[nheads]`` or ``[nheads, headdim]``. default: None.
    z : Tensor, optional
        Gate, ``[batch, seqlen, nheads, headdim]``; the output is multiplied by ``silu(z)``.
        default: None.
    dt_bias : Tensor, optional
        Added to ``dt`` before the softplus, ``[nheads]``. default: None.
    dt_softplus : bool
        Apply ``softplus`` to ``dt + dt_bias``. default: False.
    dt_limit : tuple of float
        ``dt`` is clamped to this range after the softplus. default: ``(0.0, inf)``.
    seq_idx : Tensor, optional
        Segment id of every token, ``[batch, seqlen]``, integer, non-decreasing along the
        sequence; the state restarts from zero at every change (packed sequences).
        default: None.
    initial_states : Tensor, optional
        State before the first token, ``[batch, nheads, headdim, dstate]``; it feeds the first
        segment of every row. default: None (zeros).
    return_final_states : bool
        Also return the state after the last token. default: False.

    Returns
    -------
    Tensor or tuple of Tensor
        ``y`` of the shape and dtype of ``x``, and the final states
        ``[batch, nheads, headdim, dstate]`` if ``return_final_states``.

    Shapes
    ------
    - x: :math:`(B, L, H, P)`, dt: :math:`(B, L, H)`, A: :math:`(H)`
    - B, C: :math:`(B, L, G, N)`, D: :math:`(H)` or :math:`(H, P)`
    - output: :math:`(B, L, H, P)`; final states :math:`(B, H, P, N)`

    References
    ----------
    T. Dao and A. Gu, "Transformers are SSMs: Generalized Models and Efficient Algorithms
    Through Structured State Space Duality", ICML 2024.
    A. Gu and T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023.

    Example
    -------
    >>> x, B = torch.randn(1, 5, 2, 4), torch.randn(1, 5, 1, 3)
    >>> y = ssd_reference(x, torch.rand(1, 5, 2), -torch.rand(2), B, B)
    >>> y.shape
    torch.Size([1, 5, 2, 4])
    """
    check_scan_inputs(
        x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias, seq_idx=seq_idx, initial_states=initial_states
    )
    out_dtype = x.dtype
    dtype = compute_dtype(x.dtype)
    batch, seqlen, nheads, headdim = x.shape
    ngroups, dstate = B.shape[2:]
    heads_per_group = nheads // ngroups

    x_c = x.to(dtype)
    dt_c = process_dt(dt.to(dtype), dt_bias, dt_softplus, dt_limit)
    A_c = A.to(dtype)
    B_h = B.to(dtype).repeat_interleave(heads_per_group, dim=2)  # [b, l, h, n]
    C_h = C.to(dtype).repeat_interleave(heads_per_group, dim=2)

    if initial_states is None:
        state = x_c.new_zeros(batch, nheads, headdim, dstate)
    else:
        state = initial_states.to(dtype)
    outputs = []
    for t in range(seqlen):
        if seq_idx is not None and t > 0:
            same = (seq_idx[:, t] == seq_idx[:, t - 1]).to(dtype)
            state = state * same[:, None, None, None]
        decay = torch.exp(dt_c[:, t] * A_c)  # [b, h]
        update = (dt_c[:, t, :, None] * x_c[:, t])[..., None] * B_h[:, t, :, None, :]
        state = state * decay[..., None, None] + update
        outputs.append(torch.einsum("bhpn,bhn->bhp", state, C_h[:, t]))
    y = torch.stack(outputs, dim=1) if outputs else x_c.new_zeros(x.shape)
    if D is not None:
        D_c = D.to(dtype)
        y = y + x_c * (D_c[:, None] if D_c.dim() == 1 else D_c)
    if z is not None:
        y = y * F.silu(z.to(dtype))
    y = y.to(out_dtype)
    if return_final_states:
        return y, state
    return y
