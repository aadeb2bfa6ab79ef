"""Check that two implementations of one layer (two backends) agree on values and gradients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["assert_backend_parity"]

# (atol, rtol) per dtype when none are given
_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-10, 1e-8),
    torch.float32: (1e-5, 1e-4),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (2e-3, 2e-3),
}


def _as_args(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(inputs, Tensor):
        return (inputs,), {}
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, Sequence) and not isinstance(inputs, str):
        return tuple(inputs), {}
    msg = f"Expected 'inputs' to be a tensor, a sequence or a mapping (got {type(inputs).__name__})"
    raise TypeError(msg)


def _leaf(value: Any) -> Any:
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.detach().clone().requires_grad_(True)
    return value


def _outputs(result: Any) -> list[Tensor]:
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, Sequence):
        return [t for t in result if isinstance(t, Tensor)]
    msg = f"Expected the module to return a tensor or a sequence of tensors (got {type(result).__name__})"
    raise TypeError(msg)


def _run(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], seed: int, check_grad: bool
) -> tuple[list[Tensor], dict[str, Tensor]]:
    args = tuple(_leaf(a) for a in args)
    kwargs = {k: _leaf(v) for k, v in kwargs.items()}
    outputs = _outputs(module(*args, **kwargs))
    grads: dict[str, Tensor] = {}
    if check_grad:
        named_inputs = [(f"input {i}", a) for i, a in enumerate(args)]
        named_inputs += [(f"input {k!r}", v) for k, v in kwargs.items()]
        wrt = [(name, t) for name, t in named_inputs if isinstance(t, Tensor) and t.requires_grad]
        wrt += [(f"parameter {n!r}", p) for n, p in module.named_parameters() if p.requires_grad]
        # the same random cotangent for both modules: a stronger check than .sum()
        generator = torch.Generator().manual_seed(seed)
        cotangents = [
            torch.randn(o.shape, generator=generator, dtype=torch.float64).to(o.dtype).to(o.device)
            for o in outputs
        ]
        differentiable = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
        if differentiable and wrt:
            values = torch.autograd.grad(
                [o for o, _ in differentiable],
                [t for _, t in wrt],
                grad_outputs=[c for _, c in differentiable],
                allow_unused=True,
            )
            for (name, t), g in zip(wrt, values):
                grads[name] = torch.zeros_like(t) if g is None else g
    return [o.detach() for o in outputs], grads


def _compare(name: str, a: Tensor, b: Tensor, atol: float, rtol: float) -> None:
    if a.shape != b.shape:
        msg = f"{name}: shapes differ ({list(a.shape)} vs {list(b.shape)})"
        raise AssertionError(msg)
    b = b.to(a.dtype).to(a.device)
    if not torch.allclose(a, b, atol=atol, rtol=rtol):
        diff = (a - b).abs()
        worst = diff.argmax()
        msg = (
            f"{name}: backends differ, max abs diff {diff.max().item():.3e} at flat index "
            f"{worst.item()} ({a.flatten()[worst].item():.6g} vs {b.flatten()[worst].item():.6g}); "
            f"atol={atol:g}, rtol={rtol:g}"
        )
        raise AssertionError(msg)


def assert_backend_parity(
    module_a: nn.Module,
    module_b: nn.Module,
    inputs: Tensor | Sequence[Any] | Mapping[str, Any],
    *,
    atol: float | None = None,
    rtol: float | None = None,
    check_grad: bool = True,
    copy_state: bool = True,
    seed: int = 0,
) -> None:
    """Assert that two modules compute the same outputs and gradients.

    Typical use: the same layer built with two backends. The state of ``module_a`` is loaded
    into ``module_b`` (``strict=True``, so parameter names must agree), both run on copies of
    ``inputs``, and the outputs, the gradients of a fixed random cotangent with respect to every
    floating-point input and every parameter (matched by name) are compared.

    Parameters
    ----------
    module_a, module_b : torch.nn.Module
        The two implementations; ``module_b`` receives the state of ``module_a``.
    inputs : Tensor, sequence or mapping
        Positional arguments (a tensor or a sequence) or keyword arguments (a mapping) of both
        calls. Floating-point tensors become fresh leaves that require gradients.
    atol, rtol : float, optional
        Tolerances of :func:`torch.allclose`; default: by the dtype of the first output
        (float64: 1e-10 / 1e-8, float32: 1e-5 / 1e-4, bfloat16: 2e-2, float16: 2e-3).
    check_grad : bool
        Compare gradients as well as outputs. default: True.
    copy_state : bool
        Load ``module_a.state_dict()`` into ``module_b`` first. default: True.
    seed : int
        Seed of the random cotangent. default: 0.

    Raises
    ------
    AssertionError
        Naming the output, input or parameter that differs and by how much.

    Example
    -------
    >>> from meshfield.nn.ssm import Mamba
    >>> a = Mamba(16, d_state=8, headdim=8, backend="torch").double()
    >>> b = Mamba(16, d_state=8, headdim=8, backend="reference").double()
    >>> assert_backend_parity(a, b, torch.randn(1, 20, 16, dtype=torch.float64))
    """
    if copy_state:
        module_b.load_state_dict(module_a.state_dict(), strict=True)
    args, kwargs = _as_args(inputs)
    outputs_a, grads_a = _run(module_a, args, kwargs, seed, check_grad)
    outputs_b, grads_b = _run(module_b, args, kwargs, seed, check_grad)
    if len(outputs_a) != len(outputs_b):
        msg = f"the modules return {len(outputs_a)} and {len(outputs_b)} tensors"
        raise AssertionError(msg)
    if atol is None or rtol is None:
        default_atol, default_rtol = _TOLERANCES.get(outputs_a[0].dtype, (1e-5, 1e-4))
        atol = default_atol if atol is None else atol
        rtol = default_rtol if rtol is None else rtol
    for i, (a, b) in enumerate(zip(outputs_a, outputs_b)):
        _compare(f"output {i}", a, b, atol, rtol)
    if check_grad:
        missing = sorted(set(grads_a) ^ set(grads_b))
        if missing:
            msg = f"gradients exist for one module only: {missing}"
            raise AssertionError(msg)
        for name in grads_a:
            _compare(f"gradient of {name}", grads_a[name], grads_b[name], atol, rtol)
