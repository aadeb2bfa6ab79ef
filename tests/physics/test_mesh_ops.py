"""Discrete mesh operators: exactness on polynomials, cell types, and convergence on gmsh meshes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from meshfield.physics import MeshOperators

from physics_meshes import rectangle

SIZES = (0.1, 0.05, 0.025, 0.0125)


def _field(pos: torch.Tensor) -> torch.Tensor:
    return torch.sin(2 * pos[:, 0] + 0.5) * torch.cos(3 * pos[:, 1] - 0.2)


def _gradient(pos: torch.Tensor) -> torch.Tensor:
    a, b = 2 * pos[:, 0] + 0.5, 3 * pos[:, 1] - 0.2
    return torch.stack([2 * torch.cos(a) * torch.cos(b), -3 * torch.sin(a) * torch.sin(b)], 1)


def _orders(sizes, errors) -> list[float]:
    return [
        math.log(errors[i - 1] / errors[i]) / math.log(sizes[i - 1] / sizes[i])
        for i in range(1, len(errors))
    ]


def _table(title: str, sizes, nodes, columns: dict[str, list[float]]) -> str:
    lines = [title, "h        N      " + "  ".join(f"{k:>22}" for k in columns)]
    for i, h in enumerate(sizes):
        cells = []
        for errors in columns.values():
            order = "" if i == 0 else f"({_orders(sizes, errors)[i - 1]:.2f})"
            cells.append(f"{errors[i]:.3e} {order:>8}")
        lines.append(f"{h:<8} {nodes[i]:<6} " + "  ".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def _square(h: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    pos, triangles = rectangle(h)
    return torch.from_numpy(pos), {"triangle": torch.from_numpy(triangles)}


def _away_from_boundary(pos: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    return ((pos > margin) & (pos < 1 - margin)).all(1)


@pytest.fixture(scope="module")
def convergence() -> dict[str, dict[str, list[float]]]:
    """Errors of every operator on the gmsh meshes of SIZES (computed once)."""
    out: dict[str, dict[str, list[float]]] = {}
    nodes = []
    for h in SIZES:
        pos, cells = _square(h)
        nodes.append(pos.shape[0])
        u = _field(pos)[:, None]
        far = _away_from_boundary(pos)
        # two builds per level: (lsq gradient, lsq2 Laplacian) and (lsq2 gradient, fem Laplacian)
        lsq = MeshOperators(pos, cells=cells, gradient="lsq", laplacian="lsq2")
        fem = MeshOperators(pos, cells=cells, gradient="lsq2", laplacian="fem")
        for method, ops in (("lsq", lsq), ("lsq2", fem)):
            error = (ops.grad(u)[:, 0] - _gradient(pos)).norm(dim=1)
            table = out.setdefault(f"gradient {method}", {})
            table.setdefault("interior rms", []).append(error[far].pow(2).mean().sqrt().item())
            table.setdefault("interior max", []).append(error[far].max().item())
            table.setdefault("all nodes max", []).append(error.max().item())
        error = (lsq.laplacian(u)[:, 0] + 13 * _field(pos)).abs()
        table = out.setdefault("laplacian lsq2", {})
        table.setdefault("interior rms", []).append(error[far].pow(2).mean().sqrt().item())
        table.setdefault("interior max", []).append(error[far].max().item())
        table.setdefault("all nodes max", []).append(error.max().item())
        # weak form: sum_i M_i (L u - Lap u)_i phi_i against a bump vanishing near the boundary
        x, y = pos[:, 0], pos[:, 1]
        bump = (torch.sin(math.pi * x) * torch.sin(math.pi * y)) ** 2
        residual = fem.laplacian(u)[:, 0] + 13 * _field(pos)
        weak = (fem.mass * residual * bump * fem.interior).sum().abs().item()
        pointwise = residual[far].abs().max().item()
        table = out.setdefault("laplacian fem", {})
        table.setdefault("weak (bump)", []).append(weak)
        table.setdefault("interior max", []).append(pointwise)
    out["nodes"] = {"N": nodes}
    return out


def _report(convergence, key: str) -> str:
    return _table(key, SIZES, convergence["nodes"]["N"], convergence[key])


@pytest.mark.slow
def test_lsq2_gradient_is_second_order_everywhere(convergence) -> None:
    text = _report(convergence, "gradient lsq2")
    print(text)
    for column in ("interior rms", "interior max", "all nodes max"):
        orders = _orders(SIZES, convergence["gradient lsq2"][column])
        assert min(orders) > 1.8, f"{column}: orders {orders}\n{text}"


@pytest.mark.slow
def test_lsq_gradient_second_order_interior_first_order_boundary(convergence) -> None:
    text = _report(convergence, "gradient lsq")
    print(text)
    table = convergence["gradient lsq"]
    rms = _orders(SIZES, table["interior rms"])
    assert min(rms) > 1.5, f"interior rms orders {rms}\n{text}"
    full = _orders(SIZES, table["all nodes max"])
    assert min(full) > 0.85, f"all nodes max orders {full}\n{text}"
    # pointwise interior errors converge as well, at an erratic rate (mesh irregularities)
    overall = math.log(table["interior max"][0] / table["interior max"][-1]) / math.log(
        SIZES[0] / SIZES[-1]
    )
    assert overall > 1.5, f"interior max overall order {overall}\n{text}"


@pytest.mark.slow
def test_lsq2_laplacian_converges_including_boundary(convergence) -> None:
    text = _report(convergence, "laplacian lsq2")
    print(text)
    table = convergence["laplacian lsq2"]
    assert min(_orders(SIZES, table["interior rms"])) > 1.5, text
    assert min(_orders(SIZES, table["all nodes max"])) > 0.9, text
    assert min(_orders(SIZES, table["interior max"])) > 1.0, text


@pytest.mark.slow
def test_fem_laplacian_converges_weakly_not_pointwise(convergence) -> None:
    text = _report(convergence, "laplacian fem")
    print(text)
    table = convergence["laplacian fem"]
    weak = table["weak (bump)"]
    overall = math.log(weak[0] / weak[-1]) / math.log(SIZES[0] / SIZES[-1])
    assert overall > 1.5, text
    assert min(_orders(SIZES[1:], weak[1:])) > 1.8, text
    # the pointwise column is printed, not asserted: it follows the mesh's irregularities


@pytest.mark.parametrize("method", ["lsq", "lsq2"])
def test_gradient_exact_for_linear_fields(method: str) -> None:
    pos, cells = _square(0.1)
    ops = MeshOperators(pos, cells=cells, gradient=method)
    u = torch.stack([3 * pos[:, 0] - 2 * pos[:, 1] + 1, pos[:, 1]], 1)
    expected = torch.tensor([[3.0, -2.0], [0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(ops.grad(u), expected.expand(len(pos), 2, 2))
    torch.testing.assert_close(ops.divergence(u), torch.full((len(pos),), 4.0, dtype=torch.float64))


def test_quadratic_fit_exact_for_quadratic_fields() -> None:
    pos, cells = _square(0.1)
    ops = MeshOperators(pos, cells=cells)
    x, y = pos[:, 0], pos[:, 1]
    u = (x**2 - 3 * x * y + 2 * y**2 + x)[:, None]
    torch.testing.assert_close(
        ops.grad(u)[:, 0], torch.stack([2 * x - 3 * y + 1, -3 * x + 4 * y], 1)
    )
    torch.testing.assert_close(ops.laplacian(u)[:, 0], torch.full_like(x, 6.0))
    hessian = torch.tensor([[2.0, -3.0], [-3.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(ops.hessian(u)[:, 0], hessian.expand(len(pos), 2, 2))


def test_fem_laplacian_exact_for_quadratics_on_a_regular_grid() -> None:
    n = 9
    grid = torch.linspace(0, 1, n, dtype=torch.float64)
    pos = torch.cartesian_prod(grid, grid)[:, [1, 0]]
    idx = torch.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    quads = torch.stack([a, b, c, d], -1).reshape(-1, 4)
    ops = MeshOperators(pos, cells={"quad": quads}, laplacian="fem")
    u = (pos**2).sum(1, keepdim=True)
    torch.testing.assert_close(
        ops.laplacian(u)[ops.interior, 0], torch.full((49,), 4.0, dtype=torch.float64)
    )
    assert int(ops.interior.sum()) == (n - 2) ** 2


def test_three_dimensional_tetra_mesh() -> None:
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 6)] * 3, indexing="ij"), -1).reshape(-1, 3)
    grid = grid + rng.uniform(-0.03, 0.03, grid.shape) * ((grid > 0) & (grid < 1))
    tetra = Delaunay(grid).simplices
    pos = torch.from_numpy(grid)
    ops = MeshOperators(pos, cells={"tetra": torch.from_numpy(tetra)}, laplacian="fem")
    x, y, z = pos.unbind(1)
    u = torch.stack([x - 2 * y + 3 * z, x**2 + y * z - z**2], 1)
    g = ops.grad(u)
    torch.testing.assert_close(
        g[:, 0], torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64).expand(len(pos), 3)
    )
    torch.testing.assert_close(g[:, 1], torch.stack([2 * x, z, y - 2 * z], 1))
    # the P1 Laplacian annihilates linear fields at interior nodes
    torch.testing.assert_close(
        ops.laplacian(u[:, :1])[ops.interior],
        torch.zeros(int(ops.interior.sum()), 1, dtype=torch.float64),
    )
    # the least-squares Laplacian of the quadratic is exact everywhere
    lsq = MeshOperators(pos, cells={"tetra": torch.from_numpy(tetra)})
    torch.testing.assert_close(
        lsq.laplacian(u[:, 1:])[:, 0], torch.zeros(len(pos), dtype=torch.float64)
    )


def test_edges_only_mesh_and_leading_axes() -> None:
    pos, cells = _square(0.1)
    with_cells = MeshOperators(pos, cells=cells)
    edges_only = MeshOperators(pos, edge_index=with_cells.edge_index)
    values = torch.randn(4, 2, len(pos), 3, dtype=torch.float64)
    torch.testing.assert_close(edges_only.grad(values), with_cells.grad(values))
    assert edges_only.laplacian(values).shape == (4, 2, len(pos), 3)
    with pytest.raises(ValueError, match="'fem' Laplacian needs"):
        MeshOperators(pos, edge_index=with_cells.edge_index, laplacian="fem")


def test_operators_are_differentiable() -> None:
    pos, cells = _square(0.3)
    ops = MeshOperators(pos, cells=cells)
    u = torch.randn(len(pos), 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: ops.laplacian(v), (u,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda v: ops.grad(v), (u,), fast_mode=True)


def test_from_mesh_graph() -> None:
    from meshfield.data import mesh_graph

    pos, triangles = rectangle(0.1)
    data = mesh_graph(pos, {"triangle": triangles})
    ops = MeshOperators.from_data(data)
    assert ops.pos.dtype == torch.float64
    assert ops.num_nodes == data.num_nodes
    assert torch.equal(ops.interior, data.boundary == 0)
    assert "MeshOperators(num_nodes=" in repr(ops)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pos": torch.zeros(4)}, r"shape \[N, 2\] or \[N, 3\]"),
        ({"pos": torch.zeros(3, 2)}, "needs 'edge_index' or 'cells'"),
        (
            {"pos": torch.zeros(3, 2), "edge_index": torch.zeros(3, 2, dtype=torch.long)},
            r"\[2, E\]",
        ),
        (
            {
                "pos": torch.zeros(3, 2),
                "edge_index": torch.zeros(2, 1, dtype=torch.long),
                "gradient": "fd",
            },
            "'gradient'",
        ),
    ],
)
def test_bad_input(kwargs, match: str) -> None:
    pos = kwargs.pop("pos")
    with pytest.raises(ValueError, match=match):
        MeshOperators(pos, **kwargs)


def test_bad_values_shape() -> None:
    pos, cells = _square(0.1)
    ops = MeshOperators(pos, cells=cells)
    with pytest.raises(ValueError, match=r"shape \[\.\.\., \d+, C\]"):
        ops.grad(torch.zeros(3, 1, dtype=torch.float64))
