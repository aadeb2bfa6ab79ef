from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from meshfield.nn.ssm import ssd as ssd_module
from meshfield.nn.ssm import ssd_chunked, ssd_reference

# (atol, rtol) of chunked vs sequential scan
TOL = {torch.float64: (1e-10, 1e-10), torch.float32: (1e-4, 1e-4)}


def make_inputs(
    L: int,
    *,
    dtype: torch.dtype,
    batch: int = 2,
    nheads: int = 4,
    headdim: int = 6,
    ngroups: int = 1,
    dstate: int = 5,
    segments: int = 0,
    with_initial: bool = False,
    D_shape: str = "h",
) -> dict:
    g = torch.Generator().manual_seed(1234 + L)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype)

    inputs = {
        "x": rnd(batch, L, nheads, headdim),
        # realistic time steps (softplus range of Mamba) and decay rates
        "dt": 0.02 + 0.5 * torch.rand(batch, L, nheads, generator=g, dtype=dtype),
        "A": -(0.5 + 3.0 * torch.rand(nheads, generator=g, dtype=dtype)),
        "B": rnd(batch, L, ngroups, dstate),
        "C": rnd(batch, L, ngroups, dstate),
        "D": rnd(nheads) if D_shape == "h" else rnd(nheads, headdim),
    }
    if with_initial:
        inputs["initial_states"] = rnd(batch, nheads, headdim, dstate)
    if segments:
        ids = torch.randint(0, segments, (batch, L), generator=g)
        inputs["seq_idx"] = torch.sort(ids, dim=1).values.to(torch.int32)
    return inputs


def run_with_grad(fn, inputs: dict, **kwargs) -> tuple[list[torch.Tensor], dict]:
    leaves = {
        k: (v.detach().clone().requires_grad_(True) if v.is_floating_point() else v)
        for k, v in inputs.items()
    }
    y, final = fn(**leaves, return_final_states=True, **kwargs)
    g = torch.Generator().manual_seed(7)
    dy = torch.randn(y.shape, generator=g, dtype=y.dtype)
    dfinal = torch.randn(final.shape, generator=g, dtype=final.dtype)
    wrt = {k: v for k, v in leaves.items() if v.is_floating_point()}
    grads = torch.autograd.grad([y, final], list(wrt.values()), [dy, dfinal])
    return [y.detach(), final.detach()], dict(zip(wrt, grads))


def assert_close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype, name: str) -> None:
    atol, rtol = TOL[dtype]
    scale = b.abs().max().clamp(min=1.0)
    torch.testing.assert_close(
        a, b, atol=atol * scale.item(), rtol=rtol, msg=lambda m: f"{name}: {m}"
    )


def assert_same_scan(inputs: dict, dtype: torch.dtype, chunk_size: int, **kwargs) -> None:
    (y, final), grads = run_with_grad(ssd_chunked, inputs, chunk_size=chunk_size, **kwargs)
    (y_ref, final_ref), grads_ref = run_with_grad(ssd_reference, inputs, **kwargs)
    assert y.dtype == dtype
    assert_close(y, y_ref, dtype, "y")
    assert_close(final, final_ref, dtype, "final states")
    for name in grads_ref:
        assert torch.isfinite(grads[name]).all(), name
        assert_close(grads[name], grads_ref[name], dtype, f"d/d{name}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("L", [1, 7, 64, 65, 200, 300])
@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("ngroups", [1, 4])
def test_chunked_matches_recurrence(dtype, L, chunk_size, ngroups):
    inputs = make_inputs(L, dtype=dtype, ngroups=ngroups)
    assert_same_scan(inputs, dtype, chunk_size)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("L", [1, 7, 65, 200, 300])
@pytest.mark.parametrize("chunk_size", [16, 64])
def test_seq_idx_and_initial_states(dtype, L, chunk_size):
    inputs = make_inputs(L, dtype=dtype, ngroups=2, segments=5, with_initial=True, D_shape="hp")
    assert_same_scan(inputs, dtype, chunk_size)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_dt_transform_and_gate(dtype):
    inputs = make_inputs(100, dtype=dtype, ngroups=2, segments=3)
    g = torch.Generator().manual_seed(3)
    inputs["dt"] = torch.randn(inputs["dt"].shape, generator=g, dtype=dtype) * 3
    inputs["dt_bias"] = torch.randn(4, generator=g, dtype=dtype)
    inputs["z"] = torch.randn(inputs["x"].shape, generator=g, dtype=dtype)
    assert_same_scan(inputs, dtype, 16, dt_softplus=True, dt_limit=(0.05, 0.4))


def test_deep_cross_chunk_scan(monkeypatch):
    # a block of 2 chunk states makes the log-depth scan recurse 6 times on 100 chunks
    monkeypatch.setattr(ssd_module, "_SCAN_BLOCK", 2)
    inputs = make_inputs(400, dtype=torch.float64, segments=7, with_initial=True)
    assert_same_scan(inputs, torch.float64, 4)


def test_segments_equal_separate_runs():
    dtype = torch.float64
    lengths = [5, 70, 1, 30]
    L = sum(lengths)
    inputs = make_inputs(L, dtype=dtype, batch=1, ngroups=2, with_initial=True)
    seq_idx = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))[None]
    packed, final = ssd_chunked(
        **inputs, seq_idx=seq_idx.to(torch.int32), chunk_size=16, return_final_states=True
    )
    start = 0
    for i, n in enumerate(lengths):
        part = {k: v[:, start : start + n] for k, v in inputs.items() if k in ("x", "dt", "B", "C")}
        # the initial state feeds the first segment only
        init = inputs["initial_states"] if i == 0 else None
        alone, alone_final = ssd_chunked(
            **part,
            A=inputs["A"],
            D=inputs["D"],
            initial_states=init,
            chunk_size=16,
            return_final_states=True,
        )
        torch.testing.assert_close(packed[:, start : start + n], alone, atol=1e-12, rtol=1e-12)
        start += n
    torch.testing.assert_close(final, alone_final, atol=1e-12, rtol=1e-12)


