"""The ``mamba_ssm`` CUDA path of :class:`~meshfield.nn.ssm.Mamba`, imported only when used.

Follows ``mamba_ssm.modules.mamba2.Mamba2.forward`` of ``mamba_ssm`` 2.2.x (checked against
2.2.4; the module is unchanged up to 2.3.x) with ``causal-conv1d`` >= 1.4: the fused
``mamba_split_conv1d_scan_combined`` when ``use_mem_eff_path``, otherwise ``causal_conv1d_fn``
followed by ``mamba_chunk_scan_combined``, the gated RMS norm and the output projection.
Nothing here runs at import time; the kernels are imported inside the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from meshfield.errors import MissingDependencyError

if TYPE_CHECKING:
    from meshfield.nn.ssm.mamba import Mamba

INSTALL_HINT = 'pip install "meshfield[gpu]"'


def _on_cuda(tensor: Tensor) -> bool:
    return tensor.is_cuda


def require_mamba_ssm() -> None:
    """Raise :class:`MissingDependencyError` with the install hint if the kernels are missing."""
    from meshfield.typing import mamba_ssm_available

    if not mamba_ssm_available():
        msg = (
            "backend='cuda' needs the mamba_ssm and causal_conv1d CUDA kernels, which could not "
            f"be imported; install them with: {INSTALL_HINT}"
        )
        raise MissingDependencyError(msg)


def mamba2_forward_cuda(module: Mamba, u: Tensor, seq_idx: Tensor | None) -> Tensor:
    """Forward pass of ``module`` through the ``mamba_ssm`` kernels; ``u`` is ``[b, l, d]``."""
    require_mamba_ssm()
    if not _on_cuda(u):
        msg = (
            f"backend='cuda' runs the mamba_ssm kernels on CUDA tensors only (got a tensor on "
            f"{u.device}); use backend='torch' or 'auto' on the CPU, or install the kernels "
            f"with: {INSTALL_HINT}"
        )
        raise MissingDependencyError(msg)
    from causal_conv1d import causal_conv1d_fn
    from mamba_ssm.ops.triton.ssd_combined import (
        mamba_chunk_scan_combined,
        mamba_split_conv1d_scan_combined,
    )

    if seq_idx is not None:
        seq_idx = seq_idx.to(torch.int32).contiguous()
    zxbcdt = module.in_proj(u)
    # A in float32 even for half-precision weights (the kernels' convention)
    A = -torch.exp(module.A_log.float())
    dt_limit_kwargs = (
        {} if module.dt_limit == (0.0, float("inf")) else {"dt_limit": module.dt_limit}
    )
    D = module.D.view(module.nheads, module.headdim) if module.D_has_hdim else module.D
    conv_weight = module.conv1d.weight.squeeze(1)  # [conv_dim, d_conv]
    if module.use_mem_eff_path:
        return mamba_split_conv1d_scan_combined(
            zxbcdt,
            conv_weight,
            module.conv1d.bias,
            module.dt_bias,
            A,
            D=D,
            chunk_size=module.chunk_size,
            seq_idx=seq_idx,
            activation=module.activation,
            rmsnorm_weight=module.norm.weight if module.rmsnorm else None,
            rmsnorm_eps=module.norm.eps if module.rmsnorm else 1e-6,
            outproj_weight=module.out_proj.weight,
            outproj_bias=module.out_proj.bias,
            headdim=None if module.D_has_hdim else module.headdim,
            ngroups=module.ngroups,
            norm_before_gate=module.norm_before_gate,
            **dt_limit_kwargs,
        )
    d_mlp, d_ssm, d_bc = module.d_mlp, module.d_ssm, module.ngroups * module.d_state
    z0, x0, z, xBC, dt = torch.split(
        zxbcdt, [d_mlp, d_mlp, d_ssm, d_ssm + 2 * d_bc, module.nheads], dim=-1
    )
    xBC = causal_conv1d_fn(
        xBC.transpose(1, 2),
        conv_weight,
        bias=module.conv1d.bias,
        activation=module.activation,
        seq_idx=seq_idx,
    ).transpose(1, 2)
    x, B, C = torch.split(xBC, [d_ssm, d_bc, d_bc], dim=-1)
    batch, seqlen = u.shape[:2]
    y = mamba_chunk_scan_combined(
        x.reshape(batch, seqlen, module.nheads, module.headdim),
        dt,
        A,
        B.reshape(batch, seqlen, module.ngroups, module.d_state),
        C.reshape(batch, seqlen, module.ngroups, module.d_state),
        chunk_size=module.chunk_size,
        D=D,
        z=None if module.rmsnorm else z.reshape(batch, seqlen, module.nheads, module.headdim),
        dt_bias=module.dt_bias,
        dt_softplus=True,
        seq_idx=seq_idx,
        **dt_limit_kwargs,
    )
    y = y.reshape(batch, seqlen, d_ssm)
    if module.rmsnorm:
        y = module.norm(y, z)
    if d_mlp > 0:
        y = torch.cat([F.silu(z0) * x0, y], dim=-1)
    return module.out_proj(y)
