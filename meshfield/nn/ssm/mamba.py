"""The Mamba-2 block with a pure-PyTorch backend and the ``mamba_ssm`` CUDA kernels."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from meshfield.nn.ssm._common import DEFAULT_DT_LIMIT
from meshfield.nn.ssm.conv import causal_conv1d
from meshfield.nn.ssm.norm import RMSNormGated
from meshfield.nn.ssm.reference import ssd_reference
from meshfield.nn.ssm.ssd import ssd_chunked

__all__ = ["Mamba"]

_BACKENDS = ("auto", "torch", "cuda", "reference")
#: tokens per recomputed block when ``checkpoint=True``
DEFAULT_CHECKPOINT_BLOCK = 8192
#: tokens per block of the torch backend without gradients (bounds the activations in memory)
DEFAULT_INFERENCE_BLOCK = 8192
#: chunk size of the torch scan for heads with ``headdim * d_state`` above 1024 (64 beat 128
#: and 256 on the CPUs measured)
DEFAULT_TORCH_CHUNK_SIZE = 64
#: ... and at most 1024: a chunk's decay mask holds ``chunk`` numbers per token and head, its
#: state ``headdim * d_state`` per chunk; with 16 x 16 heads 32 made a forward and backward
#: 1.5x faster than 64 (4.5k and 18k tokens, 2 cores)
SMALL_HEAD_TORCH_CHUNK_SIZE = 32


def default_torch_chunk_size(headdim: int, d_state: int) -> int:
    """The chunk size of the torch scan used when none is given."""
    return SMALL_HEAD_TORCH_CHUNK_SIZE if headdim * d_state <= 1024 else DEFAULT_TORCH_CHUNK_SIZE

_fallback_warned = False


def _warn_fallback_once() -> None:
    global _fallback_warned
    if not _fallback_warned:
        _fallback_warned = True
        warnings.warn(
            "Mamba(backend='auto') runs the pure-PyTorch scan on a CUDA tensor because the "
            'mamba_ssm kernels are not importable; install them with: pip install "meshfield[gpu]"',
            RuntimeWarning,
            stacklevel=3,
        )


class Mamba(nn.Module):
    r"""Mamba-2 block: projection, causal convolution, selective scan (SSD), gated norm.

    For an input :math:`u` the block computes ``[z, xBC, dt] = in_proj(u)``,
    ``xBC = silu(conv1d(xBC))`` (causal, depthwise), splits ``xBC`` into :math:`x, B, C`, runs
    the selective scan

    .. math::

        h_t = \exp(\Delta_t A) h_{t-1} + \Delta_t x_t B_t^\top,\quad
        y_t = h_t C_t + D x_t,\quad \Delta_t = \mathrm{softplus}(dt_t + dt_{bias}),

    and returns ``out_proj(RMSNormGated(y, z))``. Constructor arguments, parameter names,
    shapes and initialization are those of ``mamba_ssm.modules.mamba2.Mamba2`` (``mamba_ssm``
    2.2.x), so a ``state_dict`` moves between this class and ``Mamba2`` and between backends.

    Parameters
    ----------
    d_model : int
        Channels of the input and output.
    d_state : int
        State size :math:`N` per group. default: 128.
    d_conv : int
        Width of the causal convolution. default: 4.
    conv_init : float, optional
        Convolution weights drawn from ``U(-conv_init, conv_init)``; None keeps PyTorch's
        default. default: None.
    expand : int
        ``d_inner = expand * d_model``. default: 2.
    headdim : int
        Channels per head :math:`P`; ``nheads = d_ssm // headdim``. default: 64.
    d_ssm : int, optional
        Channels going through the scan; the other ``d_inner - d_ssm`` go through a gated MLP.
        default: None (all of ``d_inner``).
    ngroups : int
        Groups sharing :math:`B` and :math:`C`. default: 1.
    A_init_range : tuple of float
        :math:`-A` drawn uniformly from this range. default: ``(1, 16)``.
    D_has_hdim : bool
        One skip weight per channel instead of per head. default: False.
    rmsnorm : bool
        Gated RMS norm on the scan output (otherwise ``y * silu(z)``). default: True.
    norm_before_gate : bool
        Norm, then gate. default: False.
    dt_min, dt_max, dt_init_floor : float
        The initial :math:`\Delta` is log-uniform in ``[dt_min, dt_max]``, floored.
        default: 0.001, 0.1, 1e-4.
    dt_limit : tuple of float
        :math:`\Delta` is clamped to this range. default: ``(0.0, inf)``.
    bias : bool
        Biases of ``in_proj`` and ``out_proj``. default: False.
    conv_bias : bool
        Bias of the convolution. default: True.
    chunk_size : int
        Chunk size of the CUDA kernels. default: 256.
    use_mem_eff_path : bool
        Use the fused ``mamba_split_conv1d_scan_combined`` kernel on CUDA. default: True.
    layer_idx : int, optional
        Kept for interface compatibility. default: None.
    process_group : optional
        Tensor parallelism is not supported; must be None. default: None.
    sequence_parallel : bool
        Kept for interface compatibility. default: True.
    device, dtype : optional
        Factory arguments of the parameters. default: None.
    backend : {"auto", "torch", "cuda", "reference"}
        ``"torch"``: :func:`~meshfield.nn.ssm.ssd_chunked` (any device; for float32 on the
        CPU it runs the compiled scan kernel of :mod:`meshfield.nn.ssm.cpu_scan` where a C++
        compiler builds it, the chunked scan elsewhere);
        ``"cuda"``: the ``mamba_ssm`` kernels (raises
        :class:`~meshfield.errors.MissingDependencyError` when they are missing or the input is
        not on CUDA); ``"auto"``: the kernels for CUDA inputs when they import, else torch,
        with one warning the first time a CUDA input falls back (none for CPU inputs, where
        torch is the expected path); ``"reference"``: the sequential recurrence
        :func:`~meshfield.nn.ssm.ssd_reference` (slow, for tests). default: "auto".
    checkpoint : bool or int
        Recompute activations in the backward pass, in blocks of this many tokens (True: 8192),
        carrying the scan state and the convolution history between blocks: only the input,
        the output and one ``[batch, nheads, headdim, d_state]`` state per block are kept, and
        the backward pass rebuilds one block at a time. Exact (same values and gradients).
        Torch backend only; ignored without gradients. default: False.
    torch_chunk_size : int, optional
        Chunk size of the torch scan; results do not depend on it (up to rounding).
        default: :func:`default_torch_chunk_size` (32 for ``headdim * d_state <= 1024``,
        else 64).
    inference_block : int
        Without gradients, the torch backend runs sequences longer than this in blocks of this
        many tokens, carrying the scan state and the convolution history (the same values up
        to rounding): the in-projection and scan activations of one block, not of the whole
        sequence, are in memory at a time. 0 turns it off. default: 8192.

    Shapes
    ------
    - u: :math:`(B, L, d_{model})`, seq_idx: :math:`(B, L)` (integer segment ids, each
      segment contiguous); output: :math:`(B, L, d_{model})`

    Notes
    -----
    ``forward(u, seq_idx)`` takes ``seq_idx`` second, where ``Mamba2.forward`` has ``seqlen``;
    pass it by keyword to be safe with both. ``backend="cuda"`` checks for the kernels when
    called, not when built, so a checkpoint can be loaded on any machine.

    References
    ----------
    T. Dao and A. Gu, "Transformers are SSMs: Generalized Models and Efficient Algorithms
    Through Structured State Space Duality", ICML 2024.
    A. Gu and T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023.

    Example
    -------
    >>> block = Mamba(32, d_state=16, headdim=16, backend="torch")
    >>> block(torch.randn(2, 50, 32)).shape
    torch.Size([2, 50, 32])
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 128,
        d_conv: int = 4,
        conv_init: float | None = None,
        expand: int = 2,
        headdim: int = 64,
        d_ssm: int | None = None,
        ngroups: int = 1,
        A_init_range: tuple[float, float] = (1, 16),
        D_has_hdim: bool = False,
        rmsnorm: bool = True,
        norm_before_gate: bool = False,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_limit: tuple[float, float] = DEFAULT_DT_LIMIT,
        bias: bool = False,
        conv_bias: bool = True,
        chunk_size: int = 256,
        use_mem_eff_path: bool = True,
        layer_idx: int | None = None,
        process_group: Any = None,
        sequence_parallel: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
        checkpoint: bool | int = False,
        torch_chunk_size: int | None = None,
        inference_block: int = DEFAULT_INFERENCE_BLOCK,
    ) -> None:
        super().__init__()
        if process_group is not None:
            msg = "Mamba does not support tensor parallelism; pass process_group=None"
            raise NotImplementedError(msg)
        if backend not in _BACKENDS:
            msg = f"Expected backend to be one of {_BACKENDS} (got {backend!r})"
            raise ValueError(msg)
        d_inner = expand * d_model
        d_ssm = d_inner if d_ssm is None else d_ssm
        if d_ssm > d_inner or d_ssm % headdim != 0:
            msg = (
                f"Expected d_ssm ({d_ssm}) to be a multiple of headdim ({headdim}) "
                f"and <= d_inner ({d_inner})"
            )
            raise ValueError(msg)
        nheads = d_ssm // headdim
        if ngroups < 1 or nheads % ngroups != 0:
            msg = f"Expected the number of heads ({nheads}) to be a multiple of ngroups ({ngroups})"
            raise ValueError(msg)
        if not (A_init_range[0] > 0 and A_init_range[1] >= A_init_range[0]):
            msg = f"Expected 0 < A_init_range[0] <= A_init_range[1] (got {A_init_range})"
            raise ValueError(msg)
        if checkpoint is not False and (checkpoint is not True and int(checkpoint) < 1):
            msg = (
                f"Expected checkpoint to be a bool or a positive block length (got {checkpoint!r})"
            )
            raise ValueError(msg)
        if int(inference_block) < 0:
            msg = f"Expected inference_block >= 0 (got {inference_block!r})"
            raise ValueError(msg)
        factory_kwargs: dict[str, Any] = {"device": device, "dtype": dtype}

        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.conv_init = conv_init
        self.expand = expand
        self.d_inner = d_inner
        self.headdim = headdim
        self.d_ssm = d_ssm
        self.d_mlp = d_inner - d_ssm
        self.ngroups = ngroups
        self.nheads = nheads
        self.D_has_hdim = D_has_hdim
        self.rmsnorm = rmsnorm
        self.norm_before_gate = norm_before_gate
        self.dt_limit = tuple(dt_limit)
        self.activation = "silu"
        self.chunk_size = chunk_size
        self.use_mem_eff_path = use_mem_eff_path
        self.layer_idx = layer_idx
        self.process_group = process_group
        self.sequence_parallel = sequence_parallel
        self.backend = backend
        self.checkpoint = DEFAULT_CHECKPOINT_BLOCK if checkpoint is True else int(checkpoint)
        self.torch_chunk_size = (
            default_torch_chunk_size(headdim, d_state)
            if torch_chunk_size is None
            else int(torch_chunk_size)
        )
        self.inference_block = int(inference_block)
        self._init_args = {
            "A_init_range": tuple(A_init_range),
            "dt_min": dt_min,
            "dt_max": dt_max,
            "dt_init_floor": dt_init_floor,
        }

        # channel order of in_proj: [z0, x0, z, x, B, C, dt] (z0, x0 empty unless d_ssm < d_inner)
        d_in_proj = 2 * d_inner + 2 * ngroups * d_state + nheads
        self.in_proj = nn.Linear(d_model, d_in_proj, bias=bias, **factory_kwargs)
        conv_dim = d_ssm + 2 * ngroups * d_state
        self.conv1d = nn.Conv1d(
            conv_dim,
            conv_dim,
            kernel_size=d_conv,
            groups=conv_dim,
            padding=d_conv - 1,
            bias=conv_bias,
            **factory_kwargs,
        )
        self.dt_bias = nn.Parameter(torch.empty(nheads, **factory_kwargs))
        self.A_log = nn.Parameter(torch.empty(nheads, **factory_kwargs))
        # float32 like Mamba2, whatever ``dtype`` says
        self.D = nn.Parameter(torch.empty(d_ssm if D_has_hdim else nheads, device=device))
        for name in ("dt_bias", "A_log", "D"):
            getattr(self, name)._no_weight_decay = True
        if rmsnorm:
            self.norm = RMSNormGated(
                d_ssm,
                eps=1e-5,
                norm_before_gate=norm_before_gate,
                group_size=d_ssm // ngroups,
                **factory_kwargs,
            )
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias, **factory_kwargs)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialize like ``Mamba2``: log-uniform :math:`\\Delta`, uniform :math:`-A`, D = 1."""
        self.in_proj.reset_parameters()
        self.conv1d.reset_parameters()
        if self.conv_init is not None:
            nn.init.uniform_(self.conv1d.weight, -self.conv_init, self.conv_init)
        args = self._init_args
        log_lo, log_hi = math.log(args["dt_min"]), math.log(args["dt_max"])
        dt = torch.exp(
            torch.rand(self.nheads, device=self.dt_bias.device) * (log_hi - log_lo) + log_lo
        ).clamp(min=args["dt_init_floor"])
        # inverse of softplus: softplus(dt + log(1 - exp(-dt))) = dt
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        A = torch.empty(self.nheads, dtype=torch.float32, device=self.A_log.device)
        A.uniform_(*args["A_init_range"])
        self.A_log.copy_(torch.log(A))
        nn.init.ones_(self.D)
        if self.rmsnorm:
            self.norm.reset_parameters()
        self.out_proj.reset_parameters()

    # ------------------------------------------------------------------ forward

    def forward(self, u: Tensor, seq_idx: Tensor | None = None, *, reverse: bool = False) -> Tensor:
        """Mix the sequence ``u`` ``[batch, seqlen, d_model]``; ``seq_idx`` separates segments.

        With ``reverse=True`` the scan runs from the last token to the first (the output is in
        input order): ``m(u, reverse=True) == m(u.flip(1), seq_idx.flip(1)).flip(1)``, without
        flipped copies of the whole sequence when checkpointing.
        """
        if u.dim() != 3 or u.shape[-1] != self.d_model:
            msg = f"Expected input with shape [batch, seqlen, {self.d_model}] (got {list(u.shape)})"
            raise ValueError(msg)
        if seq_idx is not None and seq_idx.shape != u.shape[:2]:
            msg = f"Expected 'seq_idx' tensor with shape {list(u.shape[:2])} (got {list(seq_idx.shape)})"
            raise ValueError(msg)
        backend = self._resolve_backend(u)
        recompute = torch.is_grad_enabled()
        block = self.checkpoint if recompute else self.inference_block
        if backend == "torch" and block and u.shape[1] > block:
            return self._forward_blocked(u, seq_idx, block, reverse, recompute=recompute)
        if reverse:
            u = u.flip(1)
            # reversed ids rebased to start at 0 and increase, the kernels' convention
            seq_idx = None if seq_idx is None else (seq_idx[:, -1:] - seq_idx).flip(1)
        if backend == "cuda":
            from meshfield.nn.ssm._cuda import mamba2_forward_cuda

            out = mamba2_forward_cuda(self, u, seq_idx)
        else:
            scan = ssd_reference if backend == "reference" else ssd_chunked
            out = self._forward_block(u, seq_idx, 0, None, scan)[0]
        return out.flip(1) if reverse else out

    def _resolve_backend(self, u: Tensor) -> str:
        if self.backend in ("torch", "reference"):
            return self.backend
        if self.backend == "cuda":
            return "cuda"
        if not u.is_cuda:
            return "torch"
        from meshfield.typing import mamba_ssm_available

        if mamba_ssm_available():
            return "cuda"
        _warn_fallback_once()
        return "torch"

    def _forward_blocked(
        self,
        u: Tensor,
        seq_idx: Tensor | None,
        block: int,
        reverse: bool,
        *,
        recompute: bool,
    ) -> Tensor:
        # between blocks only the scan state [b, h, p, n] travels, and the convolution re-reads
        # d_conv - 1 tokens of the neighbouring block; with recompute, each block recomputes
        # its activations in the backward pass. split (not slicing) keeps the backward of the
        # pieces linear in L.
        history = self.d_conv - 1
        pieces = u.split(block, dim=1)
        segs = [None] * len(pieces) if seq_idx is None else seq_idx.split(block, dim=1)
        order = range(len(pieces) - 1, -1, -1) if reverse else range(len(pieces))
        outputs: list[Tensor] = [u] * len(pieces)
        state = None
        previous = None
        for i in order:
            piece, seg = pieces[i], segs[i]
            context = context_seg = None
            if previous is not None and history:
                # the d_conv - 1 tokens scanned just before this block
                cut = slice(0, history) if reverse else slice(-history, None)
                context = pieces[previous][:, cut]
                context_seg = None if seq_idx is None else segs[previous][:, cut]
                if seq_idx is not None:
                    first = seg[:, -1] if reverse else seg[:, 0]
                    last = context_seg[:, 0] if reverse else context_seg[:, -1]
                    state = state * (first == last).to(state.dtype)[:, None, None, None]
            args = (piece, seg, context, context_seg, state, reverse)
            if recompute:
                outputs[i], state = _checkpoint(self._forward_piece, *args, use_reentrant=False)
            else:
                outputs[i], state = self._forward_piece(*args)
            previous = i
        return torch.cat(outputs, dim=1)

    def _forward_piece(
        self,
        piece: Tensor,
        seg: Tensor | None,
        context: Tensor | None,
        context_seg: Tensor | None,
        state: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, Tensor]:
        history = 0
        if context is not None:
            history = context.shape[1]
            parts = (piece, context) if reverse else (context, piece)
            piece = torch.cat(parts, dim=1)
            if seg is not None and context_seg is not None:
                seg = torch.cat((seg, context_seg) if reverse else (context_seg, seg), dim=1)
        if reverse:
            piece = piece.flip(1)
            seg = None if seg is None else seg.flip(1)
        out, state = self._forward_block(piece, seg, history, state, ssd_chunked)
        return (out.flip(1) if reverse else out), state

    def _forward_block(
        self,
        u: Tensor,
        seq_idx: Tensor | None,
        history: int,
        initial_states: Tensor | None,
        scan: Callable[..., Any],
    ) -> tuple[Tensor, Tensor]:
        """Torch forward of ``u``, whose first ``history`` tokens only feed the convolution."""
        batch = u.shape[0]
        d_mlp, d_ssm, d_bc = self.d_mlp, self.d_ssm, self.ngroups * self.d_state
        # in_proj as one product per piece: each piece comes out contiguous (column slices of
        # one [L, d_in_proj] output are strided, and element-wise work on them several times
        # slower on CPUs), and the backward pass sums input gradients instead of concatenating
        sizes = [d_mlp, d_mlp, d_ssm, d_ssm + 2 * d_bc, self.nheads]
        weights = self.in_proj.weight.split(sizes)
        biases = [None] * 5 if self.in_proj.bias is None else self.in_proj.bias.split(sizes)
        z0, x0, z, xBC, dt = (F.linear(u, w, b) for w, b in zip(weights, biases))
        xBC = causal_conv1d(
            xBC, self.conv1d.weight, self.conv1d.bias, seq_idx=seq_idx, activation=self.activation
        )
        if history:
            xBC, z0, x0, z, dt = (t[:, history:] for t in (xBC, z0, x0, z, dt))
            seq_idx = None if seq_idx is None else seq_idx[:, history:]
        seqlen = xBC.shape[1]
        x, B, C = torch.split(xBC, [d_ssm, d_bc, d_bc], dim=-1)
        # float32 at least, as Mamba2 does for half-precision weights
        A = -torch.exp(self.A_log.to(torch.promote_types(self.A_log.dtype, torch.float32)))
        D = self.D.view(self.nheads, self.headdim) if self.D_has_hdim else self.D
        y, final_states = scan(
            x.unflatten(-1, (self.nheads, self.headdim)),
            dt,
            A,
            B.unflatten(-1, (self.ngroups, self.d_state)),
            C.unflatten(-1, (self.ngroups, self.d_state)),
            chunk_size=self.torch_chunk_size,
            D=D,
            z=None if self.rmsnorm else z.unflatten(-1, (self.nheads, self.headdim)),
            dt_bias=self.dt_bias,
            dt_softplus=True,
            dt_limit=self.dt_limit,
            seq_idx=seq_idx,
            initial_states=initial_states,
            return_final_states=True,
        )
        y = y.reshape(batch, seqlen, d_ssm)
        if self.rmsnorm:
            y = self.norm(y, z)
        if d_mlp > 0:
            y = torch.cat([F.silu(z0) * x0, y], dim=-1)
        return self.out_proj(y), final_states

    def extra_repr(self) -> str:
        return (
            f"{self.d_model}, d_state={self.d_state}, nheads={self.nheads}, "
            f"headdim={self.headdim}, ngroups={self.ngroups}, backend={self.backend!r}"
        )
