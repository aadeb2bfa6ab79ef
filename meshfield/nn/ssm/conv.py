"""Causal depthwise 1-d convolution over ``[batch, seqlen, channels]`` that respects segments."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["causal_conv1d"]


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
    width = weight.shape[-1]
    if seq_idx is None:
        out = F.conv1d(
            x.transpose(1, 2), weight[:, None, :], bias, padding=width - 1, groups=channels
        )[..., :seqlen].transpose(1, 2)
    else:
        if seq_idx.shape != (batch, seqlen):
            msg = f"Expected 'seq_idx' tensor with shape [{batch}, {seqlen}] (got {list(seq_idx.shape)})"
            raise ValueError(msg)
        out = x * weight[:, -1]
        for shift in range(1, min(width, seqlen + 1)):
            if shift >= seqlen:
                break
            same = (seq_idx[:, shift:] == seq_idx[:, :-shift]).to(x.dtype)[..., None]
            past = x[:, :-shift] * same
            out = out + F.pad(past * weight[:, width - 1 - shift], (0, 0, shift, 0))
        if bias is not None:
            out = out + bias
    if activation is not None:
        out = F.silu(out)
    return out
