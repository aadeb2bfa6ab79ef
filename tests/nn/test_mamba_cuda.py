"""The ``mamba_ssm`` CUDA kernels against the pure-PyTorch backend, with the same weights.

These run only where a CUDA device and the kernels (``pip install "meshfield[gpu]"``) are
present; on the CPU they are reported as skipped. The wiring of the CUDA path is checked on
every machine by ``test_mamba.py::test_cuda_path_wiring_with_stand_in_kernels``; here the real
kernels (Triton's chunked scan and gated norm, the ``causal_conv1d`` extension) are compared
with :func:`~meshfield.nn.ssm.ssd_chunked` and :func:`~meshfield.nn.ssm.causal_conv1d`.

Triton computes float32 products in TF32 by default, so float32 is compared by the relative
L2 error of each output and gradient (a wrong wiring moves it to order one), bfloat16 against
the float32 result of the torch backend.
"""

from __future__ import annotations

import pytest
import torch

from meshfield.nn.ssm import BiMamba, Mamba
from meshfield.typing import mamba_ssm_available

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and mamba_ssm_available()),
    reason="needs a CUDA device and the mamba_ssm kernels",
)

# the bench's training size first, then the options the CUDA path passes on
CASES = [
    {"d_model": 64, "d_state": 16, "headdim": 16},
    {"d_model": 64, "d_state": 16, "headdim": 16, "expand": 1},
    {"d_model": 128, "d_state": 64, "headdim": 64, "ngroups": 2},
    {"d_model": 64, "d_state": 16, "headdim": 16, "D_has_hdim": True, "norm_before_gate": True},
    {"d_model": 64, "d_state": 16, "headdim": 16, "rmsnorm": False, "bias": True},
    {"d_model": 64, "d_state": 32, "headdim": 32, "dt_limit": (0.01, 0.1), "d_conv": 2},
    {"d_model": 64, "d_state": 16, "headdim": 16, "d_ssm": 64, "conv_bias": False},
]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``|a - b| / |b|`` in float64 (L2 norms over all elements)."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def segments(batch: int, length: int, device: str) -> torch.Tensor:
    """Sequence ids of packed graphs: uneven segments, one shorter than the convolution."""
    cuts = [0, 3, length // 3, length // 3 + 700, length]
    ids = torch.zeros(batch, length, dtype=torch.long)
    for i in range(len(cuts) - 1):
        ids[:, cuts[i] : cuts[i + 1]] = i
    return ids.to(device)


def twin(cls: type, kwargs: dict, **extra) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The same weights, once on the torch backend and once on the CUDA kernels."""
    torch.manual_seed(0)
    reference = cls(**kwargs, backend="torch", **extra).cuda()
    with torch.no_grad():  # make every parameter matter
        for prm in reference.parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    kernels = cls(**kwargs, backend="cuda", **extra).cuda()
    kernels.load_state_dict(reference.state_dict(), strict=True)
    return reference, kernels


def errors(
    reference: torch.nn.Module,
    kernels: torch.nn.Module,
    u: torch.Tensor,
    call=lambda module, x: module(x),
    dtype: torch.dtype = torch.float32,
) -> dict[str, float]:
    """Relative errors of the output and of every gradient, under one random cotangent."""
    cotangent = torch.randn_like(u)
    results = []
    for module, cast in ((reference, torch.float32), (kernels, dtype)):
        module = module.to(cast)
        for prm in module.parameters():
            prm.grad = None
        x = u.to(cast).detach().requires_grad_(True)
        out = call(module, x)
        out.backward(cotangent.to(cast))
        grads = {f"grad {n}": p.grad.float() for n, p in module.named_parameters()}
        results.append({"output": out.detach().float(), "grad input": x.grad.float(), **grads})
    ref, got = results
    return {name: relative_error(got[name], ref[name]) for name in ref}


@pytest.mark.parametrize("use_mem_eff_path", [True, False])
@pytest.mark.parametrize("kwargs", CASES)
@pytest.mark.parametrize("reverse", [False, True])
def test_mamba_kernels_match_torch_backend(kwargs, use_mem_eff_path, reverse):
    reference, kernels = twin(Mamba, kwargs, use_mem_eff_path=use_mem_eff_path)
    torch.manual_seed(1)
    u = torch.randn(2, 2000, kwargs["d_model"], device="cuda")
    seq_idx = segments(2, 2000, "cuda")
    found = errors(reference, kernels, u, lambda m, x: m(x, seq_idx, reverse=reverse))
    worst = max(found, key=found.get)
    assert found[worst] < 1e-2, f"{worst}: relative error {found[worst]:.2e} ({found})"


def test_mamba_kernels_without_segments_and_in_bfloat16():
    reference, kernels = twin(Mamba, CASES[0])
    torch.manual_seed(2)
    u = torch.randn(1, 4096, 64, device="cuda")
    plain = errors(reference, kernels, u)
    assert max(plain.values()) < 1e-2, plain
    half = errors(reference, kernels, u, dtype=torch.bfloat16)
    # bfloat16 keeps 8 bits: a few per cent, against order one for a wrong kernel argument
    assert half["output"] < 5e-2 and half["grad input"] < 5e-2, half


def test_bimamba_block_on_packed_graphs_matches_torch_backend():
    reference, kernels = twin(BiMamba, {"d_model": 64, "d_state": 16, "headdim": 16})
    torch.manual_seed(3)
    u = torch.randn(1, 18192, 64, device="cuda")  # four graphs of the bench's training mesh
    seq_idx = torch.arange(4, device="cuda").repeat_interleave(4548)[None]
    found = errors(reference, kernels, u, lambda m, x: m(x, seq_idx))
    worst = max(found, key=found.get)
    assert found[worst] < 1e-2, f"{worst}: relative error {found[worst]:.2e} ({found})"


def test_auto_backend_takes_the_kernels_on_cuda(monkeypatch):
    from meshfield.nn.ssm import _cuda

    calls = []
    real = _cuda.mamba2_forward_cuda

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_cuda, "mamba2_forward_cuda", counted)
    m = Mamba(64, d_state=16, headdim=16, backend="auto").cuda()
    m(torch.randn(1, 300, 64, device="cuda"))
    assert calls == [1]
