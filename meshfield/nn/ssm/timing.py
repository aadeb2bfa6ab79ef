"""Set-up functions for timing the scans and blocks with :func:`meshfield.bench._measure.measure`.

Each function builds its inputs and returns ``(call, extra)``; ``call()`` is what is timed, so
a benchmark needs no script of its own::

    from meshfield.bench._measure import measure

    m = measure("meshfield.nn.ssm.timing:setup_scan", seqlen=65536, backward=True)
    print(m.seconds / 65536 * 1e6, "us/token", m.peak_bytes / 65536, "B/token")

    m = measure("meshfield.nn.ssm.timing:setup_bimamba", seqlen=65536, checkpoint=True)

Defaults are the sizes of the performance targets: the scan with ``nheads=2, headdim=64``
(``d_inner = 128``), ``dstate=16``, one group, batch 1, float32; BiMamba with ``d_model=128,
d_state=16, expand=2, headdim=64``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["setup_bimamba", "setup_scan"]


def setup_scan(
    seqlen: int = 65536,
    *,
    backward: bool = False,
    impl: str = "chunked",
    chunk_size: int = 64,
    nheads: int = 2,
    headdim: int = 64,
    dstate: int = 16,
    ngroups: int = 1,
    batch: int = 1,
    seed: int = 0,
) -> tuple[Callable[[], None], dict[str, Any]]:
    """Inputs of one scan; ``call()`` runs it (and its backward pass if ``backward``).

    Parameters
    ----------
    seqlen : int
        Tokens. default: 65536.
    backward : bool
        Time forward and backward (gradients of every input). default: False.
    impl : {"chunked", "reference"}
        :func:`~meshfield.nn.ssm.ssd_chunked` or :func:`~meshfield.nn.ssm.ssd_reference`.
        default: "chunked".
    chunk_size, nheads, headdim, dstate, ngroups, batch : int
        Sizes. default: 64, 2, 64, 16, 1, 1.
    seed : int
        Seed of the random inputs. default: 0.
    """
    from meshfield.nn.ssm import ssd_chunked, ssd_reference

    if impl not in ("chunked", "reference"):
        msg = f"Expected impl 'chunked' or 'reference' (got {impl!r})"
        raise ValueError(msg)
    scan = ssd_chunked if impl == "chunked" else ssd_reference
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, seqlen, nheads, headdim, generator=g)
    dt = 0.001 + 0.1 * torch.rand(batch, seqlen, nheads, generator=g)
    A = -(1.0 + 15.0 * torch.rand(nheads, generator=g))
    B = torch.randn(batch, seqlen, ngroups, dstate, generator=g)
    C = torch.randn(batch, seqlen, ngroups, dstate, generator=g)
    D = torch.ones(nheads)
    inputs = [t.requires_grad_(backward) for t in (x, dt, A, B, C, D)]

    def call() -> None:
        if backward:
            y = scan(*inputs[:5], D=inputs[5], chunk_size=chunk_size)
            y.sum().backward()
            for t in inputs:
                t.grad = None
        else:
            with torch.no_grad():
                scan(*inputs[:5], D=inputs[5], chunk_size=chunk_size)

    return call, {"tokens": batch * seqlen}


def setup_bimamba(
    seqlen: int = 65536,
    *,
    backward: bool = True,
    checkpoint: bool | int = False,
    d_model: int = 128,
    d_state: int = 16,
    expand: int = 2,
    headdim: int = 64,
    batch: int = 1,
    seed: int = 0,
    backend: str = "torch",
    device: str = "cpu",
) -> tuple[Callable[[], None], dict[str, Any]]:
    """A :class:`~meshfield.nn.ssm.BiMamba` block and its input.

    Parameters
    ----------
    seqlen : int
        Tokens. default: 65536.
    backward : bool
        Time forward and backward. default: True.
    checkpoint : bool or int
        Activation recomputation, see :class:`~meshfield.nn.ssm.Mamba`. default: False.
    d_model, d_state, expand, headdim, batch : int
        Sizes. default: 128, 16, 2, 64, 1.
    seed : int
        Seed of the weights and the input. default: 0.
    backend : {"torch", "cuda", "auto", "reference"}
        The block's scan, see :class:`~meshfield.nn.ssm.Mamba`. default: "torch".
    device : str
        Where the block and its input live; on CUDA each call ends with a synchronize, so a
        wall-clock timer around it measures the kernels. default: "cpu".
    """
    from meshfield.nn.ssm import BiMamba

    torch.manual_seed(seed)
    block = BiMamba(
        d_model,
        d_state=d_state,
        expand=expand,
        headdim=headdim,
        backend=backend,
        checkpoint=checkpoint,
    ).to(device)
    x = torch.randn(batch, seqlen, d_model, device=device, requires_grad=backward)
    synchronize = torch.cuda.synchronize if x.is_cuda else (lambda: None)

    def call() -> None:
        if backward:
            y = block(x)
            y.sum().backward()
            x.grad = None
            block.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                block(x)
        synchronize()

    return call, {"tokens": batch * seqlen}
