"""Query points in the cells and on the boundary groups of a mesh."""

from __future__ import annotations

import math

import pytest
import torch

from meshfield.data import mesh_graph
from meshfield.physics.sampling import MeshSampler, sample_boundary, sample_domain


@pytest.fixture(scope="module")
def plate():
    from meshfield.cases.heat_plate import plate_mesh

    return plate_mesh(size=0.25, hole_size=0.12)


def _holes() -> list[tuple[float, float, float]]:
    return [(0.6, 0.55, 0.2), (1.35, 0.4, 0.15)]


def test_domain_points_are_inside_the_plate_and_out_of_the_holes(plate) -> None:
    sample = sample_domain(plate, 2000, generator=torch.Generator().manual_seed(0))
    p = sample.points.double()
    assert p.shape == (2000, 2)
    assert (p[:, 0] >= 0).all() and (p[:, 0] <= 2).all()
    assert (p[:, 1] >= 0).all() and (p[:, 1] <= 1).all()
    for x, y, r in _holes():
        # the meshed hole is a polygon inscribed in the circle: its edges (about 0.12 long)
        # cut at most a sagitta of 0.01 into the circle
        assert ((p.float() - torch.tensor([x, y])).norm(dim=1) > r - 0.015).all()
    # barycentric weights reproduce the points from their simplex
    assert torch.allclose(sample.interpolate(plate.pos.double()), p, atol=1e-6)
    assert (sample.weights >= 0).all()
    assert torch.allclose(sample.weights.sum(-1), torch.ones(2000))


def test_domain_points_are_uniform(plate) -> None:
    sampler = MeshSampler(plate)
    area = 2.0 - math.pi * (0.2**2 + 0.15**2)
    assert float(sampler.volume.sum()) == pytest.approx(area, rel=3e-2)
    p = sampler.domain(20000, generator=torch.Generator().manual_seed(1)).points
    # the left quarter of the plate holds no hole: its share of the points is its share of area
    share = float((p[:, 0] < 0.35).double().mean())
    assert share == pytest.approx(0.35 / float(sampler.volume.sum()), rel=0.06)


@pytest.mark.parametrize("group", ["left", "holes", "right", "bottom", "top"])
def test_boundary_points_lie_on_their_group(plate, group) -> None:
    sample = sample_boundary(plate, 500, groups=[group], generator=torch.Generator().manual_seed(2))
    p = sample.points.double()
    tag = plate.boundary_names.index(group)
    assert (sample.group == tag).all()
    # both nodes of every facet carry the group, or one is a corner of the left edge
    if group == "left":
        torch.testing.assert_close(p[:, 0], torch.zeros(500, dtype=torch.float64), atol=1e-7, rtol=0)
    elif group == "right":
        torch.testing.assert_close(p[:, 0], torch.full((500,), 2.0, dtype=torch.float64), atol=1e-6, rtol=0)
    elif group == "bottom":
        torch.testing.assert_close(p[:, 1], torch.zeros(500, dtype=torch.float64), atol=1e-7, rtol=0)
    elif group == "top":
        torch.testing.assert_close(p[:, 1], torch.ones(500, dtype=torch.float64), atol=1e-6, rtol=0)
    else:
        distance = torch.stack(
            [((p.float() - torch.tensor([x, y])).norm(dim=1) - r).abs() for x, y, r in _holes()]
        ).min(0).values
        assert (distance < 0.015).all()  # on a chord of one of the circles


def test_boundary_facets_close_the_outline(plate) -> None:
    sampler = MeshSampler(plate)
    length = sampler.facet_size.sum()
    perimeter = 2 * (2.0 + 1.0) + 2 * math.pi * (0.2 + 0.15)
    assert float(length) == pytest.approx(perimeter, rel=3e-2)


def test_quads_tetra_and_errors() -> None:
    square = mesh_graph(
        [[0, 0], [1, 0], [1, 1], [0, 1]], {"quad": [[0, 1, 2, 3]]}, boundary=[1, 1, 2, 2]
    )
    sampler = MeshSampler(square)
    assert sampler.simplices.shape == (2, 3)
    assert float(sampler.volume.sum()) == pytest.approx(1.0)
    assert sampler.facets.shape == (4, 2)
    tet = mesh_graph([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], {"tetra": [[0, 1, 2, 3]]})
    points = MeshSampler(tet).domain(100, generator=torch.Generator().manual_seed(0)).points
    assert (points >= 0).all() and (points.sum(1) <= 1 + 1e-6).all()
    with pytest.raises(ValueError, match="Unknown boundary group"):
        sampler.boundary(4, groups=["inlet"])
    line = mesh_graph([[0.0, 0.0], [1.0, 0.0]], {"line": [[0, 1]]})
    with pytest.raises(ValueError, match="No sampleable cells"):
        MeshSampler(line)
