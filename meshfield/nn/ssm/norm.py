"""Gated RMS normalization, the output norm of the Mamba-2 block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from meshfield.nn._grad import differentiable_backward

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
        group = self.hidden_size if self.group_size is None else self.group_size
        x = x.to(work)
        z = None if z is None else z.to(work)
        weight = self.weight.to(work)
        if torch.compiler.is_compiling() or not torch.is_grad_enabled():
            # plain operations: inductor fuses them, and without gradients nothing is kept
            out = _gated_rms_norm(x, z, weight, group, self.eps, self.norm_before_gate)[0]
        else:
            out = _GatedRMSNorm.apply(x, z, weight, group, self.eps, self.norm_before_gate)
        return out.to(dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.hidden_size}, eps={self.eps}, group_size={self.group_size}, "
            f"norm_before_gate={self.norm_before_gate}"
        )


def _gated_rms_norm(
    x: Tensor, z: Tensor | None, weight: Tensor, group: int, eps: float, norm_before_gate: bool
) -> tuple[Tensor, Tensor]:
    """The normalization as plain operations; returns ``(out, rstd)``, ``rstd [..., groups, 1]``."""
    if z is not None and not norm_before_gate:
        x = x * F.silu(z)
    grouped = x.unflatten(-1, (-1, group))
    rstd = torch.rsqrt(grouped.square().mean(dim=-1, keepdim=True) + eps)
    out = (grouped * rstd).flatten(-2) * weight
    if z is not None and norm_before_gate:
        out = out * F.silu(z)
    return out, rstd


class _GatedRMSNorm(torch.autograd.Function):
    # keeps x, z and the per-group 1/rms only (autograd would keep the gated input, the gate,
    # the normalized values and their product with the weight: four tensors of x's size);
    # the backward pass recomputes the gate and the normalized values from them

    @staticmethod
    def forward(ctx, x, z, weight, group, eps, norm_before_gate):  # type: ignore[override]
        out, rstd = _gated_rms_norm(x, z, weight, group, eps, norm_before_gate)
        ctx.save_for_backward(x, z, weight, rstd)
        ctx.group = group
        ctx.eps = eps
        ctx.norm_before_gate = norm_before_gate
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        x, z, weight, rstd = ctx.saved_tensors
        group, before = ctx.group, ctx.norm_before_gate
        if torch.is_grad_enabled():  # this backward pass is differentiated in turn

            def plain(x: Tensor, z: Tensor | None, weight: Tensor) -> Tensor:
                return _gated_rms_norm(x, z, weight, group, ctx.eps, before)[0]

            grads = differentiable_backward(plain, (x, z, weight), ctx.needs_input_grad, grad_out)
            return (*grads, None, None, None)
        gate = None if z is None else F.silu(z)
        grad_z = grad_w = None
        # v: the values normalized, v_hat = v / rms(v); g: the gradient reaching v_hat * weight
        v = x if gate is None or before else x * gate
        groups = rstd.shape[-2]
        v_hat = (v.unflatten(-1, (groups, group)) * rstd).flatten(-2)
        g = grad_out if gate is None or not before else grad_out * gate
        product = g * v_hat
        if ctx.needs_input_grad[2]:
            grad_w = product.flatten(0, -2).sum(0)
        # per group: mean of g * weight * v_hat, as one small matrix product
        grouped_product = product.unflatten(-1, (groups, group))
        dot = torch.einsum("...gc,gc->...g", grouped_product, weight.view(groups, group))
        dot = dot.unsqueeze(-1) / group
        v_grouped = v_hat.unflatten(-1, (groups, group))
        g_hat = (g * weight).unflatten(-1, (groups, group))
        grad_v = torch.addcmul(g_hat, v_grouped, dot, value=-1)
        grad_v = (grad_v * rstd).flatten(-2)
        if gate is None or before:
            grad_x = grad_v
            if gate is not None and ctx.needs_input_grad[1]:
                grad_z = torch.ops.aten.silu_backward(grad_out * v_hat * weight, z)
        else:
            grad_x = grad_v * gate
            if ctx.needs_input_grad[1]:
                grad_z = torch.ops.aten.silu_backward(grad_v * x, z)
        return grad_x, grad_z, grad_w, None, None, None
