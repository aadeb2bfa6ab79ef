from __future__ import annotations

import pytest
import torch
from pyvista import examples

from meshfield.serialize import (
    CURVES,
    edge_span,
    mean_edge_span,
    neighbor_window_fraction,
    serialize,
)

WINDOWS = (1, 4, 16)


def locality_table(pos: torch.Tensor, edges: torch.Tensor) -> dict[str, dict[str, float]]:
    orders = {curve: serialize(pos, curve=curve).order for curve in CURVES}
    orders["random"] = torch.randperm(pos.shape[0], generator=torch.Generator().manual_seed(0))
    table = {}
    for name, order in orders.items():
        row = {f"w{w}": neighbor_window_fraction(edges, order, w) for w in WINDOWS}
        row["span"] = mean_edge_span(edges, order)
        table[name] = row
    return table


def describe(table: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in row.items())
        for name, row in table.items()
    )


def assert_hilbert_beats_z_and_random(table: dict[str, dict[str, float]]) -> None:
    # The measure: fraction of mesh edges whose endpoints are at most w sequence steps apart.
    for w in WINDOWS:
        key = f"w{w}"
        worst_hilbert = min(table["hilbert"][key], table["hilbert-trans"][key])
        best_z = max(table["z"][key], table["z-trans"][key])
        assert worst_hilbert > best_z > 5 * table["random"][key], describe(table)


def test_measures_on_a_path() -> None:
    edges = torch.tensor([[0, 1, 2], [1, 2, 3]])
    order = torch.tensor([0, 2, 1, 3])  # positions: 0->0, 1->2, 2->1, 3->3
    assert edge_span(edges, order).tolist() == [2, 1, 2]
    assert mean_edge_span(edges, order) == pytest.approx(5 / 3)
    assert neighbor_window_fraction(edges, order, 1) == pytest.approx(1 / 3)
    assert neighbor_window_fraction(edges, order, 2) == 1.0
    # both directions stored: same averages
    both = torch.cat([edges, edges.flip(0)], dim=1)
    assert mean_edge_span(both, order) == pytest.approx(5 / 3)


def test_measure_errors() -> None:
    order = torch.arange(3)
    with pytest.raises(ValueError, match="window"):
        neighbor_window_fraction(torch.tensor([[0], [1]]), order, 0)
    with pytest.raises(ValueError, match=r"\[2, num_edges\]"):
        mean_edge_span(torch.tensor([0, 1]), order)
    with pytest.raises(ValueError, match="outside"):
        mean_edge_span(torch.tensor([[0], [3]]), order)
    with pytest.raises(ValueError, match="permutation"):
        mean_edge_span(torch.tensor([[0], [1]]), torch.tensor([0, 0, 1]))


def test_hilbert_beats_z_on_a_2d_triangle_mesh() -> None:
    from sfc_meshes import plate_with_hole

    pos, edges = plate_with_hole()
    assert 4000 < pos.shape[0] < 20000
    assert_hilbert_beats_z_and_random(locality_table(pos, edges))


def test_hilbert_beats_z_on_a_3d_tetrahedral_mesh() -> None:
    from sfc_meshes import box_with_cavity

    pos, edges = box_with_cavity()
    assert pos.shape[0] > 1000
    assert_hilbert_beats_z_and_random(locality_table(pos, edges))


def test_curves_beat_random_on_a_surface_mesh() -> None:
    # On this small surface mesh (1335 nodes) Hilbert and Z-order are on par: each wins at
    # some windows. Both keep far more edges local than a random order.
    from sfc_meshes import unique_edges

    mesh = examples.load_airplane()
    pos = torch.from_numpy(mesh.points.astype("float64"))
    table = locality_table(pos, unique_edges(mesh.regular_faces))
    for curve in CURVES:
        assert table[curve]["w16"] > 10 * table["random"]["w16"], describe(table)
        assert table[curve]["span"] < table["random"]["span"] / 5, describe(table)
