"""Softmax attention over all tokens of each graph, for short sequences."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meshfield.nn.attention._utils import check_sequence, graph_sizes, sort_by_graph

__all__ = ["FullAttention"]


class FullAttention(nn.Module):
    r"""Multi-head softmax attention of every token to all tokens of its graph.

    The attention matrix is block-diagonal over the graphs of a batch. Instead of an
    :math:`L \times L` mask, the graphs are padded to a dense ``[B, n_max, D]`` batch and the
    padding is masked out of the keys, which is the same operator at
    :math:`O(B\, n_{\max})` mask memory. One graph runs without any mask, so PyTorch's fused
    (flash) kernel can keep memory linear in :math:`L`; the time still grows as
    :math:`n^2`, so this layer is meant for small meshes and as a reference for the linear-cost
    layers. A graph larger than ``max_tokens`` raises an error instead of running for hours.

    Parameters
    ----------
    channels : int
        Feature size :math:`D` of the tokens.
    num_heads : int, default: 4
        Number of attention heads; must divide ``channels``.
    max_tokens : int, default: 16384
        Largest graph (in tokens) accepted.
    bias : bool, default: True
        Whether the query/key/value and output projections have a bias.
    dropout : float, default: 0.0
        Dropout on the attention weights during training.

    Shapes
    ------
    - **input:** tokens :math:`(L, D)`, graph index per token :math:`(L)` (``None`` for one
      graph; any order)
    - **output:** :math:`(L, D)`

    References
    ----------
    .. [1] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    Example
    -------
    >>> import torch
    >>> from meshfield.nn import FullAttention
    >>> attn = FullAttention(64, num_heads=4)
    >>> attn(torch.randn(100, 64), torch.tensor([0] * 60 + [1] * 40)).shape
    torch.Size([100, 64])
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 4,
        *,
        max_tokens: int = 16384,
        bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if channels % num_heads != 0:
            msg = f"'channels' ({channels}) must be divisible by 'num_heads' ({num_heads})"
            raise ValueError(msg)
        self.channels = channels
        self.num_heads = num_heads
        self.max_tokens = max_tokens
        self.dropout = dropout
        self.qkv = nn.Linear(channels, 3 * channels, bias=bias)
        self.proj = nn.Linear(channels, channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the projections."""
        self.qkv.reset_parameters()
        self.proj.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        """Attend over all tokens of each graph.

        Parameters
        ----------
        x : torch.Tensor
            Tokens, shape ``[L, D]``.
        batch : torch.Tensor, optional
            Graph index of every token, shape ``[L]``. Default: one graph.

        Returns
        -------
        torch.Tensor
            Shape ``[L, D]``.

        Raises
        ------
        ValueError
            If a graph has more than ``max_tokens`` tokens.
        """
        check_sequence(x, batch, self.channels, sorted_batch=False)
        perm = None
        if batch is not None:
            perm, batch = sort_by_graph(batch)
            if perm is not None:
                x = x.index_select(0, perm)
        length = x.size(0)
        sizes = [length] if batch is None else graph_sizes(batch)
        largest = max(sizes, default=0)
        if largest > self.max_tokens:
            msg = (
                f"FullAttention got a graph of {largest} tokens, above max_tokens="
                f"{self.max_tokens}: its cost grows as the square of the graph size. Use "
                f"PatchAttention or LinearAttention for large meshes, or raise max_tokens."
            )
            raise ValueError(msg)

        heads, head_dim = self.num_heads, self.channels // self.num_heads
        qkv = self.qkv(x)
        attn_mask = None
        if len(sizes) > 1:
            # pad every graph to the largest one: token t of graph g goes to row t - ptr[g]
            counts = torch.tensor(sizes, device=x.device)
            graph = torch.repeat_interleave(torch.arange(len(sizes), device=x.device), counts)
            ptr = torch.cumsum(counts, 0) - counts
            slot = torch.arange(length, device=x.device) - ptr[graph]
            dense = qkv.new_zeros(len(sizes), largest, 3 * self.channels)
            dense = dense.index_put((graph, slot), qkv)
            valid = torch.zeros(len(sizes), largest, dtype=torch.bool, device=x.device)
            valid[graph, slot] = True
            attn_mask = valid[:, None, None, :]
        else:
            dense = qkv.unsqueeze(0)

        num, size = dense.shape[:2]
        query, key, value = (
            dense.view(num, size, 3, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        )
        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        out = out.transpose(1, 2).reshape(num, size, self.channels)
        out = out[graph, slot] if attn_mask is not None else out[0]
        out = self.proj(out)

        if perm is not None:
            out = torch.empty_like(out).index_copy_(0, perm, out)
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, num_heads={self.num_heads}, "
            f"max_tokens={self.max_tokens})"
        )
