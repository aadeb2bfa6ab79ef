"""Causal depthwise 1-d convolution over ``[batch, seqlen, channels]`` that respects segments."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from meshfield.nn._grad import differentiable_backward

__all__ = ["causal_conv1d"]


def _crossings(seq_idx: Tensor | None, width: int) -> list[tuple[Tensor, Tensor] | None]:
    """For every shift ``s`` the taps that reach into another segment: ``(batch, token)``
    indices of the tokens ``t >= s`` with ``seq[t - s] != seq[t]`` (None: there are none).

    Segments are long and their starts few, so the convolution runs over the whole sequence
    and these few taps are taken back out afterwards, instead of masking every tap.
    """
    crossings: list[tuple[Tensor, Tensor] | None] = [None] * width
    if seq_idx is None:
        return crossings
    seqlen = seq_idx.shape[1]
    for shift in range(1, min(width, seqlen)):
        batch, token = torch.nonzero(
            seq_idx[:, shift:] != seq_idx[:, : seqlen - shift], as_tuple=True
        )
        if batch.numel():
            crossings[shift] = (batch, token + shift)
    return crossings


def _shifted_taps(
    source: Tensor,
    target: Tensor,
    taps: Tensor,
    crossings: list[tuple[Tensor, Tensor] | None],
    backward: bool,
) -> None:
    """``target[t] += w_s * source[t - s]`` (forward) or ``target[t - s] += w_s * source[t]``
    for every shift ``s >= 1``, except across segments; ``taps[s]`` is ``w_s``, contiguous (a
    strided column of the weight makes every multiply-add several times slower)."""
    width = taps.shape[0]
    seqlen = source.shape[1]
    for shift in range(1, min(width, seqlen)):
        tap = taps[shift]
        if backward:
            target[:, : seqlen - shift].addcmul_(source[:, shift:], tap)
        else:
            target[:, shift:].addcmul_(source[:, : seqlen - shift], tap)
        crossing = crossings[shift]
        if crossing is not None:
            batch, token = crossing
            if backward:
                index, values = (batch, token - shift), source[batch, token]
            else:
                index, values = (batch, token), source[batch, token - shift]
            target.index_put_(index, -values * tap, accumulate=True)


def _taps(weight: Tensor) -> Tensor:
    """``[width, channels]``, contiguous: ``taps[s]`` multiplies the token ``s`` steps back (the
    weight's last column is ``s = 0``)."""
    return weight.flip(-1).t().contiguous()


def _conv_forward(x: Tensor, taps: Tensor, bias: Tensor | None, crossings: list) -> Tensor:
    out = x * taps[0]
    _shifted_taps(x, out, taps, crossings, backward=False)
    if bias is not None:
        out += bias
    return out


class _CausalConv(torch.autograd.Function):
    # shifted multiply-adds in place: only the input is kept for the backward pass; with the
    # SiLU applied inside, its input is recomputed there instead of kept

    @staticmethod
    def forward(ctx, x, weight, bias, seq_idx, crossings, silu):  # type: ignore[override]
        out = _conv_forward(x, _taps(weight), bias, crossings)
        if silu:
            out = F.silu(out, inplace=True)
        ctx.save_for_backward(x, weight, bias, seq_idx)
        ctx.crossings = crossings
        ctx.silu = silu
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, weight, bias, seq_idx = ctx.saved_tensors
        crossings = ctx.crossings
        if torch.is_grad_enabled():  # this backward pass is differentiated in turn

            def plain(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
                out = _causal_conv_traced(x, weight, bias, seq_idx)
                return F.silu(out) if ctx.silu else out

            needs = ctx.needs_input_grad
            grads = differentiable_backward(plain, (x, weight, bias), needs, grad_out)
            return (*grads, None, None, None)
        taps = _taps(weight)
        if ctx.silu:
            grad_out = torch.ops.aten.silu_backward(
                grad_out, _conv_forward(x, taps, bias, crossings)
            )
        width = taps.shape[0]
        seqlen = x.shape[1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * taps[0]
            _shifted_taps(grad_out, grad_x, taps, crossings, backward=True)
        if ctx.needs_input_grad[1]:
            columns = []
            for shift in range(width):
                if shift >= seqlen:
                    columns.append(grad_out.new_zeros(taps.shape[1]))
                    continue
                column = (grad_out[:, shift:] * x[:, : seqlen - shift]).sum(dim=(0, 1))
                crossing = crossings[shift]
                if crossing is not None:
                    batch, token = crossing
                    column -= (grad_out[batch, token] * x[batch, token - shift]).sum(dim=0)
                columns.append(column)
            # columns are shifts 0, 1, ...; the weight's last column is shift 0
            grad_w = torch.stack(columns[::-1], dim=-1)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 1))
        return grad_x, grad_w, grad_b, None, None, None


def _causal_conv_traced(
    x: Tensor, weight: Tensor, bias: Tensor | None, seq_idx: Tensor | None
) -> Tensor:
    """The convolution as plain tensor operations, every tap masked (for ``torch.compile``,
    which cannot trace the data-dependent shapes of :func:`_crossings`)."""
    width, seqlen = weight.shape[-1], x.shape[1]
    out = x * weight[:, -1]
    for shift in range(1, min(width, seqlen)):
        past = F.pad(x[:, : seqlen - shift], (0, 0, shift, 0))
        if seq_idx is not None:
            same = F.pad(seq_idx[:, shift:] == seq_idx[:, : seqlen - shift], (shift, 0))
            past = past * same[..., None].to(x.dtype)
        out = out + past * weight[:, width - 1 - shift]
    return out if bias is None else out + bias


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
    if torch.compiler.is_compiling():
        # traceable without data-dependent shapes; inductor fuses the taps into one loop
        out = _causal_conv_traced(x, weight, bias, seq_idx)
        return out if activation is None else F.silu(out)
    # channels stay last: F.conv1d would transpose to [batch, channels, seqlen] and back, and
    # its depthwise backward is slow on CPUs
    crossings = _crossings(seq_idx, weight.shape[-1])
    return _CausalConv.apply(x, weight, bias, seq_idx, crossings, activation is not None)
