"""Chunked selective scan (Mamba-2 state space duality) in plain PyTorch.

The sequence is cut into chunks of ``chunk_size`` tokens. Inside a chunk the scan is the
quadratic, attention-like form ``(C B^T * decay) (dt x)`` computed by matmuls; across chunks only
the per-chunk states ``[batch, nchunks, nheads, headdim, dstate]`` travel, through a linear
recurrence with one scalar decay per chunk and head. That recurrence is evaluated by
:func:`_decay_scan`, a blocked scan of logarithmic depth: blocks of ``_SCAN_BLOCK`` chunk states
are combined by a small lower-triangular matmul, the block totals are scanned the same way,
and the carries are added back.

Why a log-depth scan: at ``L = 2**20`` and ``chunk_size = 64`` there are 16384 chunks. A Python
loop over them costs ~10 us of dispatch per step in the forward pass and more in the backward
pass (16384 autograd nodes); the quadratic ``nchunks x nchunks`` form of the minimal SSD reference
grows with ``L**2``. The blocked scan costs two or three levels of batched ``32 x 32`` matmuls.

No tensor of shape ``[batch, seqlen, nheads, headdim, dstate]`` is ever built; the largest
temporaries are the per-chunk decay masks ``[batch, nheads, nchunks, chunk, chunk]``, that is
``nheads * chunk_size`` numbers per token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from meshfield.nn.ssm import cpu_scan
from meshfield.nn.ssm._common import (
    DEFAULT_DT_LIMIT,
    check_scan_inputs,
    compute_dtype,
    process_dt,
)

__all__ = ["ssd_chunked"]

# chunk states combined per step of the cross-chunk scan (32 * 32 = 1024 chunks in two levels)
_SCAN_BLOCK = 32
# tokens per block of the outer loop over long sequences
_BLOCK_TOKENS = 8192


def _lower_mask(size: int, device: torch.device) -> Tensor:
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def _decay_scan_direct(
    log_decay: Tensor, resets: Tensor | None, inputs: Tensor, initial: Tensor | None
) -> Tensor:
    """Inclusive scan ``s_t = exp(log_decay_t) s_{t-1} + u_t`` as one triangular matmul.

    ``log_decay [..., T]``, ``resets`` cumulative reset counts broadcastable to ``log_decay``
    (``s_{t-1}`` is dropped where the count changes; ``initial`` reaches positions whose count
    is 0), ``inputs [..., T, D]``, ``initial [..., D]``.
    """
    size = log_decay.shape[-1]
    cum = torch.cumsum(log_decay, dim=-1)
    keep = _lower_mask(size, log_decay.device)
    if resets is not None:
        keep = keep & (resets[..., :, None] == resets[..., None, :])
    # mask before exp: above the diagonal the difference is positive and may overflow
    weights = torch.exp((cum[..., :, None] - cum[..., None, :]).masked_fill(~keep, -torch.inf))
    out = weights @ inputs
    if initial is not None:
        carry_log = cum if resets is None else cum.masked_fill(resets != 0, -torch.inf)
        out = out + torch.exp(carry_log)[..., None] * initial[..., None, :]
    return out


def _decay_scan(
    log_decay: Tensor, resets: Tensor | None, inputs: Tensor, initial: Tensor | None
) -> Tensor:
    """Blocked scan of logarithmic depth; same contract as :func:`_decay_scan_direct`.

    ``log_decay [b, h, T]``, ``resets [b, 1, T]`` or None, ``inputs [b, h, T, D]``,
    ``initial [b, h, D]`` or None; returns the state after every step, ``[b, h, T, D]``.
    """
    b, h, steps = log_decay.shape
    if steps <= _SCAN_BLOCK:
        return _decay_scan_direct(log_decay, resets, inputs, initial)
    block = _SCAN_BLOCK
    nblocks = -(-steps // block)
    pad = nblocks * block - steps
    if pad:
        log_decay = F.pad(log_decay, (0, pad))
        inputs = F.pad(inputs, (0, 0, 0, pad))
        if resets is not None:
            resets = F.pad(resets, (0, pad), mode="replicate")
    dim = inputs.shape[-1]
    log_blocks = log_decay.view(b, h, nblocks, block)
    reset_blocks = None if resets is None else resets.view(b, 1, nblocks, block)
    local = _decay_scan_direct(
        log_blocks, reset_blocks, inputs.view(b, h, nblocks, block, dim), None
    )
    # scan the block totals, then add each block's carry-in
    block_resets = None if reset_blocks is None else reset_blocks[..., -1]
    ends = _decay_scan(log_blocks.sum(-1), block_resets, local[..., -1, :], initial)
    start = ends.new_zeros(b, h, 1, dim) if initial is None else initial[:, :, None, :]
    carry = torch.cat([start, ends[:, :, :-1]], dim=2)  # [b, h, nblocks, D]
    carry_log = torch.cumsum(log_blocks, dim=-1)
    if block_resets is not None:
        before = F.pad(block_resets[..., :-1], (1, 0))  # count before each block
        carry_log = carry_log.masked_fill(reset_blocks != before[..., None], -torch.inf)
    out = local + torch.exp(carry_log)[..., None] * carry[:, :, :, None, :]
    return out.view(b, h, nblocks * block, dim)[:, :, :steps]


def _kernel_runs(x: Tensor) -> bool:
    """Whether the compiled CPU kernel takes this scan: float32 on the CPU, not while
    ``torch.compile`` traces (inductor fuses the chunked form instead: the kernel as an
    external operator of the compiled generation step measured no faster), kernel built here."""
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and cpu_scan.available()
    )


def _ssd_chunks(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    seq_idx: Tensor | None,
    initial_states: Tensor | None,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:
    """SSD on a sequence whose length is a multiple of ``chunk_size``; returns ``(y, final)``.

    Everything is laid out ``[batch, head, chunk, token, channel]`` and contiguous, so that
    every product is one batched matmul over ``batch * nheads * nchunks`` small matrices.
    """
    b, seqlen, h, p = x.shape
    g, n = B.shape[2:]
    q = chunk_size
    nc = seqlen // q
    r = h // g
    bhc = b * h * nc

    x_c = x.reshape(b, nc, q, h, p).permute(0, 3, 1, 2, 4).contiguous()  # [b, h, c, q, p]
    dt_c = dt.reshape(b, nc, q, h).permute(0, 3, 1, 2).contiguous()  # [b, h, c, q]
    B_c = B.reshape(b, nc, q, g, n).permute(0, 3, 1, 2, 4).contiguous()  # [b, g, c, q, n]
    C_c = C.reshape(b, nc, q, g, n).permute(0, 3, 1, 2, 4).contiguous()
    cum = torch.cumsum(dt_c * A[:, None, None], dim=-1)  # [b, h, c, q]
    x_dt = x_c * dt_c[..., None]

    if seq_idx is not None:
        seg = seq_idx.reshape(b, 1, nc, q)
        seg_prev = torch.cat([seg[:, :, :1, :1], seg[:, :, :-1, -1:]], dim=2)  # [b, 1, c, 1]
        same_intra = seg[..., :, None] == seg[..., None, :]  # [b, 1, c, q, q]
        same_as_last = seg == seg[..., -1:]  # tokens that reach the chunk's final state
        same_as_prev = seg == seg_prev  # tokens that see the carried-in state
        chunk_resets = torch.cumsum((seg[..., -1] != seg_prev[..., 0]).long(), dim=-1)  # [b,1,c]
    else:
        same_intra = same_as_last = same_as_prev = chunk_resets = None

    # state each chunk leaves behind, starting from zero
    to_end = cum[..., -1:] - cum
    if same_as_last is not None:
        to_end = to_end.masked_fill(~same_as_last, -torch.inf)
    B_w = (B_c[:, :, None] * torch.exp(to_end).view(b, g, r, nc, q, 1)).view(bhc, q, n)
    states = torch.bmm(x_dt.view(bhc, q, p).transpose(1, 2), B_w)  # [bhc, p, n]

    # states carried across chunks, and what they contribute to the outputs
    init_flat = None if initial_states is None else initial_states.reshape(b, h, p * n)
    ends = _decay_scan(cum[..., -1], chunk_resets, states.view(b, h, nc, p * n), init_flat)
    final = ends[:, :, -1].view(b, h, p, n)
    y = None
    if D is not None:
        y = (x_c * (D[:, None, None, None] if D.dim() == 1 else D[:, None, None])).view(bhc, q, p)
    if nc > 1 or initial_states is not None:
        first = ends.new_zeros(b, h, 1, p * n) if init_flat is None else init_flat[:, :, None]
        carried = torch.cat([first, ends[:, :, :-1]], dim=2).view(bhc, p, n)
        from_start = cum
        if same_as_prev is not None:
            from_start = from_start.masked_fill(~same_as_prev, -torch.inf)
        C_w = (C_c[:, :, None] * torch.exp(from_start).view(b, g, r, nc, q, 1)).view(bhc, q, n)
        y = (
            torch.bmm(C_w, carried.transpose(1, 2))
            if y is None
            else y.baddbmm(C_w, carried.transpose(1, 2))
        )

    # diagonal blocks: y_i += sum_{j<=i} (C_i . B_j) exp(cum_i - cum_j) dt_j x_j
    keep = _lower_mask(q, x.device)
    if same_intra is not None:
        keep = keep & same_intra
    # mask before exp: above the diagonal the difference is positive and may overflow
    decay = (cum[..., :, None] - cum[..., None, :]).masked_fill_(~keep, -torch.inf).exp_()
    scores = torch.matmul(C_c, B_c.transpose(-1, -2))  # [b, g, c, q, q]
    scores = (decay.view(b, g, r, nc, q, q) * scores[:, :, None]).view(bhc, q, q)
    x_dt = x_dt.view(bhc, q, p)
    y = torch.bmm(scores, x_dt) if y is None else y.baddbmm(scores, x_dt)
    return y.view(b, h, nc, q, p).permute(0, 2, 3, 1, 4).reshape(b, seqlen, h, p), final


def _scan_padded(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    seq_idx: Tensor | None,
    initial_states: Tensor | None,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:
    """:func:`_ssd_chunks` on any length: pads to whole chunks with ``dt = 0`` and cuts back."""
    batch, seqlen = x.shape[:2]
    pad = -seqlen % chunk_size
    if pad:
        # dt = 0 means decay 1 and no input: padding leaves outputs and states unchanged
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
        if seq_idx is not None:
            seq_idx = torch.cat([seq_idx, seq_idx[:, -1:].expand(batch, pad)], dim=1)
    y, final = _ssd_chunks(x, dt, A, B, C, D, seq_idx, initial_states, chunk_size)
    return (y[:, :seqlen] if pad else y), final


def ssd_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    chunk_size: int = 64,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
    dt_limit: tuple[float, float] = DEFAULT_DT_LIMIT,
    seq_idx: Tensor | None = None,
    initial_states: Tensor | None = None,
    return_final_states: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Selective scan of Mamba-2 (state space duality), chunked and matmul-based.

    Computes, for every batch row, head :math:`h` and time step :math:`t`,

    .. math::

        h_t = \exp(\Delta_t A)\, h_{t-1} + \Delta_t\, x_t B_t^\top, \qquad
        y_t = h_t C_t + D x_t,

    exactly like :func:`~meshfield.nn.ssm.ssd_reference`, in time and memory linear in the
    sequence length. Within chunks of ``chunk_size`` tokens the scan is the masked quadratic
    form :math:`(C B^\top \circ \exp(\mathrm{segsum}(\Delta A)))(\Delta x)`; the chunk states
    are passed on by a log-depth scan. Arguments follow ``mamba_chunk_scan_combined`` of
    ``mamba_ssm`` 2.2.

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
    chunk_size : int
        Tokens per chunk; 64 is fastest on CPUs measured so far. default: 64.
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
        sequence. The state restarts from zero at every change, so packed sequences do not see
        each other. default: None.
    initial_states : Tensor, optional
        State before the first token, ``[batch, nheads, headdim, dstate]``. It feeds the first
        segment of every row (``mamba_ssm`` feeds it to the segment with id 0, the same thing
        when ids start at 0). default: None (zeros).
    return_final_states : bool
        Also return the state after the last token (of the last segment). default: False.

    Returns
    -------
    Tensor or tuple of Tensor
        ``y`` of the shape and dtype of ``x``, and the final states
        ``[batch, nheads, headdim, dstate]`` if ``return_final_states``.

    Shapes
    ------
    - x: :math:`(B, L, H, P)`, dt: :math:`(B, L, H)`, A: :math:`(H)`
    - B, C: :math:`(B, L, G, N)`, D: :math:`(H)` or :math:`(H, P)`, seq_idx: :math:`(B, L)`
    - output: :math:`(B, L, H, P)`; final states :math:`(B, H, P, N)`

    Notes
    -----
    For float32 inputs on the CPU (outside ``torch.compile``) the scan runs in the compiled
    kernel of :mod:`meshfield.nn.ssm.cpu_scan` where it builds (``MESHFIELD_CPU_SCAN=0`` turns
    it off): the recurrence token by token, the same values up to float32 rounding, about 2x
    faster forward and backward and 4x forward alone (10k tokens of 4 heads of 64 channels);
    ``chunk_size`` is then not used.
    A sequence length that is not a multiple of ``chunk_size`` is padded with ``dt = 0``
    (decay 1, no input), which leaves outputs and final states unchanged. Half-precision
    inputs are scanned in float32. The largest temporary holds ``nheads * chunk_size``
    numbers per token; states ``[.., headdim, dstate]`` exist only once per chunk.

    References
    ----------
    T. Dao and A. Gu, "Transformers are SSMs: Generalized Models and Efficient Algorithms
    Through Structured State Space Duality", ICML 2024.
    A. Gu and T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023.

    Example
    -------
    >>> from meshfield.nn.ssm import ssd_reference
    >>> x, B = torch.randn(2, 100, 4, 16), torch.randn(2, 100, 1, 8)
    >>> dt, A = torch.rand(2, 100, 4), -torch.rand(4)
    >>> y = ssd_chunked(x, dt, A, B, B, chunk_size=32)
    >>> torch.allclose(y, ssd_reference(x, dt, A, B, B), atol=1e-4)
    True
    """
    check_scan_inputs(
        x, dt, A, B, C, D=D, z=z, dt_bias=dt_bias, seq_idx=seq_idx, initial_states=initial_states
    )
    if chunk_size < 1:
        msg = f"Expected a positive 'chunk_size' (got {chunk_size})"
        raise ValueError(msg)
    out_dtype = x.dtype
    dtype = compute_dtype(x.dtype)
    batch, seqlen, nheads, headdim = x.shape
    dstate = B.shape[-1]

    x_c, B_c, C_c, A_c = x.to(dtype), B.to(dtype), C.to(dtype), A.to(dtype)
    dt_c = process_dt(dt.to(dtype), dt_bias, dt_softplus, dt_limit)
    init = None if initial_states is None else initial_states.to(dtype)

    if seqlen == 0:
        y = x_c.new_zeros(x.shape)  # D x is empty too
        final = x_c.new_zeros(batch, nheads, headdim, dstate) if init is None else init
    elif _kernel_runs(x_c):
        # the recurrence token by token in the compiled CPU kernel (meshfield.nn.ssm.cpu_scan)
        y, final = cpu_scan.scan_unchecked(x_c, dt_c, A_c, B_c, C_c, seq_idx, init)
        if D is not None:
            D_c = D.to(dtype)
            y = y + x_c * (D_c[:, None] if D_c.dim() == 1 else D_c)
    else:
        q = min(chunk_size, seqlen)
        D_c = None if D is None else D.to(dtype)
        # long sequences go block by block (the state carried across): smaller temporaries are
        # reused by the allocator instead of being page-faulted afresh, which is faster on CPUs
        block = max(q, _BLOCK_TOKENS // q * q)
        outputs = []
        final = init
        # split, not slicing: its backward concatenates the block gradients once
        pieces = [t.split(block, dim=1) for t in (x_c, dt_c, B_c, C_c)]
        seg_pieces = [None] * len(pieces[0]) if seq_idx is None else seq_idx.split(block, dim=1)
        for i, (x_b, dt_b, B_b, C_b) in enumerate(zip(*pieces)):
            if i > 0 and seq_idx is not None:
                start = i * block
                same = (seq_idx[:, start] == seq_idx[:, start - 1]).to(dtype)
                final = final * same[:, None, None, None]
            y_block, final = _scan_padded(x_b, dt_b, A_c, B_b, C_b, D_c, seg_pieces[i], final, q)
            outputs.append(y_block)
        y = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
    if z is not None:
        y = y * F.silu(z.to(dtype))
    y = y.to(out_dtype)
    if return_final_states:
        return y, final
    return y
