"""Causal depthwise 1-d convolution over ``[batch, seqlen, channels]`` that respects segments."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["causal_conv1d"]


def _tap_masks(seq_idx: Tensor | None, width: int, dtype: torch.dtype) -> list[Tensor | None]:
    """For every shift ``s`` the mask ``[batch, seqlen - s, 1]``: token ``t`` and ``t - s`` share
    a segment (None: no ``seq_idx``)."""
    if seq_idx is None:
        return [None] * width
    masks: list[Tensor | None] = [None]
    for shift in range(1, width):
        same = seq_idx[:, shift:] == seq_idx[:, : seq_idx.shape[1] - shift]
        masks.append(same.to(dtype)[..., None])
    return masks


def _shifted_taps(
    source: Tensor, target: Tensor, weight: Tensor, masks: list[Tensor | None], backward: bool
) -> None:
    """``target[t] += w_s * source[t - s]`` (forward) or ``target[t - s] += w_s * source[t]``."""
    width = weight.shape[-1]
    seqlen = source.shape[1]
    for shift in range(1, min(width, seqlen)):
        tap = weight[:, width - 1 - shift]
        if backward:
            src, dst = source[:, shift:], target[:, : seqlen - shift]
        else:
            src, dst = source[:, : seqlen - shift], target[:, shift:]
        mask = masks[shift]
        if mask is None:
            dst.addcmul_(src, tap)
        else:
            dst.addcmul_(src * mask, tap)


class _CausalConv(torch.autograd.Function):
    # shifted multiply-adds in place: only the input is kept for the backward pass

    @staticmethod
    def forward(ctx, x, weight, bias, masks):  # type: ignore[override]
        out = x * weight[:, -1]
        _shifted_taps(x, out, weight, masks, backward=False)
        if bias is not None:
            out += bias
        ctx.save_for_backward(x, weight)
        ctx.masks = masks
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        masks = ctx.masks
        width = weight.shape[-1]
        seqlen = x.shape[1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * weight[:, -1]
            _shifted_taps(grad_out, grad_x, weight, masks, backward=True)
        if ctx.needs_input_grad[1]:
            columns = []
            for k in range(width):
                shift = width - 1 - k
                if shift >= seqlen:
                    columns.append(grad_out.new_zeros(weight.shape[0]))
                    continue
                past = x[:, : seqlen - shift]
                if masks[shift] is not None:
                    past = past * masks[shift]
                columns.append((grad_out[:, shift:] * past).sum(dim=(0, 1)))
            grad_w = torch.stack(columns, dim=-1)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 1))
        return grad_x, grad_w, grad_b, None


def causal_conv1d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    seq_idx: Tensor | None = None,
    activation: str | None = None,
) -> Tensor:
    r"""Depthwise causal convolution, channels last, with resets between packed sequences.

    .. math::

        y_{t,c} = b_c + \sum_{k=0}^{W-1} w_{c,k}\, x_{t-W+1+k,\,c}\,
        [\,\mathrm{seq}_{t-W+1+k} = \mathrm{seq}_t\,],

    with :math:`x` zero before the first token. The weight layout is the one of
    ``causal_conv1d_fn`` (``causal-conv1d`` 1.4): the last tap multiplies the current token.

    Parameters
    ----------
    x : Tensor
        Inputs, ``[batch, seqlen, channels]``.
    weight : Tensor
        Filter taps, ``[channels, width]`` (or ``[channels, 1, width]`` as stored by
        :class:`torch.nn.Conv1d`).
    bias : Tensor, optional
        ``[channels]``. default: None.
    seq_idx : Tensor, optional
        Segment id of every token, ``[batch, seqlen]``; taps that would reach into another
        segment see zeros. default: None.
    activation : str, optional
        ``"silu"`` (or ``"swish"``) applied to the output, or None. default: None.

    Returns
    -------
    Tensor
        ``[batch, seqlen, channels]``.

    Example
    -------
    >>> x = torch.randn(1, 6, 3)
    >>> y = causal_conv1d(x, torch.randn(3, 4), seq_idx=torch.tensor([[0, 0, 0, 1, 1, 1]]))
    >>> y.shape
    torch.Size([1, 6, 3])
    """
    if weight.dim() == 3:
        weight = weight.squeeze(1)
    if x.dim() != 3 or weight.dim() != 2 or weight.shape[0] != x.shape[-1]:
        msg = (
            f"Expected 'x' [batch, seqlen, channels] and 'weight' [channels, width] "
            f"(got {list(x.shape)} and {list(weight.shape)})"
        )
        raise ValueError(msg)
    if activation not in (None, "silu", "swish"):
        msg = f"Expected activation None, 'silu' or 'swish' (got {activation!r})"
        raise ValueError(msg)
    batch, seqlen, channels = x.shape
    if seq_idx is not None and seq_idx.shape != (batch, seqlen):
        msg = (
            f"Expected 'seq_idx' tensor with shape [{batch}, {seqlen}] (got {list(seq_idx.shape)})"
        )
        raise ValueError(msg)
    # channels stay last: F.conv1d would transpose to [batch, channels, seqlen] and back, and
    # its depthwise backward is slow on CPUs
    out = _CausalConv.apply(x, weight, bias, _tap_masks(seq_idx, weight.shape[-1], x.dtype))
    if activation is not None:
        out = F.silu(out)
    return out
