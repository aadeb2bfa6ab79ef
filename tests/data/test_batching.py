from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from meshfield.data import MeshGraph, mesh_graph, validate
from meshfield.testing.meshes import tiny_meshes


def _graph(name: str, *, steps: int = 2, channels: int = 3) -> MeshGraph:
    pos, cells, _, _ = tiny_meshes()[name]
    n = len(pos)
    fields = torch.arange(steps * n * channels, dtype=torch.float32).reshape(steps, n, channels)
    cell_fields = {t: np.full((steps, len(c), 1), 7.0, dtype=np.float32) for t, c in cells.items()}
    return mesh_graph(
        pos,
        cells,
        fields=fields,
        field_names=["u", "v", "p"][:channels],
        times=np.arange(steps, dtype=np.float32),
        cell_fields=cell_fields,
        cell_field_names=["q"],
        cond={"Re": 100.0, "Ma": 0.1},
    )


def test_mesh_graph_is_pyg_data() -> None:
    graph = _graph("two_triangles")
    assert isinstance(graph, Data)
    assert graph.num_nodes == 4
    assert graph.num_cells == 2
    assert "MeshGraph(" in repr(graph)


def test_batch_increments_cells_like_edge_index() -> None:
    first, second = _graph("tri_quad"), _graph("tri_quad")
    second.pos = second.pos + 10.0  # apart, so no duplicate points
    batch = Batch.from_data_list([first, second])
    offset = first.num_nodes
    for cell_type in first.cells:
        expected = torch.cat([first.cells[cell_type], second.cells[cell_type] + offset])
        assert torch.equal(batch.cells[cell_type], expected)
    assert torch.equal(
        batch.edge_index, torch.cat([first.edge_index, second.edge_index + offset], dim=1)
    )
    assert validate(Data(pos=batch.pos, cells=batch.cells, edge_index=batch.edge_index)) == []


def test_batch_of_different_meshes_with_same_cell_types() -> None:
    small, large = _graph("two_triangles"), _graph("triangle_fan")
    batch = Batch.from_data_list([small, large])
    assert batch.cells["triangle"].shape == (6, 3)
    assert batch.cells["triangle"][2:].min() == 4
    assert batch.cells["triangle"].max() == 8
    assert batch.batch.tolist() == [0] * 4 + [1] * 5


def test_batch_concatenates_node_and_cell_data_without_incrementing() -> None:
    first, second = _graph("two_triangles"), _graph("triangle_fan")
    batch = Batch.from_data_list([first, second])
    assert batch.fields.shape == (2, 9, 3)  # along nodes, dim 1
    assert torch.equal(batch.fields[:, 4:], second.fields)
    assert batch.cell_fields["triangle"].shape == (2, 6, 1)  # along cells, dim 1
    assert bool((batch.cell_fields["triangle"] == 7.0).all())
    assert batch.boundary.shape == (9,)
    assert batch.times.shape == (2, 2)  # stacked, one row per graph
    assert batch.cond.shape == (2, 2)


def test_batch_keeps_name_lists_per_graph() -> None:
    batch = Batch.from_data_list([_graph("two_triangles"), _graph("two_triangles")])
    assert batch.field_names == [["u", "v", "p"], ["u", "v", "p"]]
    assert batch.cond_names == [["Re", "Ma"], ["Re", "Ma"]]
    assert batch.boundary_names == [["interior", "boundary"]] * 2


def test_batch_splits_back_into_the_original_graphs() -> None:
    graphs = [_graph("hex_pyramid"), _graph("hex_pyramid")]
    for original, restored in zip(graphs, Batch.from_data_list(graphs).to_data_list()):
        for cell_type, conn in original.cells.items():
            assert torch.equal(restored.cells[cell_type], conn)
            assert torch.equal(restored.cell_fields[cell_type], original.cell_fields[cell_type])
        assert torch.equal(restored.fields, original.fields)
        assert torch.equal(restored.times, original.times)
        assert torch.equal(restored.edge_index, original.edge_index)
        assert restored.field_names == original.field_names


def test_dataloader_batches_meshes() -> None:
    graphs = [_graph("quad_grid_2x2", steps=1, channels=1) for _ in range(3)]
    (batch,) = list(DataLoader(graphs, batch_size=3))
    assert batch.num_graphs == 3
    assert batch.cells["quad"].max() == 26
