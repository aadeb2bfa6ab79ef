"""Softmax-free global attention per graph (Galerkin-type), linear in the sequence length."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from meshfield.nn.attention._utils import check_sequence, graph_sizes, sort_by_graph

__all__ = ["LinearAttention"]


class LinearAttention(nn.Module):
    r"""Galerkin-type linear attention over all tokens of each graph.

    The softmax is dropped and the keys and values are layer-normalized instead (Cao, 2021);
    the product is then evaluated right to left, so every graph :math:`g` with
    :math:`n_g` tokens costs :math:`O(n_g d_h^2)` instead of :math:`O(n_g^2 d_h)`:

    .. math::
        \mathbf{y}_i = \mathbf{W}_o \big\Vert_h \; \mathbf{q}_i^{h\top}
        \Big(\frac{1}{n_g} \sum_{j \in g(i)} \tilde{\mathbf{k}}_j^h
        \tilde{\mathbf{v}}_j^{h\top}\Big),
        \qquad \tilde{\mathbf{k}} = \mathrm{LN}(\mathbf{k}),\;
        \tilde{\mathbf{v}} = \mathrm{LN}(\mathbf{v})

    The :math:`1/n_g` makes the layer a quadrature of an integral operator over the domain,
    so the same weights apply to coarse and fine meshes. The sums run over the tokens of one
    graph only, so graphs in a batch never see each other; the token order does not matter.

    Parameters
    ----------
    channels : int
        Feature size :math:`D` of the tokens.
    num_heads : int, default: 4
        Number of heads; must divide ``channels``.
    bias : bool, default: True
        Whether the query/key/value and output projections have a bias.
    dropout : float, default: 0.0
        Dropout on the attention output during training.
    eps : float, default: 1e-5
        Epsilon of the key and value layer norms.

    Shapes
    ------
    - **input:** tokens :math:`(L, D)`, graph index per token :math:`(L)` (``None`` for one
      graph; any order)
    - **output:** :math:`(L, D)`

    Notes
    -----
    The per-graph sums :math:`\sum_j \tilde{\mathbf{k}}_j \tilde{\mathbf{v}}_j^\top` are one
    matrix product per graph on contiguous segments of the graph-sorted sequence; this keeps
    memory at :math:`O(L D)` (a scatter of per-token outer products would need
    :math:`O(L D d_h)`).

    References
    ----------
    .. [1] S. Cao, "Choose a Transformer: Fourier or Galerkin", NeurIPS 2021.

    Example
    -------
    >>> import torch
    >>> from meshfield.nn import LinearAttention
    >>> attn = LinearAttention(64, num_heads=4)
    >>> attn(torch.randn(100, 64), torch.tensor([0] * 60 + [1] * 40)).shape
    torch.Size([100, 64])
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 4,
        *,
        bias: bool = True,
        dropout: float = 0.0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if channels % num_heads != 0:
            msg = f"'channels' ({channels}) must be divisible by 'num_heads' ({num_heads})"
            raise ValueError(msg)
        self.channels = channels
        self.num_heads = num_heads
        head_dim = channels // num_heads
        self.qkv = nn.Linear(channels, 3 * channels, bias=bias)
        self.norm_k = nn.LayerNorm(head_dim, eps=eps)
        self.norm_v = nn.LayerNorm(head_dim, eps=eps)
        self.proj = nn.Linear(channels, channels, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the projections and norms."""
        self.qkv.reset_parameters()
        self.norm_k.reset_parameters()
        self.norm_v.reset_parameters()
        self.proj.reset_parameters()

    def forward(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        """Mix all tokens of each graph.

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
        """
        check_sequence(x, batch, self.channels, sorted_batch=False)
        perm = None
        if batch is not None:
            perm, batch = sort_by_graph(batch)
            if perm is not None:
                x = x.index_select(0, perm)
        length = x.size(0)
        heads, head_dim = self.num_heads, self.channels // self.num_heads
        query, key, value = self.qkv(x).view(length, 3, heads, head_dim).unbind(1)
        key = self.norm_k(key)
        value = self.norm_v(value)

        sizes = [length] if batch is None else graph_sizes(batch)
        outs = []
        for q_g, k_g, v_g in zip(
            query.split(sizes), key.split(sizes), value.split(sizes), strict=True
        ):
            kv = torch.einsum("lhd,lhe->hde", k_g, v_g) / k_g.size(0)  # [H, Dh, Dh]
            outs.append(torch.einsum("lhd,hde->lhe", q_g, kv))
        out = self.proj(self.dropout(torch.cat(outs).reshape(length, self.channels)))

        if perm is not None:
            out = torch.empty_like(out).index_copy_(0, perm, out)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, num_heads={self.num_heads})"
