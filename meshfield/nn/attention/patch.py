"""Softmax attention inside patches of consecutive tokens of a serialized sequence."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meshfield.nn.attention._utils import check_sequence

if TYPE_CHECKING:
    from meshfield.serialize import Patching

__all__ = ["PatchAttention"]


class PatchAttention(nn.Module):
    r"""Multi-head softmax attention inside patches of ``patch_size`` consecutive tokens.

    Nodes ordered along a space-filling curve are neighbours in space when they are
    neighbours in the sequence, so cutting the sequence into patches of :math:`K` tokens and
    attending inside each patch gives local attention at :math:`O(L K)` cost (Point
    Transformer V3). For every patch :math:`p` and head :math:`h`

    .. math::
        \mathbf{y}_i = \mathbf{W}_o \big\Vert_{h} \sum_{j \in p(i)}
        \operatorname{softmax}_j\!\Big(\frac{\mathbf{q}_i^{h\top}\mathbf{k}_j^h}{\sqrt{d_h}}\Big)
        \mathbf{v}_j^h

    Patches never contain tokens of two graphs: a graph's last patch is padded and the padding
    is masked out of the keys. With ``shift`` the patch borders move by ``shift`` tokens, so
    alternating layers with ``shift=0`` and ``shift=patch_size // 2`` let information cross
    the borders (as shifted windows do).

    Parameters
    ----------
    channels : int
        Feature size :math:`D` of the tokens.
    num_heads : int, default: 4
        Number of attention heads; must divide ``channels``.
    patch_size : int, default: 256
        Tokens per patch :math:`K`.
    shift : int, default: 0
        Offset of the patch borders in tokens, taken modulo ``patch_size``.
    bias : bool, default: True
        Whether the query/key/value and output projections have a bias.
    dropout : float, default: 0.0
        Dropout on the attention weights during training.

    Shapes
    ------
    - **input:** tokens :math:`(L, D)` in sequence order, graph index per token :math:`(L)`
      (non-decreasing; ``None`` for one graph), optional precomputed patching
    - **output:** :math:`(L, D)`

    References
    ----------
    .. [1] X. Wu et al., "Point Transformer V3: Simpler, Faster, Stronger", CVPR 2024.

    Example
    -------
    >>> import torch
    >>> from meshfield.nn import PatchAttention
    >>> attn = PatchAttention(64, num_heads=4, patch_size=32)
    >>> attn(torch.randn(100, 64)).shape
    torch.Size([100, 64])
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 4,
        patch_size: int = 256,
        shift: int = 0,
        *,
        bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if channels % num_heads != 0:
            msg = f"'channels' ({channels}) must be divisible by 'num_heads' ({num_heads})"
            raise ValueError(msg)
        if patch_size < 1:
            msg = f"'patch_size' must be positive (got {patch_size})"
            raise ValueError(msg)
        self.channels = channels
        self.num_heads = num_heads
        self.patch_size = patch_size
        self.shift = shift % patch_size
        self.dropout = dropout
        self.qkv = nn.Linear(channels, 3 * channels, bias=bias)
        self.proj = nn.Linear(channels, channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reinitialize the projections."""
        self.qkv.reset_parameters()
        self.proj.reset_parameters()

    def patching(self, batch: Tensor | None, length: int, device: torch.device) -> Patching:
        """The patches this layer uses for a sequence with graph index ``batch``."""
        from meshfield.serialize import patch

        if batch is None:
            batch = torch.zeros(length, dtype=torch.long, device=device)
        return patch(batch, self.patch_size, shift=self.shift)

    def forward(
        self, x: Tensor, batch: Tensor | None = None, patching: Patching | None = None
    ) -> Tensor:
        """Attend inside the patches of the sequence ``x``.

        Parameters
        ----------
        x : torch.Tensor
            Tokens in sequence order, shape ``[L, D]``.
        batch : torch.Tensor, optional
            Graph index of every token, shape ``[L]``, non-decreasing. Default: one graph.
        patching : meshfield.serialize.Patching, optional
            Patches computed beforehand with ``patch(batch, patch_size, shift)`` (a backbone
            reuses them across layers). Default: computed here.

        Returns
        -------
        torch.Tensor
            Shape ``[L, D]``.
        """
        if patching is None:
            check_sequence(x, batch, self.channels, sorted_batch=True)
            patching = self.patching(batch, x.size(0), x.device)
        num_patches, size = patching.index.shape
        heads, head_dim = self.num_heads, self.channels // self.num_heads

        qkv = patching.pack(self.qkv(x))  # [P, K, 3D]
        qkv = qkv.view(num_patches, size, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)  # each [P, H, K, Dh]

        # a boolean key mask ([P, 1, 1, K], True = attend); skipped when no patch is padded so
        # the fused kernels without a mask can run
        attn_mask = None if patching.full else patching.mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        out = out.transpose(1, 2).reshape(num_patches, size, self.channels)
        return self.proj(patching.unpack(out))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, num_heads={self.num_heads}, "
            f"patch_size={self.patch_size}, shift={self.shift})"
        )
