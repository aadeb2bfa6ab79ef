"""Bidirectional Mamba block for serialized point and mesh sequences."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from meshfield.nn.ssm.mamba import Mamba
from meshfield.nn.ssm.norm import RMSNormGated
from meshfield.nn.ssm.recompute import bidirectional_recompute

__all__ = ["BiMamba"]

_MERGES = ("sum", "concat")
_NORMS = ("layernorm", "rmsnorm")


class BiMamba(nn.Module):
    r"""Pre-norm residual block mixing a sequence forwards and backwards with two Mamba-2 scans.

    .. math::

        \mathrm{mix}(x) = \mathrm{merge}\big(M_f(x),\ \mathrm{flip}(M_b(\mathrm{flip}(x)))\big),
        \qquad \mathrm{out} = x + \mathrm{mix}(\mathrm{norm}(x)),

    where :math:`M_f, M_b` are :class:`~meshfield.nn.ssm.Mamba` blocks and ``merge`` is a sum or a
    linear projection of the concatenation. A serialized mesh has no preferred direction, so
    every token sees both its predecessors and its successors along the curve. Packed
    sequences (``seq_idx``) stay separate in both directions.

    Parameters
    ----------
    d_model : int
        Channels of the sequence.
    d_state : int
        State size of each scan. default: 16.
    d_conv : int
        Width of the causal convolutions. default: 4.
    expand : int
        Inner width factor of each Mamba block. default: 2.
    headdim : int
        Channels per scan head. default: 64.
    merge : {"sum", "concat"}
        How the two directions are combined: a sum, or ``Linear(2 * d_model, d_model)`` of the
        concatenation. default: "sum".
    norm : {"layernorm", "rmsnorm"}
        Pre-normalization of :meth:`forward`. default: "layernorm".
    share_weights : bool
        Use one Mamba block for both directions (then reversing the input reverses the output
        with ``merge="sum"``). default: False.
    backend : str
        Backend of both Mamba blocks, see :class:`~meshfield.nn.ssm.Mamba`. default: "auto".
    checkpoint : bool or int
        Recompute activations in the backward pass, see :class:`~meshfield.nn.ssm.Mamba`.
        default: False.
    **mamba_kwargs
        Further arguments of :class:`~meshfield.nn.ssm.Mamba` (``ngroups``, ``dt_min``, ...).

    Shapes
    ------
    - x: :math:`(B, L, D)` or :math:`(L, D)` (one sequence, PyG style)
    - seq_idx: :math:`(B, L)` or :math:`(L)`, integer, non-decreasing
    - output: same as x

    References
    ----------
    L. Zhu et al., "Vision Mamba: Efficient Visual Representation Learning with Bidirectional
    State Space Model", ICML 2024.
    D. Liang et al., "PointMamba: A Simple State Space Model for Point Cloud Analysis",
    NeurIPS 2024.
    T. Dao and A. Gu, "Transformers are SSMs", ICML 2024.

    Example
    -------
    >>> block = BiMamba(32, headdim=16, backend="torch")
    >>> block(torch.randn(100, 32)).shape
    torch.Size([100, 32])
    """

    def __init__(
        self,
        d_model: int,
        *,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 64,
        merge: str = "sum",
        norm: str = "layernorm",
        share_weights: bool = False,
        backend: str = "auto",
        checkpoint: bool | int = False,
        **mamba_kwargs: Any,
    ) -> None:
        super().__init__()
        if merge not in _MERGES:
            msg = f"Expected merge to be one of {_MERGES} (got {merge!r})"
            raise ValueError(msg)
        if norm not in _NORMS:
            msg = f"Expected norm to be one of {_NORMS} (got {norm!r})"
            raise ValueError(msg)
        self.d_model = d_model
        self.merge = merge
        self.share_weights = share_weights
        factory_kwargs = {k: mamba_kwargs[k] for k in ("device", "dtype") if k in mamba_kwargs}
        self.norm: nn.Module
        if norm == "layernorm":
            self.norm = nn.LayerNorm(d_model, **factory_kwargs)
        else:
            self.norm = RMSNormGated(d_model, **factory_kwargs)

        def make() -> Mamba:
            return Mamba(
                d_model,
                d_state=d_state,
                d_conv=d_conv,
                expand=expand,
                headdim=headdim,
                backend=backend,
                checkpoint=checkpoint,
                **mamba_kwargs,
            )

        self.mixer_forward = make()
        self.mixer_backward = None if share_weights else make()
        self.proj = nn.Linear(2 * d_model, d_model, **factory_kwargs) if merge == "concat" else None

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.mixer_forward.reset_parameters()
        if self.mixer_backward is not None:
            self.mixer_backward.reset_parameters()
        if self.proj is not None:
            self.proj.reset_parameters()

    def _check(self, x: Tensor, seq_idx: Tensor | None) -> tuple[Tensor, Tensor | None, bool]:
        flat = x.dim() == 2
        if x.dim() not in (2, 3) or x.shape[-1] != self.d_model:
            msg = (
                f"Expected input with shape [batch, seqlen, {self.d_model}] or "
                f"[seqlen, {self.d_model}] (got {list(x.shape)})"
            )
            raise ValueError(msg)
        if flat:
            x = x.unsqueeze(0)
            if seq_idx is not None:
                seq_idx = seq_idx.unsqueeze(0)
        if seq_idx is not None and seq_idx.shape != x.shape[:2]:
            msg = f"Expected 'seq_idx' tensor with shape {list(x.shape[:2])} (got {list(seq_idx.shape)})"
            raise ValueError(msg)
        return x, seq_idx, flat

    def mix(self, x: Tensor, seq_idx: Tensor | None = None) -> Tensor:
        """Bidirectional mixing without the norm and the residual (for blocks with AdaLN)."""
        x, seq_idx, flat = self._check(x, seq_idx)
        out = self._mix(x, seq_idx)
        return out.squeeze(0) if flat else out

    def _mix(self, x: Tensor, seq_idx: Tensor | None) -> Tensor:
        backward_mixer = self.mixer_forward if self.mixer_backward is None else self.mixer_backward
        block = self.mixer_forward.checkpoint
        if (
            self.proj is None
            and block
            and x.shape[1] > block
            and torch.is_grad_enabled()
            and self.mixer_forward._resolve_backend(x) == "torch"
        ):
            # both directions in one Function that keeps only x (meshfield.nn.ssm.recompute)
            return bidirectional_recompute(
                x, seq_idx, (self.mixer_forward, backward_mixer), (False, True), block
            )
        forward_out = self.mixer_forward(x, seq_idx)
        backward_out = backward_mixer(x, seq_idx, reverse=True)
        if self.proj is None:
            return forward_out + backward_out
        return self.proj(torch.cat([forward_out, backward_out], dim=-1))

    def forward(self, x: Tensor, seq_idx: Tensor | None = None) -> Tensor:
        """``x + mix(norm(x))``."""
        x, seq_idx, flat = self._check(x, seq_idx)
        out = x + self._mix(self.norm(x), seq_idx)
        return out.squeeze(0) if flat else out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.d_model}, merge={self.merge!r})"
