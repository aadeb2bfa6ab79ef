"""A compact per-graph latent state carried across time steps by a selective recurrence."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

__all__ = ["TemporalLatent"]


class TemporalLatent(nn.Module):
    r"""Global latent state of each graph, updated once per time step (a selective SSM in time).

    At step :math:`t` the tokens of graph :math:`g` are pooled (mean and max) and projected
    to :math:`\mathbf{z}_t`; the state follows the diagonal selective recurrence of Mamba,

    .. math::
        \boldsymbol{\Delta}_t &= \mathrm{softplus}(\mathbf{W}_\Delta \mathbf{z}_t
            + \mathbf{b}_\Delta), \qquad
        \bar{\mathbf{a}}_t = \exp(-\boldsymbol{\Delta}_t \odot e^{\mathbf{A}_{\log}}), \\
        \mathbf{s}_t &= \bar{\mathbf{a}}_t \odot \mathbf{s}_{t-1}
            + \boldsymbol{\Delta}_t \odot \mathbf{W}_B \mathbf{z}_t, \\
        \mathbf{c}_t &= \mathbf{W}_o\big(\mathrm{LN}(\mathbf{s}_t + \mathbf{D} \odot
            \mathbf{W}_B \mathbf{z}_t) \odot \mathrm{SiLU}(\mathbf{W}_g \mathbf{z}_t)\big),

    with :math:`\mathbf{s}_0 = 0`. The input-dependent step :math:`\boldsymbol{\Delta}_t`
    decides per channel how much of the past to keep, so the state can hold information for
    longer than any input window; :math:`\mathbf{c}_t` conditions the backbone (adaLN). This
    is the Mamba selective scan with one state per channel, evaluated one step at a time
    (a rollout produces one frame per step, so the scan over time is inherently sequential).
    Decay rates :math:`e^{\mathbf{A}_{\log}}` start spread over ``[0.1, 1]`` and steps around
    ``[0.05, 0.5]``, i.e. memories of a few to a few hundred steps.

    Parameters
    ----------
    channels : int
        Token width :math:`D` (pooled to :math:`2D`).
    d_latent : int
        State size :math:`S`.
    out_channels : int, optional
        Size of :math:`\mathbf{c}_t`; default: ``channels``.

    Shapes
    ------
    - **input:** tokens :math:`(N, D)`, graph index :math:`(N)`, state :math:`(B, S)` or ``None``
    - **output:** conditioning :math:`(B, C_{out})`, new state :math:`(B, S)`

    References
    ----------
    .. [1] A. Gu and T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State
       Spaces", 2023.
    .. [2] T. Dao and A. Gu, "Transformers are SSMs" (Mamba-2), ICML 2024.
    .. [3] HMT-PF: P. Du et al., arXiv:2505.11578, 2025 (a Mamba block carries a global latent
       state forward in time).

    Example
    -------
    >>> import torch
    >>> temporal = TemporalLatent(32, 16)
    >>> cond, state = temporal(torch.randn(100, 32))
    >>> cond.shape, state.shape
    (torch.Size([1, 32]), torch.Size([1, 16]))
    """

    def __init__(
        self, channels: int, d_latent: int, *, out_channels: int | None = None
    ) -> None:
        super().__init__()
        if channels < 1 or d_latent < 1:
            msg = f"'channels' and 'd_latent' must be positive (got {channels}, {d_latent})"
            raise ValueError(msg)
        self.channels = channels
        self.d_latent = d_latent
        self.out_channels = out_channels or channels
        self.pool_proj = nn.Linear(2 * channels, d_latent)
        self.in_proj = nn.Linear(d_latent, 3 * d_latent)  # dt, B (input), gate
        self.dt_bias = nn.Parameter(torch.empty(d_latent))
        self.A_log = nn.Parameter(torch.empty(d_latent))
        self.D = nn.Parameter(torch.empty(d_latent))
        self.norm = nn.LayerNorm(d_latent)
        self.out_proj = nn.Linear(d_latent, self.out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Mamba-style initialization of the step sizes and decay rates."""
        self.pool_proj.reset_parameters()
        self.in_proj.reset_parameters()
        self.norm.reset_parameters()
        self.out_proj.reset_parameters()
        with torch.no_grad():
            dt = torch.exp(
                torch.rand(self.d_latent) * (math.log(0.5) - math.log(0.05))
                + math.log(0.05)
            )
            self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
            self.A_log.copy_(torch.linspace(math.log(0.1), 0.0, self.d_latent))
            self.D.fill_(1.0)

    def initial_state(self, num_graphs: int, *, like: Tensor) -> Tensor:
        """The zero state of ``num_graphs`` graphs, dtype and device of ``like``."""
        return like.new_zeros(num_graphs, self.d_latent)

    def pool(
        self, h: Tensor, batch: Tensor | None = None, num_graphs: int | None = None
    ) -> Tensor:
        """Mean and max of the tokens of each graph, projected: :math:`\\mathbf{z}_t` ``[B, S]``."""
        if batch is None:
            pooled = torch.cat(
                [h.mean(0, keepdim=True), h.amax(0, keepdim=True)], dim=-1
            )
        else:
            size = num_graphs if num_graphs is not None else int(batch.max()) + 1
            pooled = torch.cat(
                [
                    scatter(h, batch, dim=0, dim_size=size, reduce="mean"),
                    scatter(h, batch, dim=0, dim_size=size, reduce="max"),
                ],
                dim=-1,
            )
        return self.pool_proj(pooled)

    def step(self, z: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step of the recurrence from pooled inputs ``z [B, S]``: ``(c_t, s_t)``."""
        if state is None:
            state = self.initial_state(z.size(0), like=z)
        if state.shape != z.shape:
            msg = f"Expected 'state' tensor with shape {list(z.shape)} (got {list(state.shape)})"
            raise ValueError(msg)
        dt, x, gate = self.in_proj(z).chunk(3, dim=-1)
        dt = F.softplus(dt + self.dt_bias)
        decay = torch.exp(-dt * self.A_log.exp())
        state = decay * state + dt * x
        out = self.out_proj(self.norm(state + self.D * x) * F.silu(gate))
        return out, state

    def forward(
        self,
        h: Tensor,
        batch: Tensor | None = None,
        state: Tensor | None = None,
        *,
        num_graphs: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Pool the tokens ``h [N, D]`` and advance the state: ``(conditioning, new state)``."""
        return self.step(self.pool(h, batch, num_graphs), state)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, d_latent={self.d_latent}, "
            f"out_channels={self.out_channels})"
        )
