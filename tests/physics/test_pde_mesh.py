"""Discrete residuals on gmsh meshes: they shrink under refinement for analytic solutions."""

from __future__ import annotations

import math

import pytest
import torch

from meshfield.physics import Heat, MeshOperators, NavierStokes, Poisson, Wave, analytic

from physics_meshes import rectangle

SIZES = (0.6, 0.3, 0.15, 0.075)  # on [0, 2 pi]^2: about 130 to 8000 nodes


def _orders(errors: list[float]) -> list[float]:
    return [
        math.log(errors[i - 1] / errors[i]) / math.log(SIZES[i - 1] / SIZES[i])
        for i in range(1, len(errors))
    ]


def _sample(solution, pos: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Node values [T, N, C] of an analytic solution."""
    xt = torch.cat(
        [pos.expand(len(times), -1, -1), times[:, None, None].expand(-1, len(pos), 1)], dim=-1
    )
    return solution(xt)


@pytest.mark.slow
def test_taylor_green_discrete_residual_decreases_under_refinement() -> None:
    re = 50.0
    pde = NavierStokes(Re=re)
    rms: dict[str, list[float]] = {name: [] for name in pde.components}
    lines = ["h      N      " + "  ".join(f"{c:>22}" for c in pde.components)]
    for h in SIZES:
        pos, triangles = rectangle(h, 0.0, 0.0, 2 * math.pi, 2 * math.pi)
        pos = torch.from_numpy(pos)
        ops = MeshOperators(pos, cells={"triangle": torch.from_numpy(triangles)})
        times = 0.2 + (h / 2) * torch.arange(5, dtype=torch.float64)
        fields = _sample(lambda q: analytic.taylor_green(q, nu=1 / re), pos, times)
        residual = pde.mesh_residual(ops, fields, times=times)
        assert residual.shape == (5, len(pos), 3)
        for k, name in enumerate(pde.components):
            rms[name].append(residual[..., k].pow(2).mean().sqrt().item())
        lines.append(
            f"{h:<6} {len(pos):<6} " + "  ".join(f"{rms[c][-1]:>22.3e}" for c in pde.components)
        )
    orders = {name: _orders(values) for name, values in rms.items()}
    lines.append("orders " + str({k: [round(o, 2) for o in v] for k, v in orders.items()}))
    text = "\n".join(lines)
    print(text)
    for name in pde.components:
        assert all(b < a for a, b in zip(rms[name], rms[name][1:], strict=False)), text
        assert min(orders[name]) > 1.5, text


def test_heat_kernel_discrete_residual_converges() -> None:
    alpha = 0.05
    pde = Heat(alpha=alpha)
    errors = []
    for h in (0.2, 0.1, 0.05):
        pos, triangles = rectangle(h, -1.0, -1.0, 1.0, 1.0)
        pos = torch.from_numpy(pos)
        ops = MeshOperators(pos, cells={"triangle": torch.from_numpy(triangles)})
        times = 1.0 + (h / 2) * torch.arange(4, dtype=torch.float64)
        fields = _sample(lambda q: analytic.heat_kernel(q, alpha=alpha), pos, times)
        errors.append(pde.mesh_residual(ops, fields, times=times).pow(2).mean().sqrt().item())
    assert errors[0] > errors[1] > errors[2], errors


def test_wave_non_uniform_times() -> None:
    """Second time derivatives on non-uniform frames (four-point stencils) stay accurate."""
    pos, triangles = rectangle(0.05)
    pos = torch.from_numpy(pos)
    ops = MeshOperators(pos, cells={"triangle": torch.from_numpy(triangles)})
    times = torch.tensor([0.0, 0.01, 0.025, 0.03, 0.045], dtype=torch.float64)
    fields = _sample(lambda q: analytic.plane_waves(q, c=1.0), pos, times)
    r, scale = Wave(c=1.0).mesh_residual(ops, fields, times=times, return_scale=True)
    wrong = Wave(c=2.0).mesh_residual(ops, fields, times=times)
    assert r.pow(2).mean().sqrt() < 0.05 * scale.pow(2).mean().sqrt()
    assert wrong.pow(2).mean().sqrt() > 10 * r.pow(2).mean().sqrt()


def test_mesh_residual_of_a_mesh_graph() -> None:
    """Fields, names, times and conditions are read from the graph."""
    from meshfield.data import mesh_graph

    pos_np, triangles = rectangle(0.2, 0.0, 0.0, 2 * math.pi, 2 * math.pi)
    times = torch.linspace(0.1, 0.3, 5, dtype=torch.float64)
    fields = _sample(lambda q: analytic.taylor_green(q, nu=0.02), torch.from_numpy(pos_np), times)
    data = mesh_graph(
        pos_np,
        {"triangle": triangles},
        fields={"U": fields[..., :2].numpy(), "p": fields[..., 2:].numpy()},
        times=times.numpy(),
        cond={"Re": 50.0},
    )
    residual = NavierStokes().mesh_residual(data)
    assert residual.shape == (5, data.num_nodes, 3)
    assert residual.dtype == torch.float64
    ops = MeshOperators.from_data(data)
    reference = NavierStokes(Re=50.0).mesh_residual(ops, data.fields, times=data.times)
    torch.testing.assert_close(residual, reference)
    # an explicit condition wins over the graph's
    assert not torch.allclose(NavierStokes().mesh_residual(data, cond={"Re": 5.0}), residual)


def test_steady_poisson_on_node_values() -> None:
    pde = Poisson(source=analytic.manufactured_poisson_source)
    errors = []
    for h in (0.1, 0.05, 0.025):
        pos, triangles = rectangle(h)
        pos = torch.from_numpy(pos)
        ops = MeshOperators(pos, cells={"triangle": torch.from_numpy(triangles)})
        residual = pde.mesh_residual(ops, analytic.manufactured_poisson(pos))
        assert residual.shape == (len(pos), 1)
        errors.append(residual.abs().max().item())
    assert errors[0] > errors[1] > errors[2], errors


def test_mesh_residual_errors() -> None:
    pos, triangles = rectangle(0.2)
    ops = MeshOperators(torch.from_numpy(pos), cells={"triangle": torch.from_numpy(triangles)})
    fields = torch.zeros(3, len(pos), 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="need fields \\[T, N, C\\] and their times"):
        Heat(alpha=1.0).mesh_residual(ops, fields)
    with pytest.raises(ValueError, match=r"shape \[T, \d+, 1\]"):
        Heat(alpha=1.0).mesh_residual(ops, fields[:, :5], times=torch.arange(3.0))
    with pytest.raises(ValueError, match="needs node values"):
        Heat(alpha=1.0).mesh_residual(ops)
    with pytest.raises(ValueError, match="at least 3 frames"):
        Heat(alpha=1.0).mesh_residual(ops, fields[:2], times=torch.arange(2.0))
