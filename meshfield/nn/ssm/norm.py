"""Gated RMS normalization, the output norm of the Mamba-2 block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RMSNormGated"]


class RMSNormGated(nn.Module):
    r"""RMS normalization with an optional SiLU gate, per group of channels.

    With ``norm_before_gate=False`` (the Mamba-2 default)

    .. math::

        y = \frac{x \odot \mathrm{silu}(z)}{\sqrt{\mathrm{mean}_g((x \odot \mathrm{silu}(z))^2)
        + \epsilon}} \odot w,

    and with ``norm_before_gate=True`` the gate multiplies the normalized output instead. The
    mean runs over groups of ``group_size`` consecutive channels. Parameter names and defaults
    follow ``mamba_ssm.ops.triton.layernorm_gated.RMSNorm`` (``mamba_ssm`` 2.2), so checkpoints
    load either way.

    Parameters
    ----------
    hidden_size : int
        Number of channels.
    eps : float
        Added to the mean square. default: 1e-5.
    group_size : int, optional
        Channels per normalization group; None means one group. default: None.
    norm_before_gate : bool
        Normalize, then gate (True), or gate, then normalize (False). default: True.
    device, dtype : optional
        Factory arguments of the weight. default: None.

    Shapes
    ------
    - x, z: :math:`(*, \mathrm{hidden\_size})`; output: same as ``x``

    References
    ----------
    T. Dao and A. Gu, "Transformers are SSMs", ICML 2024 (Mamba-2 block).

    Example
    -------
    >>> norm = RMSNormGated(8, group_size=4, norm_before_gate=False)
    >>> norm(torch.randn(2, 8), torch.randn(2, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(
        self,
        hidden_size: int,
        eps: float = 1e-5,
        group_size: int | None = None,
        norm_before_gate: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if group_size is not None and (group_size <= 0 or hidden_size % group_size != 0):
            msg = f"Expected 'group_size' to divide hidden_size {hidden_size} (got {group_size})"
            raise ValueError(msg)
        self.hidden_size = hidden_size
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(hidden_size, device=device, dtype=dtype))
        self.register_parameter("bias", None)
        self.group_size = group_size
        self.norm_before_gate = norm_before_gate
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Normalize ``x`` and gate it with ``silu(z)`` (if given)."""
        dtype = x.dtype
        # statistics in float32 at least, as the fused kernels do
        work = torch.promote_types(dtype, torch.float32)
        x = x.to(work)
        if z is not None and not self.norm_before_gate:
            x = x * F.silu(z.to(work))
        group = self.hidden_size if self.group_size is None else self.group_size
        grouped = x.unflatten(-1, (-1, group))
        rstd = torch.rsqrt(grouped.square().mean(dim=-1, keepdim=True) + self.eps)
        out = (grouped * rstd).flatten(-2) * self.weight.to(work)
        if z is not None and self.norm_before_gate:
            out = out * F.silu(z.to(work))
        return out.to(dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.hidden_size}, eps={self.eps}, group_size={self.group_size}, "
            f"norm_before_gate={self.norm_before_gate}"
        )
