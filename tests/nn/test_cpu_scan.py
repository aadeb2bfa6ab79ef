"""The compiled CPU scan kernel: values and gradients against the sequential recurrence, its
place inside ssd_chunked, second derivatives, and the chunked scan where it cannot be built."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from meshfield.nn.ssm import cpu_scan, ssd_chunked, ssd_reference

needs_kernel = pytest.mark.skipif(
    not cpu_scan.available(), reason="no C++ compiler builds the CPU scan kernel here"
)


def _inputs(
    *, batch: int, length: int, heads: int, headdim: int, groups: int, dstate: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(batch, length, heads, headdim, generator=gen),
        "dt": torch.rand(batch, length, heads, generator=gen) * 0.5,
        "A": -torch.rand(heads, generator=gen) * 2,
        "B": torch.randn(batch, length, groups, dstate, generator=gen),
        "C": torch.randn(batch, length, groups, dstate, generator=gen),
    }


@needs_kernel
@pytest.mark.parametrize("headdim", [16, 64, 12])  # two compiled-in sizes and the general loop
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("segments", [False, True])
@pytest.mark.parametrize("initial", [False, True])
def test_values_and_gradients_match_the_recurrence(
    headdim: int, groups: int, segments: bool, initial: bool
) -> None:
    batch, length, heads, dstate = 2, 150, 4, 16
    inputs = _inputs(
        batch=batch, length=length, heads=heads, headdim=headdim, groups=groups, dstate=dstate
    )
    gen = torch.Generator().manual_seed(1)
    seq_idx = (
        torch.sort(torch.randint(0, 4, (batch, length), generator=gen), dim=1).values
        if segments
        else None
    )
    init = torch.randn(batch, heads, headdim, dstate, generator=gen) if initial else None
    names = ["x", "dt", "A", "B", "C"]
    leaves32 = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    leaves64 = {k: v.double().requires_grad_() for k, v in inputs.items()}
    init32 = None if init is None else init.clone().requires_grad_()
    init64 = None if init is None else init.double().requires_grad_()

    y, final = cpu_scan.selective_scan(*(leaves32[k] for k in names), seq_idx, init32)
    y_ref, final_ref = ssd_reference(
        *(leaves64[k] for k in names),
        seq_idx=seq_idx,
        initial_states=init64,
        return_final_states=True,
    )
    torch.testing.assert_close(y, y_ref.float(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final, final_ref.float(), rtol=1e-4, atol=1e-4)

    w_y = torch.randn(y.shape, generator=gen)
    w_final = torch.randn(final.shape, generator=gen)
    wrt32 = [leaves32[k] for k in names] + ([init32] if initial else [])
    wrt64 = [leaves64[k] for k in names] + ([init64] if initial else [])
    grads = torch.autograd.grad((y * w_y).sum() + (final * w_final).sum(), wrt32)
    grads_ref = torch.autograd.grad(
        (y_ref * w_y.double()).sum() + (final_ref * w_final.double()).sum(), wrt64
    )
    for name, got, want in zip([*names, "initial"], grads, grads_ref, strict=False):
        scale = want.abs().max().item()
        assert (got.double() - want).abs().max().item() <= 1e-4 * max(scale, 1.0), name


@needs_kernel
def test_ssd_chunked_takes_the_kernel_for_float32_on_the_cpu_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    original = cpu_scan.scan_unchecked

    def counted(*args: object) -> object:
        calls.append(args[0].dtype)
        return original(*args)

    monkeypatch.setattr(cpu_scan, "scan_unchecked", counted)
    inputs = _inputs(batch=1, length=70, heads=2, headdim=8, groups=1, dstate=4)
    D = torch.randn(2)
    y = ssd_chunked(**inputs, D=D, chunk_size=16)
    assert calls == [torch.float32]
    # D x is added to the kernel's output as the chunked scan adds it
    want = ssd_reference(**{k: v.double() for k, v in inputs.items()}, D=D.double())
    torch.testing.assert_close(y, want.float(), rtol=1e-4, atol=1e-4)

    ssd_chunked(**{k: v.double() for k, v in inputs.items()}, chunk_size=16)
    monkeypatch.setenv(cpu_scan.ENV_VARIABLE, "0")
    ssd_chunked(**inputs, chunk_size=16)
    assert calls == [torch.float32]  # neither float64 nor the switched-off kernel called it


@needs_kernel
def test_a_differentiated_backward_pass_matches_the_chunked_scan() -> None:
    # a second derivative goes through the chunked scan recomputed from the saved inputs
    inputs = _inputs(batch=1, length=90, heads=2, headdim=8, groups=1, dstate=4)
    w = torch.randn(1, 90, 2, 8, generator=torch.Generator().manual_seed(3))

    def second(run_kernel: bool) -> list[torch.Tensor]:
        leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
        args = [leaves[k] for k in ("x", "dt", "A", "B", "C")]
        if run_kernel:
            y, _ = cpu_scan.selective_scan(*args)
        else:
            y = ssd_reference(*args)
        (gx,) = torch.autograd.grad((y * w).sum(), leaves["x"], create_graph=True)
        return list(torch.autograd.grad(gx.square().sum(), [leaves["dt"], leaves["B"]]))

    for got, want in zip(second(True), second(False), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def _fresh_kernel_state(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(cpu_scan, "_tried", False)
    monkeypatch.setattr(cpu_scan, "_library", None)


def test_without_a_working_compiler_the_chunked_scan_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fresh_kernel_state(monkeypatch, tmp_path)
    monkeypatch.setenv("CXX", "false")  # a "compiler" that fails every build
    assert cpu_scan.available() is False
    assert not list(tmp_path.rglob("*.so"))  # nothing half-built left in the cache
    inputs = _inputs(batch=1, length=40, heads=2, headdim=8, groups=1, dstate=4)
    y = ssd_chunked(**inputs, chunk_size=16)
    want = ssd_reference(**{k: v.double() for k, v in inputs.items()})
    torch.testing.assert_close(y, want.float(), rtol=1e-4, atol=1e-4)


@needs_kernel
def test_the_kernel_is_built_once_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fresh_kernel_state(monkeypatch, tmp_path)
    assert cpu_scan.available() is True
    (built,) = tmp_path.glob("meshfield/kernels/scan-*.so")
    stamp = built.stat().st_mtime_ns
    monkeypatch.setattr(cpu_scan, "_tried", False)
    monkeypatch.setattr(cpu_scan, "_library", None)
    assert cpu_scan.available() is True
    assert built.stat().st_mtime_ns == stamp  # loaded, not compiled again


def test_a_library_that_does_not_load_leaves_the_chunked_scan(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fresh_kernel_state(monkeypatch, tmp_path)
    broken = tmp_path / "scan-broken.so"
    broken.write_bytes(b"not a shared library")
    monkeypatch.setattr(cpu_scan, "_build", lambda compiler: broken)
    assert cpu_scan.available() is False
    inputs = _inputs(batch=1, length=40, heads=2, headdim=8, groups=1, dstate=4)
    y = ssd_chunked(**inputs, chunk_size=16)
    want = ssd_reference(**{k: v.double() for k, v in inputs.items()})
    torch.testing.assert_close(y, want.float(), rtol=1e-4, atol=1e-4)


def test_describe_names_the_scan_that_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    line = cpu_scan.describe()
    assert line.startswith("selective scan: ")
    assert ("compiled CPU kernel" in line) == cpu_scan.available()
    monkeypatch.setenv(cpu_scan.ENV_VARIABLE, "0")
    assert cpu_scan.describe() == f"selective scan: chunked ({cpu_scan.ENV_VARIABLE}=0)"


@needs_kernel
def test_inference_keeps_nothing_for_a_backward_pass() -> None:
    from meshfield.testing import saved_numel

    inputs = _inputs(batch=1, length=200, heads=2, headdim=16, groups=1, dstate=16)
    with torch.no_grad():
        y, final = cpu_scan.selective_scan(*inputs.values())
    assert y.grad_fn is None and final.grad_fn is None
    leaves = [t.clone().requires_grad_() for t in inputs.values()]
    # with gradients: the inputs and the states saved every stretch of tokens, no more
    kept = saved_numel(lambda: cpu_scan.selective_scan(*leaves))
    inputs_numel = sum(t.numel() for t in leaves)
    states = 2 * 16 * 16 * -(-200 // cpu_scan._stretch(16 * 16))
    assert kept == inputs_numel + states


@needs_kernel
def test_bad_input_is_refused_before_the_kernel_reads_it() -> None:
    inputs = _inputs(batch=1, length=20, heads=2, headdim=4, groups=1, dstate=4)
    with pytest.raises(ValueError, match=r"Expected 'dt' tensor with shape \[1, 20, 2\]"):
        cpu_scan.selective_scan(**{**inputs, "dt": inputs["dt"][:, :10]})
    with pytest.raises(ValueError, match=r"float32 CPU tensors \('x' is torch.float64"):
        cpu_scan.selective_scan(**{**inputs, "x": inputs["x"].double()})


def test_without_the_kernel_selective_scan_says_what_to_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(cpu_scan.ENV_VARIABLE, "0")
    inputs = _inputs(batch=1, length=20, heads=2, headdim=4, groups=1, dstate=4)
    with pytest.raises(RuntimeError, match=r"not available here .* call .*ssd_chunked"):
        cpu_scan.selective_scan(**inputs)