def test_no_information_crosses_segments():
    inputs = make_inputs(130, dtype=torch.float64, batch=1)
    seq_idx = torch.zeros(1, 130, dtype=torch.int32)
    seq_idx[:, 64:] = 1  # the border falls on a chunk border
    x = inputs.pop("x").requires_grad_(True)
    y = ssd_chunked(x, **inputs, seq_idx=seq_idx, chunk_size=16)
    (grad,) = torch.autograd.grad(y[:, 64:].sum(), x)
    assert grad[:, :64].abs().max() == 0
    assert grad[:, 64:].abs().max() > 0


def test_chunk_size_does_not_change_result():
    inputs = make_inputs(257, dtype=torch.float64, segments=4, with_initial=True)
    results = [ssd_chunked(**inputs, chunk_size=q) for q in (1, 3, 16, 64, 256, 1000)]
    for y in results[1:]:
        torch.testing.assert_close(y, results[0], atol=1e-11, rtol=1e-11)


def test_strong_decay_is_finite():
    # exp(dt * A) underflows to 0 inside chunks; masking before exp keeps gradients finite
    inputs = make_inputs(200, dtype=torch.float32, segments=3)
    inputs["dt"] = inputs["dt"] * 50
    inputs["A"] = inputs["A"] * 20
    (y, final), grads = run_with_grad(ssd_chunked, inputs, chunk_size=64)
    assert torch.isfinite(y).all() and torch.isfinite(final).all()
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_half_precision_runs_in_float32():
    inputs = make_inputs(50, dtype=torch.float32)
    y32 = ssd_chunked(**inputs, chunk_size=16)
    y16 = ssd_chunked(**{k: v.to(torch.bfloat16) for k, v in inputs.items()}, chunk_size=16)
    assert y16.dtype == torch.bfloat16
    torch.testing.assert_close(y16.float(), y32, atol=0.1, rtol=0.05)


class _LargestTensor(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_never_builds_per_token_states():
    # headdim * dstate = 256 > nheads * chunk_size = 32: a [B, L, H, P, N] tensor would show
    batch, L, nheads, headdim, dstate = 1, 1024, 2, 16, 16
    inputs = make_inputs(
        L,
        dtype=torch.float32,
        batch=batch,
        nheads=nheads,
        headdim=headdim,
        dstate=dstate,
        segments=3,
    )
    leaves = {
        k: (v.requires_grad_(True) if v.is_floating_point() else v) for k, v in inputs.items()
    }
    with _LargestTensor() as mode:
        y = ssd_chunked(**leaves, chunk_size=16)
        y.sum().backward()
    per_token_states = batch * L * nheads * headdim * dstate
    assert mode.largest <= per_token_states // 8


def test_empty_sequence():
    inputs = make_inputs(0, dtype=torch.float32, with_initial=True)
    y, final = ssd_chunked(**inputs, return_final_states=True)
    assert y.shape == inputs["x"].shape
    torch.testing.assert_close(final, inputs["initial_states"])


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("dt", torch.rand(2, 10, 3), "'dt'"),
        ("A", -torch.rand(4, 1), "'A'"),
        ("B", torch.randn(2, 10, 3, 5), "multiple of ngroups"),
        ("seq_idx", torch.zeros(2, 9, dtype=torch.int32), "'seq_idx'"),
        ("seq_idx", torch.zeros(2, 10), "integer"),
        ("initial_states", torch.zeros(2, 4, 6, 4), "'initial_states'"),
        ("D", torch.ones(5), "'D'"),
    ],
)
@pytest.mark.parametrize("fn", [ssd_chunked, ssd_reference])
def test_bad_shapes_name_the_argument(fn, name, value, match):
    inputs = make_inputs(10, dtype=torch.float32)
    inputs[name] = value
    if name == "B":
        inputs["C"] = value
    with pytest.raises(ValueError, match=match):
        fn(**inputs)


def test_blocks_of_a_long_sequence_chain_exactly(monkeypatch):
    # blocks of 48 tokens: borders fall inside chunks' worth of padding and on segment borders
    monkeypatch.setattr(ssd_module, "_BLOCK_TOKENS", 48)
    inputs = make_inputs(300, dtype=torch.float64, ngroups=2, segments=9, with_initial=True)
    inputs["seq_idx"][:, 96:] += 1  # a border exactly on a block border
    assert_same_scan(inputs, torch.float64, 16)
