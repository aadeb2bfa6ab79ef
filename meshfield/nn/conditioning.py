"""Conditioning of token features on a per-graph vector (physical conditions, time embedding)."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

__all__ = ["AdaLNZero", "FiLM", "Modulation"]


def _per_token(value: Tensor, batch: Tensor | None) -> Tensor:
    # [B, D] per graph -> [L, D] per token ([1, D], broadcast, for one graph)
    # index_select, not value[batch]: its backward is an index_add, several times faster on
    # the CPU than the accumulating index_put that advanced indexing backpropagates through
    return value if batch is None or value.size(0) == 1 else value.index_select(0, batch)


class Modulation(NamedTuple):
    """Shift, scale and gate for one residual branch, one row per graph (each ``[B, D]``)."""

    shift: Tensor
    scale: Tensor
    gate: Tensor

    def modulate(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        """``x * (1 + scale) + shift``, with the row of each token's graph."""
        return x * (1 + _per_token(self.scale, batch)) + _per_token(self.shift, batch)

    def gated(self, x: Tensor, batch: Tensor | None = None) -> Tensor:
        """``gate * x``, with the row of each token's graph."""
        return _per_token(self.gate, batch) * x


def _check_cond(cond: Tensor, cond_channels: int) -> None:
    if cond.dim() != 2 or cond.size(-1) != cond_channels:
        msg = (
            f"Expected 'cond' tensor with shape [num_graphs, {cond_channels}] "
            f"(got {list(cond.shape)})"
        )
        raise ValueError(msg)


class AdaLNZero(nn.Module):
    r"""Adaptive layer-norm modulation with zero-initialized gates (adaLN-Zero).

    A conditioning vector :math:`\mathbf{c}_g` per graph (physical conditions, a time
    embedding) is mapped to a shift :math:`\boldsymbol{\beta}`, a scale
    :math:`\boldsymbol{\gamma}` and a gate :math:`\boldsymbol{\alpha}` for each residual branch
    of a block,

    .. math::
        (\boldsymbol{\beta}_b, \boldsymbol{\gamma}_b, \boldsymbol{\alpha}_b)_{b}
        = \mathbf{W}\, \mathrm{SiLU}(\mathbf{c}_g) + \mathbf{b},
        \qquad
        \mathbf{x} \leftarrow \mathbf{x} + \boldsymbol{\alpha}_b \odot
        f_b\big(\mathrm{LN}(\mathbf{x}) \odot (1 + \boldsymbol{\gamma}_b)
        + \boldsymbol{\beta}_b\big).

    :math:`\mathbf{W}` and :math:`\mathbf{b}` start at zero, so every gate is zero and a block
    built on this layer starts as the identity map; the conditioning is learned from there.

    Parameters
    ----------
    channels : int
        Feature size :math:`D` of the modulated tokens.
    cond_channels : int
        Size of the conditioning vector.
    num_branches : int, default: 2
        Residual branches to modulate (2 for a mixer and an MLP).

    Shapes
    ------
    - **input:** conditioning :math:`(B, C)`
    - **output:** ``num_branches`` :class:`Modulation` tuples of three :math:`(B, D)` tensors

    References
    ----------
    .. [1] W. Peebles and S. Xie, "Scalable Diffusion Models with Transformers" (DiT),
       ICCV 2023.

    Example
    -------
    >>> import torch
    >>> from meshfield.nn import AdaLNZero
    >>> adaln = AdaLNZero(64, 8)
    >>> mixer_mod, mlp_mod = adaln(torch.randn(2, 8))
    >>> mixer_mod.gate.abs().max().item()
    0.0
    """

    def __init__(self, channels: int, cond_channels: int, *, num_branches: int = 2) -> None:
        super().__init__()
        if cond_channels < 1 or num_branches < 1:
            msg = (
                "'cond_channels' and 'num_branches' must be positive "
                f"(got {cond_channels}, {num_branches})"
            )
            raise ValueError(msg)
        self.channels = channels
        self.cond_channels = cond_channels
        self.num_branches = num_branches
        self.act = nn.SiLU()
        self.linear = nn.Linear(cond_channels, 3 * num_branches * channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the projection, so all gates start closed."""
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, cond: Tensor) -> tuple[Modulation, ...]:
        """Modulations of every branch for the graphs of ``cond`` (``[B, C]``)."""
        _check_cond(cond, self.cond_channels)
        params = self.linear(self.act(cond)).view(cond.size(0), self.num_branches, 3, self.channels)
        return tuple(Modulation(*branch.unbind(1)) for branch in params.unbind(1))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, cond_channels={self.cond_channels}, "
            f"num_branches={self.num_branches})"
        )


class FiLM(nn.Module):
    r"""Feature-wise linear modulation of tokens by a per-graph conditioning vector.

    .. math::
        \mathbf{x}_i \leftarrow \mathbf{x}_i \odot (1 + \boldsymbol{\gamma}_{g(i)})
        + \boldsymbol{\beta}_{g(i)},
        \qquad (\boldsymbol{\beta}, \boldsymbol{\gamma}) = \mathbf{W}\mathbf{c} + \mathbf{b}

    The projection starts at zero, so the layer starts as the identity. Use it to inject
    conditions into an encoder or decoder; residual blocks use :class:`AdaLNZero`.

    Parameters
    ----------
    channels : int
        Feature size :math:`D` of the modulated tokens.
    cond_channels : int
        Size of the conditioning vector.

    Shapes
    ------
    - **input:** tokens :math:`(L, D)`, conditioning :math:`(B, C)`, graph index per token
      :math:`(L)` (``None`` when :math:`B = 1`)
    - **output:** :math:`(L, D)`

    References
    ----------
    .. [1] E. Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer",
       AAAI 2018.

    Example
    -------
    >>> import torch
    >>> from meshfield.nn import FiLM
    >>> film = FiLM(64, 8)
    >>> x = torch.randn(10, 64)
    >>> torch.equal(film(x, torch.randn(1, 8)), x)
    True
    """

    def __init__(self, channels: int, cond_channels: int) -> None:
        super().__init__()
        if cond_channels < 1:
            msg = f"'cond_channels' must be positive (got {cond_channels})"
            raise ValueError(msg)
        self.channels = channels
        self.cond_channels = cond_channels
        self.linear = nn.Linear(cond_channels, 2 * channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the projection, so the layer starts as the identity."""
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor, cond: Tensor, batch: Tensor | None = None) -> Tensor:
        """Modulate ``x`` (``[L, D]``) by ``cond`` (``[B, C]``) of each token's graph."""
        _check_cond(cond, self.cond_channels)
        if batch is None and cond.size(0) != 1:
            msg = f"'batch' is required when 'cond' holds {cond.size(0)} graphs"
            raise ValueError(msg)
        shift, scale = self.linear(cond).chunk(2, dim=-1)
        return x * (1 + _per_token(scale, batch)) + _per_token(shift, batch)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, cond_channels={self.cond_channels})"
