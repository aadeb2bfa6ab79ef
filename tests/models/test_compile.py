"""The compiled model step: the eager step's values and gradients, cached on disk, and eager
again (with one warning) where compilation fails."""

from __future__ import annotations

import warnings

import pytest
import torch
from _model_helpers import grid_mesh, tiny_hmt_config

from meshfield.models import HMT
from meshfield.runtime import CompiledFunction


def _step_and_grads(
    model: HMT, mesh
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    frames = mesh.fields[:1]
    state = model.warm_state(mesh, mesh.fields[:3])  # the no-grad warm-up path
    out = model(mesh, frames, state=state)
    loss = out.delta.square().mean() + out.state.square().mean()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(
        loss, params, allow_unused=True
    )  # the heads not stepped
    used = [g for g in grads if g is not None]
    assert len(used) > len(params) // 2
    return (
        out.fields.detach(),
        state,
        [g if g is not None else torch.zeros(()) for g in grads],
    )


@pytest.mark.slow
def test_compiled_step_matches_eager_values_and_gradients(
    tmp_path, monkeypatch
) -> None:
    from torch._dynamo.utils import counters

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = HMT(tiny_hmt_config())
    for (
        param
    ) in model.parameters():  # zero-initialized gates would hide a wrong backbone
        torch.nn.init.normal_(param, std=0.2)
    mesh = grid_mesh(6, steps=4)
    fields, state, grads = _step_and_grads(model, mesh)

    torch._dynamo.reset()
    counters.clear()
    model.compile_step()
    assert model.compiled
    fields_c, state_c, grads_c = _step_and_grads(model, mesh)
    assert counters["stats"]["unique_graphs"] > 0  # it did compile
    assert model.compiled  # and did not fall back
    torch.testing.assert_close(fields_c, fields, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(state_c, state, atol=1e-5, rtol=1e-4)
    for g, g_c in zip(grads, grads_c, strict=True):
        torch.testing.assert_close(g_c, g, atol=1e-5, rtol=1e-4)
    assert any((tmp_path / "cache").rglob("*")), "nothing was cached on disk"

    model.compile_step(False)
    assert not model.compiled
    torch.testing.assert_close(_step_and_grads(model, mesh)[0], fields)


def test_failed_compilation_warns_once_and_runs_eagerly(monkeypatch) -> None:
    def broken_compile(fn, **options):
        def run(*args, **kwargs):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    torch.manual_seed(0)
    model = HMT(tiny_hmt_config())
    mesh = grid_mesh(6, steps=3)
    with torch.no_grad():
        expected = model(mesh).fields
        model.compile_step()
        with pytest.warns(
            RuntimeWarning, match=r"torch.compile of the HMT step failed.*C\+\+"
        ):
            first = model(mesh).fields
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            second = model(mesh).fields  # eager from now on, no second warning
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)
    assert not model.compiled


def test_an_error_of_the_function_itself_is_raised_again(monkeypatch) -> None:
    monkeypatch.setattr(torch, "compile", lambda fn, **options: fn)
    calls = []

    def bad(x):
        calls.append(x)
        raise ValueError(f"Expected a positive x (got {x})")

    function = CompiledFunction(bad, "bad")
    with (
        pytest.warns(RuntimeWarning, match="failed"),
        pytest.raises(ValueError, match="got -1"),
    ):
        function(-1)
    assert calls == [-1, -1] and function.failed
