"""Every PDE's residual vanishes on an analytic solution (autograd, float64) and not elsewhere."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from meshfield.physics import (
    PDE,
    AdvectionDiffusion,
    Burgers,
    Heat,
    NavierStokes,
    Poisson,
    Wave,
    analytic,
)

TOL = 1e-6  # relative to the magnitude of the individual terms; measured ~1e-14


def _coords(n: int, dim: int, *, time: bool, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    x = low + (high - low) * torch.rand(n, dim, dtype=torch.float64)
    if not time:
        return x
    t = 0.1 + 0.5 * torch.rand(n, 1, dtype=torch.float64)
    return torch.cat([x, t], dim=1)


def _relative(pde: PDE, f: Callable, coords: torch.Tensor) -> torch.Tensor:
    """max |residual| / max |terms| per component."""
    residual, scale = pde.residual(f, coords, return_scale=True, create_graph=False)
    return residual.abs().amax(0) / scale.amax(0)


CASES = {
    "taylor_green": (
        NavierStokes(Re=50.0),
        lambda q: analytic.taylor_green(q, nu=1 / 50),
        lambda q: analytic.taylor_green(q, nu=1 / 10),  # wrong viscosity
        (2, True),
    ),
    "kovasznay": (
        NavierStokes(Re=40.0, steady=True),
        lambda q: analytic.kovasznay(q, Re=40.0),
        lambda q: analytic.kovasznay(q, Re=20.0),
        (2, False),
    ),
    "ethier_steinman_3d": (
        NavierStokes(dim=3, viscosity="nu", nu=0.1),
        lambda q: analytic.ethier_steinman(q, nu=0.1),
        lambda q: analytic.ethier_steinman(q, nu=0.3),
        (3, True),
    ),
    "heat_kernel": (
        Heat(alpha=0.3),
        lambda q: analytic.heat_kernel(q, alpha=0.3),
        lambda q: analytic.heat_kernel(q, alpha=0.2),
        (2, True),
    ),
    "heat_kernel_3d": (
        Heat(dim=3, alpha=0.3),
        lambda q: analytic.heat_kernel(q, alpha=0.3),
        lambda q: analytic.heat_kernel(q, alpha=0.6),
        (3, True),
    ),
    "cole_hopf_1d": (
        Burgers(nu=0.05),
        lambda q: analytic.cole_hopf_burgers(q, nu=0.05),
        lambda q: analytic.cole_hopf_burgers(q, nu=0.1),
        (1, True),
    ),
    "cole_hopf_2d": (
        Burgers(dim=2, nu=0.05),
        lambda q: analytic.cole_hopf_burgers(q, nu=0.05),
        lambda q: analytic.cole_hopf_burgers(q, nu=0.1),
        (2, True),
    ),
    "translated_heat_kernel": (
        AdvectionDiffusion(velocity=(1.0, -0.5), kappa=0.3),
        lambda q: analytic.heat_kernel(q, alpha=0.3, velocity=(1.0, -0.5)),
        lambda q: analytic.heat_kernel(q, alpha=0.3, velocity=(0.5, -0.5)),
        (2, True),
    ),
    "dalembert": (
        Wave(c=1.5),
        lambda q: analytic.plane_waves(q, c=1.5),
        lambda q: analytic.plane_waves(q, c=1.0),
        (2, True),
    ),
    "manufactured_poisson": (
        Poisson(source=analytic.manufactured_poisson_source),
        analytic.manufactured_poisson,
        lambda q: analytic.manufactured_poisson(q) + q[..., :1] ** 3,
        (2, False),
    ),
    "manufactured_poisson_3d": (
        Poisson(dim=3, source=analytic.manufactured_poisson_source),
        analytic.manufactured_poisson,
        lambda q: 1.01 * analytic.manufactured_poisson(q),
        (3, False),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_residual_vanishes_on_the_solution(name: str) -> None:
    pde, solution, _, (dim, time) = CASES[name]
    relative = _relative(pde, solution, _coords(256, dim, time=time))
    assert relative.shape == (len(pde.components),)
    assert relative.max() < TOL, f"{name}: relative residual per component {relative.tolist()}"


@pytest.mark.parametrize("name", list(CASES))
def test_residual_is_clearly_nonzero_on_a_non_solution(name: str) -> None:
    pde, _, wrong, (dim, time) = CASES[name]
    relative = _relative(pde, wrong, _coords(256, dim, time=time))
    # continuity of a wrong-viscosity flow still holds; some component must fail clearly
    assert relative.max() > 1e-3, f"{name}: relative residual per component {relative.tolist()}"


def test_components_and_fields() -> None:
    ns3 = NavierStokes(dim=3, Re=10.0)
    assert ns3.fields == ("U_x", "U_y", "U_z", "p")
    assert ns3.components == ("continuity", "momentum_x", "momentum_y", "momentum_z")
    assert ns3.conditions == ("Re",)
    assert NavierStokes(viscosity="nu").conditions == ("nu", "rho")
    assert Burgers().fields == ("u",) and Burgers(dim=2).components == ("burgers_x", "burgers_y")
    assert AdvectionDiffusion(velocity=("U_x", "U_y")).fields == ("c", "U_x", "U_y")
    assert Poisson().time_dependent is False and NavierStokes(steady=True).time_dependent is False
    assert repr(Heat(alpha=0.5)) == "Heat(dim=2, alpha=0.5)"


def test_conditions_defaults_overrides_and_tensors() -> None:
    coords = _coords(64, 2, time=True)
    f = lambda q: analytic.taylor_green(q, nu=0.02)
    # the default is wrong, the override right
    assert NavierStokes(Re=10.0).residual(f, coords)[:, 1:].abs().max() > 1e-3
    assert NavierStokes(Re=10.0).residual(f, coords, cond={"Re": 50.0}).abs().max() < 1e-12
    # a condition per query point (e.g. one per sample of a batch)
    re = torch.full((64,), 50.0, dtype=torch.float64)
    assert NavierStokes().residual(f, coords, cond={"Re": re}).abs().max() < 1e-12
    with pytest.raises(ValueError, match="needs the condition 'Re'"):
        NavierStokes().residual(f, coords)


def test_nu_rho_parameterization() -> None:
    coords = _coords(64, 2, time=True)
    f = lambda q: analytic.taylor_green(q, nu=0.02, rho=3.0)
    pde = NavierStokes(viscosity="nu", nu=0.02, rho=3.0)
    assert pde.residual(f, coords).abs().max() < 1e-12


def test_field_names_select_and_reorder_channels() -> None:
    coords = _coords(32, 2, time=True)

    def shuffled(q: torch.Tensor) -> torch.Tensor:
        u, v, p = analytic.taylor_green(q, nu=0.02).unbind(-1)
        return torch.stack([p, torch.zeros_like(p), v, u], -1)

    pde = NavierStokes(Re=50.0)
    r = pde.residual(shuffled, coords, field_names=["p", "T", "U_y", "U_x"])
    assert r.abs().max() < 1e-12
    with pytest.raises(ValueError, match=r"\['U_x'\] not among the field names"):
        pde.residual(shuffled, coords, field_names=["p", "T", "U_y", "u"])
    custom = NavierStokes(Re=50.0, velocity=("u", "v"), pressure="P")
    assert custom.fields == ("u", "v", "P")


def test_velocity_from_fields_and_callable() -> None:
    """Advection-diffusion by a velocity read from fields, or given as a function."""
    coords = _coords(64, 2, time=True)
    a = (1.0, -0.5)
    c = lambda q: analytic.heat_kernel(q, alpha=0.3, velocity=a)
    with_flow = lambda q: torch.cat(
        [c(q), torch.full_like(q[..., :2], 1.0) * torch.tensor(a, dtype=q.dtype)], -1
    )
    pde = AdvectionDiffusion(velocity=("U_x", "U_y"), kappa=0.3)
    assert pde.residual(with_flow, coords).abs().max() < 1e-10
    field = AdvectionDiffusion(
        velocity=lambda x: torch.tensor(a, dtype=x.dtype).expand_as(x), kappa=0.3
    )
    assert field.residual(c, coords).abs().max() < 1e-10


def test_bad_coordinates() -> None:
    f = lambda q: analytic.taylor_green(q, nu=0.02)
    with pytest.raises(ValueError, match=r"shape \[\.\.\., Q, 3\].*\(x, y\[, z\], t\)"):
        NavierStokes(Re=50.0).residual(f, torch.rand(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="f returned 3 channels; field_names has 2"):
        Heat(alpha=1.0).residual(f, torch.rand(4, 3), field_names=["T", "x"])


def test_chunks_and_batch_axes_give_the_same_residual() -> None:
    pde = NavierStokes(Re=50.0)
    f = lambda q: analytic.taylor_green(q, nu=0.05) * 1.1
    coords = _coords(100, 2, time=True)
    full = pde.residual(f, coords, create_graph=False)
    chunked = pde.residual(f, coords, chunk_size=7, create_graph=False)
    torch.testing.assert_close(chunked, full)
    batched = pde.residual(f, coords.reshape(4, 25, 3), chunk_size=10, create_graph=False)
    torch.testing.assert_close(batched.reshape(100, 3), full)
    assert not full.requires_grad


def test_residual_trains_the_parameters_of_f() -> None:
    """create_graph=True: a residual loss has gradients with respect to the network's weights."""
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    net = net.double()
    coords = _coords(32, 2, time=True)
    loss = NavierStokes(Re=100.0).residual(net, coords, chunk_size=10).pow(2).mean()
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0

    # a few steps of plain gradient descent reduce the residual of a heat equation
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    ).double()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    pde = Heat(alpha=0.1)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = pde.residual(net, coords).pow(2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_custom_pde_in_a_few_lines() -> None:
    """A user PDE (Allen-Cahn) from the operators, by autograd and on a mesh."""
    from dataclasses import dataclass

    @dataclass
    class AllenCahn(PDE):
        eps: float = 0.1
        fields = ("u",)
        components = ("allen_cahn",)
        conditions = ("eps",)

        def equations(self, d, cond):
            u = d.u("u")
            return {"allen_cahn": (d.dt("u"), -(cond["eps"] ** 2) * d.laplacian("u"), u**3 - u)}

    # a travelling front is an exact solution: u = tanh((x - s t) / (sqrt 2 eps)) with s = 0
    eps = 0.1
    front = lambda q: torch.tanh(q[..., :1] / (math.sqrt(2) * eps))
    coords = _coords(64, 2, time=True, low=-0.3, high=0.3)
    r, scale = AllenCahn(eps=eps).residual(front, coords, return_scale=True)
    assert (r.abs().max() / scale.max()) < TOL
    assert AllenCahn(eps=2 * eps).residual(front, coords).abs().max() > 1e-2
