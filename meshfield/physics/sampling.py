r"""Query points inside a mesh and on its boundary groups, with their interpolation weights.

Physics-informed losses evaluate a field at points that are not mesh nodes. :class:`MeshSampler`
draws them

* **in the domain**: a cell is chosen with probability proportional to its volume (area in 2D),
  then a point uniformly inside it, by barycentric coordinates
  :math:`\lambda \sim \mathrm{Dirichlet}(1, \dots, 1)`, :math:`\mathbf q = \sum_i \lambda_i
  \mathbf x_i`: the points are uniform over the meshed domain and never fall in a hole;
* **on the boundary**: a boundary facet (an edge in 2D, a triangle in 3D: a facet of exactly
  one cell) of the chosen groups is picked with probability proportional to its size, then a
  point uniformly on it.

Every sample keeps the nodes and barycentric weights of its simplex, so node values interpolate
linearly (P1) at the points (:meth:`PointSample.interpolate`). Quads are split into two
triangles; triangles, quads and tetrahedra are supported.

A boundary facet belongs to the group most of its nodes carry; on a tie (an edge from a corner
node, which takes the group with the smallest id, to a node of the next side) the larger group
id wins, so the edge belongs to the side it lies on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["MeshSampler", "PointSample", "sample_boundary", "sample_domain"]

# cell type -> its simplices as local node numbers
_SIMPLICES: dict[str, tuple[tuple[int, ...], ...]] = {
    "triangle": ((0, 1, 2),),
    "quad": ((0, 1, 2), (0, 2, 3)),
    "tetra": ((0, 1, 2, 3),),
}
_IGNORED = ("vertex", "line")


class PointSample(NamedTuple):
    """Points drawn by a :class:`MeshSampler`, with what interpolates node values at them."""

    #: ``[Q, d]`` physical coordinates
    points: Tensor
    #: ``[Q, m]`` node ids of the simplex (domain, ``m = d + 1``) or facet (boundary, ``m = d``)
    nodes: Tensor
    #: ``[Q, m]`` barycentric weights (non-negative, summing to one)
    weights: Tensor
    #: ``[Q]`` boundary group of each point (0 for domain points)
    group: Tensor

    def interpolate(self, values: Tensor) -> Tensor:
        """Linear (P1) interpolation of node values ``[..., N, C]`` -> ``[..., Q, C]``."""
        gathered = values[..., self.nodes, :]  # [..., Q, m, C]
        weights = self.weights.to(values.dtype).unsqueeze(-1)
        return (gathered * weights).sum(-2)


def _simplex_size(corners: Tensor) -> Tensor:
    """Volume of ``k``-simplices ``[S, k + 1, d]`` (length, area, volume), any ``d >= k``."""
    edges = corners[:, 1:] - corners[:, :1]  # [S, k, d]
    k = edges.shape[1]
    gram = edges @ edges.transpose(1, 2)
    return torch.linalg.det(gram).clamp(min=0).sqrt() / math.factorial(k)


class MeshSampler:
    r"""Draws query points in a mesh's cells and on its boundary groups.

    Parameters
    ----------
    mesh : MeshGraph
        Needs ``pos [N, d]`` and ``cells`` (triangles, quads or tetrahedra; ``line`` and
        ``vertex`` cells are ignored); ``boundary [N]`` and ``boundary_names`` for boundary
        samples.

    Attributes
    ----------
    simplices : Tensor
        ``[S, d + 1]`` node ids of the simplices the cells split into.
    facets : Tensor
        ``[F, d]`` node ids of the boundary facets.
    facet_group : Tensor
        ``[F]`` boundary group of each facet.
    tags : Tensor
        ``[N]`` boundary tag of every node.

    Example
    -------
    >>> from meshfield.cases.heat_plate import plate_mesh        # doctest: +SKIP
    >>> sampler = MeshSampler(plate_mesh(size=0.2))               # doctest: +SKIP
    >>> inside = sampler.domain(256, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    >>> left = sampler.boundary(32, groups=["left"])              # doctest: +SKIP
    """

    def __init__(self, mesh: Any) -> None:
        pos = getattr(mesh, "pos", None)
        if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.size(1) not in (2, 3):
            got = list(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
            msg = f"Expected 'pos' tensor with shape [num_nodes, 2 or 3] (got {got})"
            raise ValueError(msg)
        cells = getattr(mesh, "cells", None)
        if not cells:
            msg = "Sampling in a mesh needs its 'cells' (triangles, quads or tetrahedra)"
            raise ValueError(msg)
        self.pos = pos.detach()
        self.dim = pos.size(1)
        parts = []
        for cell_type, connectivity in cells.items():
            if cell_type in _IGNORED:
                continue
            if cell_type not in _SIMPLICES:
                msg = (
                    f"Cannot sample in {cell_type!r} cells (supported: {sorted(_SIMPLICES)})"
                )
                raise ValueError(msg)
            connectivity = torch.as_tensor(connectivity, dtype=torch.long, device=pos.device)
            for local in _SIMPLICES[cell_type]:
                parts.append(connectivity[:, list(local)])
        if not parts:
            msg = f"No sampleable cells in the mesh (got {sorted(cells)})"
            raise ValueError(msg)
        simplices = torch.cat(parts)
        if simplices.size(1) != self.dim + 1:
            msg = (
                f"Cells of dimension {simplices.size(1) - 1} in a {self.dim}D mesh: sampling "
                "needs cells of the mesh's dimension"
            )
            raise ValueError(msg)
        self.simplices = simplices
        self.volume = _simplex_size(self.pos.double()[simplices]).to(pos.dtype)

        boundary = getattr(mesh, "boundary", None)
        if boundary is None:
            boundary = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
        self.tags = boundary.long()
        self.group_names = list(getattr(mesh, "boundary_names", None) or [])
        self.facets, self.facet_group = self._boundary_facets()
        self.facet_size = _simplex_size(self.pos.double()[self.facets]).to(pos.dtype)

    def _boundary_facets(self) -> tuple[Tensor, Tensor]:
        m = self.dim + 1
        faces = torch.cat(
            [self.simplices[:, [j for j in range(m) if j != skip]] for skip in range(m)]
        )
        key, _ = faces.sort(dim=1)
        _, inverse, counts = torch.unique(
            key, dim=0, return_inverse=True, return_counts=True
        )
        once = counts[inverse] == 1
        facets = faces[once]
        tags = self.tags[facets]  # [F, d]
        # the most frequent tag of the facet's nodes, ties to the larger id
        num_tags = int(self.tags.max()) + 1 if self.tags.numel() else 1
        votes = torch.zeros(facets.size(0), num_tags, dtype=torch.long, device=facets.device)
        votes.scatter_add_(1, tags, torch.ones_like(tags))
        ranked = votes * (num_tags + 1) + torch.arange(num_tags, device=facets.device)
        group = ranked.argmax(dim=1)
        return facets, group

    def group_ids(self, groups: Sequence[str | int] | None) -> list[int]:
        """Group ids of names (or ids); ``None``: every group with a boundary facet."""
        if groups is None:
            return sorted(set(self.facet_group.tolist()) - {0})
        ids = []
        for group in groups:
            if isinstance(group, str):
                if group not in self.group_names:
                    msg = f"Unknown boundary group {group!r}; the mesh has {self.group_names}"
                    raise ValueError(msg)
                ids.append(self.group_names.index(group))
            else:
                ids.append(int(group))
        return ids

    def domain(self, num_points: int, *, generator: torch.Generator | None = None) -> PointSample:
        """``num_points`` points uniform in the meshed domain.

        Parameters
        ----------
        num_points : int
            How many points.
        generator : torch.Generator, optional
            Source of randomness (CPU). default: torch's global one.

        Returns
        -------
        PointSample
            ``nodes``/``weights`` ``[Q, d + 1]``, ``group`` zeros.
        """
        picked = torch.multinomial(
            self.volume.double().cpu(), num_points, replacement=True, generator=generator
        ).to(self.pos.device)
        weights = self._barycentric(num_points, self.dim + 1, generator)
        nodes = self.simplices[picked]
        points = (self.pos[nodes] * weights.unsqueeze(-1)).sum(1)
        group = torch.zeros(num_points, dtype=torch.long, device=self.pos.device)
        return PointSample(points, nodes, weights, group)

    def boundary(
        self,
        num_points: int,
        *,
        groups: Sequence[str | int] | None = None,
        generator: torch.Generator | None = None,
    ) -> PointSample:
        """``num_points`` points uniform on the boundary facets of ``groups``.

        Parameters
        ----------
        num_points : int
            How many points.
        groups : sequence of str or int, optional
            Boundary group names (``boundary_names``) or ids. default: every group.
        generator : torch.Generator, optional
            Source of randomness (CPU). default: torch's global one.

        Returns
        -------
        PointSample
            ``nodes``/``weights`` ``[Q, d]`` (the facet), ``group`` the facet's group.
        """
        ids = self.group_ids(groups)
        mask = torch.isin(self.facet_group, torch.tensor(ids, device=self.facet_group.device))
        if not bool(mask.any()):
            names = [self.group_names[i] if i < len(self.group_names) else i for i in ids]
            msg = f"No boundary facets in the groups {names}"
            raise ValueError(msg)
        candidates = mask.nonzero().squeeze(1)
        sizes = self.facet_size[candidates].double().cpu()
        picked = candidates[
            torch.multinomial(sizes, num_points, replacement=True, generator=generator).to(
                candidates.device
            )
        ]
        weights = self._barycentric(num_points, self.dim, generator)
        nodes = self.facets[picked]
        points = (self.pos[nodes] * weights.unsqueeze(-1)).sum(1)
        return PointSample(points, nodes, weights, self.facet_group[picked])

    def _barycentric(
        self, num_points: int, corners: int, generator: torch.Generator | None
    ) -> Tensor:
        # normalized exponentials are Dirichlet(1, ..., 1): uniform in the simplex
        uniform = torch.rand(num_points, corners, generator=generator, dtype=torch.float64)
        exponential = -torch.log1p(-uniform)
        weights = exponential / exponential.sum(-1, keepdim=True)
        return weights.to(dtype=self.pos.dtype, device=self.pos.device)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(dim={self.dim}, simplices={self.simplices.size(0)}, "
            f"boundary_facets={self.facets.size(0)})"
        )


def sample_domain(
    mesh: Any, num_points: int, *, generator: torch.Generator | None = None
) -> PointSample:
    """``num_points`` points uniform in a mesh's cells (:meth:`MeshSampler.domain`)."""
    return MeshSampler(mesh).domain(num_points, generator=generator)


def sample_boundary(
    mesh: Any,
    num_points: int,
    *,
    groups: Sequence[str | int] | None = None,
    generator: torch.Generator | None = None,
) -> PointSample:
    """``num_points`` points on a mesh's boundary groups (:meth:`MeshSampler.boundary`)."""
    return MeshSampler(mesh).boundary(num_points, groups=groups, generator=generator)
