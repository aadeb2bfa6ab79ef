r"""Discrete derivative operators on a mesh: least-squares gradients and a P1 Laplacian.

These operators work on node values alone, so they measure PDE residuals of data that has no
network behind it (a CFD reference, a model's node output). They are built once per mesh as
sparse matrices (:class:`MeshOperators`) and applied to any number of frames and channels.

Gradient: weighted least squares over node neighbourhoods
---------------------------------------------------------
At node :math:`i` with neighbours :math:`j \in \mathcal N(i)`, :math:`\delta_{ij} = x_j - x_i`,
the gradient (and, for the quadratic fit, the Hessian) minimize

.. math::
    \sum_{j \in \mathcal N(i)} w_{ij} \Big( u_j - u_i - g_i \cdot \delta_{ij}
    - \tfrac12 \delta_{ij}^\top H_i \delta_{ij} \Big)^2,
    \qquad w_{ij} = \frac{h_i^2}{|\delta_{ij}|^2},

with :math:`h_i` the mean neighbour distance (the fit is solved in coordinates scaled by
:math:`h_i`, which keeps the normal equations well conditioned at every mesh size). The
coefficients only depend on the geometry, so each derivative is one sparse matrix.

* ``"lsq2"`` (default): quadratic fit over the 2-ring (nodes within two edges). Exact for
  quadratic fields; second-order gradients on any mesh, boundary nodes included.
* ``"lsq"``: linear fit (no :math:`H_i`) over the 1-ring. Exact for linear fields; second
  order (in a root-mean-square sense) in the interior of a quasi-uniform mesh, where
  neighbourhoods are nearly symmetric, but only first order at the boundary and wherever
  the neighbourhood is lopsided.

Only edges are needed, so both work for every cell type, in 2D and 3D.

Laplacian
---------
* ``"lsq2"`` (default): the trace of the quadratic-fit Hessian. Consistent at every node of
  any mesh: first order in the maximum norm including the boundary, about second order in
  the interior on quasi-uniform meshes (measured in ``tests/physics``).
* ``"fem"``: the P1 finite-element stiffness matrix :math:`K_{ij} = \int \nabla\phi_i \cdot
  \nabla\phi_j` with the lumped (row-sum) mass :math:`M`, :math:`\Delta u \approx
  -M^{-1} K u`, on triangles or tetrahedra (quads and polygons split into triangles). It is
  conservative and converges in the weak sense (:math:`\sum_i M_i e_i \varphi_i \to 0` at
  second order for smooth test functions :math:`\varphi`), but *pointwise* it is only
  consistent on regular meshes: on unstructured triangles its nodal error does not go to zero
  where the mesh is irregular. Use it for weak-form or energy quantities, not for pointwise
  residual maps. At a boundary node the FEM row carries the boundary flux rather than a
  Laplacian, so boundary rows are taken from ``"lsq2"``.

References
----------
T. J. Barth, "A 3-D upwind Euler solver for unstructured meshes", AIAA 91-1548 (1991)
(least-squares gradient reconstruction).
G. Dziuk and C. M. Elliott, "Finite element methods for surface PDEs", Acta Numerica 22 (2013)
(P1 stiffness and lumped mass).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import scatter

__all__ = ["MeshOperators"]

GradientMethod = Literal["lsq", "lsq2"]
LaplacianMethod = Literal["lsq2", "fem"]

_SIMPLEX = {2: "triangle", 3: "tetra"}
_SPLIT_2D = {"triangle", "quad"}


def _edges_from_cells(cells: Mapping[str, Tensor | np.ndarray], num_nodes: int) -> Tensor:
    """Undirected edges of polygon/simplex cells (both directions, unique, no self loops)."""
    pairs = []
    for kind, conn in cells.items():
        conn = torch.as_tensor(np.asarray(conn), dtype=torch.long)
        k = conn.shape[1]
        if kind in ("vertex",) or k < 2:
            continue
        if kind == "tetra":
            local = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
        elif kind == "hexahedron":
            local = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4)]
            local += [(0, 4), (1, 5), (2, 6), (3, 7)]
        elif kind == "wedge":
            local = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (0, 3), (1, 4), (2, 5)]
        elif kind == "pyramid":
            local = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 4), (2, 4), (3, 4)]
        elif kind == "line":
            local = [(0, 1)]
        else:  # triangle, quad, polygonK: the ring of the polygon
            local = [(a, (a + 1) % k) for a in range(k)]
        for a, b in local:
            pairs.append(torch.stack([conn[:, a], conn[:, b]]))
    if not pairs:
        msg = "Expected 'cells' with at least one cell that has edges"
        raise ValueError(msg)
    edges = torch.cat(pairs, dim=1)
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    edges = edges[:, edges[0] != edges[1]]
    key = torch.unique(edges[0] * num_nodes + edges[1])
    return torch.stack([key // num_nodes, key % num_nodes])


def _simplices(cells: Mapping[str, Tensor | np.ndarray], dim: int) -> Tensor | None:
    """Triangles (2D, quads and polygons fanned) or tetrahedra (3D); None if some cell is not."""
    parts = []
    for kind, conn in cells.items():
        conn = torch.as_tensor(np.asarray(conn), dtype=torch.long)
        if kind in ("vertex", "line"):
            continue
        if kind == _SIMPLEX[dim]:
            parts.append(conn)
        elif dim == 2 and (kind in _SPLIT_2D or kind.startswith("polygon")):
            k = conn.shape[1]
            parts.extend(conn[:, [0, a, a + 1]] for a in range(1, k - 1))
        else:
            return None
    return torch.cat(parts) if parts else None


def _boundary_from_simplices(simplices: Tensor, num_nodes: int) -> Tensor:
    """Nodes on facets that belong to exactly one simplex."""
    k = simplices.shape[1]
    facets = torch.cat([torch.cat([simplices[:, :a], simplices[:, a + 1 :]], 1) for a in range(k)])
    facets = facets.sort(dim=1).values
    unique, counts = torch.unique(facets, dim=0, return_counts=True)
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[unique[counts == 1].reshape(-1)] = True
    return mask


def _two_ring(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Pairs (i, k), i != k, with k within two edges of i (edges sorted by source)."""
    source, target = edge_index
    degree = torch.bincount(source, minlength=num_nodes)
    start = torch.cumsum(degree, 0) - degree
    # every edge (i, j) followed by every edge (j, k)
    repeats = degree[target]
    first = torch.repeat_interleave(source, repeats)
    offset = torch.arange(int(repeats.sum()), device=source.device)
    offset = offset - torch.repeat_interleave(torch.cumsum(repeats, 0) - repeats, repeats)
    second = target[torch.repeat_interleave(start[target], repeats) + offset]
    rows = torch.cat([source, first])
    cols = torch.cat([target, second])
    key = torch.unique(rows * num_nodes + cols)
    pairs = torch.stack([key // num_nodes, key % num_nodes])
    return pairs[:, pairs[0] != pairs[1]]


def _monomials(scaled: Tensor, degree: int) -> Tensor:
    """Fit basis in scaled offsets: s_a, then s_a^2 / 2 and s_a s_b (a < b) for degree 2."""
    columns = [scaled[:, a] for a in range(scaled.shape[1])]
    if degree == 2:
        d = scaled.shape[1]
        columns += [0.5 * scaled[:, a] ** 2 for a in range(d)]
        columns += [scaled[:, a] * scaled[:, b] for a in range(d) for b in range(a + 1, d)]
    return torch.stack(columns, dim=1)


def _lsq_coefficients(pos: Tensor, pairs: Tensor, degree: int) -> Tensor:
    """Per pair (i, j) the weights of (u_j - u_i) in each fitted derivative, unscaled.

    Returns ``[P, p]``: columns ``d`` gradient components, then (degree 2) ``d`` second
    derivatives ``H_aa`` and ``d (d - 1) / 2`` mixed ``H_ab``.
    """
    num_nodes, d = pos.shape
    rows, cols = pairs
    delta = pos[cols] - pos[rows]
    length = delta.norm(dim=1)
    scale = scatter(length, rows, dim=0, dim_size=num_nodes, reduce="mean")
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    scaled = delta / scale[rows, None]
    weight = 1.0 / (scaled.pow(2).sum(1))
    basis = _monomials(scaled, degree)  # [P, p]
    p = basis.shape[1]
    outer = (weight[:, None, None] * basis[:, :, None] * basis[:, None, :]).reshape(-1, p * p)
    normal = scatter(outer, rows, dim=0, dim_size=num_nodes, reduce="sum").reshape(-1, p, p)
    inverse = torch.linalg.pinv(normal, hermitian=True)
    coeff = torch.einsum("epq,eq->ep", inverse[rows], weight[:, None] * basis)
    power = torch.ones(p, dtype=pos.dtype, device=pos.device)
    power[d:] = 2.0
    return coeff / scale[rows, None] ** power


def _difference_matrix(pairs: Tensor, coeff: Tensor, num_nodes: int) -> Tensor:
    """Sparse matrix of ``sum_j c_ij (u_j - u_i)``."""
    rows = pairs[0]
    diagonal = -scatter(coeff, rows, dim=0, dim_size=num_nodes, reduce="sum")
    nodes = torch.arange(num_nodes, device=coeff.device)
    index = torch.cat([pairs, torch.stack([nodes, nodes])], dim=1)
    values = torch.cat([coeff, diagonal])
    return torch.sparse_coo_tensor(
        index, values, (num_nodes, num_nodes), check_invariants=False
    ).coalesce()


def _fem_laplacian(pos: Tensor, simplices: Tensor) -> tuple[Tensor, Tensor]:
    """P1 stiffness (sparse) and lumped mass ([N]) on triangles or tetrahedra."""
    num_nodes, d = pos.shape
    vertices = pos[simplices]  # [S, d+1, d]
    edges = vertices[:, 1:] - vertices[:, :1]  # [S, d, d]
    det = torch.linalg.det(edges)
    volume = det.abs() / math.factorial(d)
    keep = volume > 0
    simplices, edges, volume = simplices[keep], edges[keep], volume[keep]
    # rows of inv(edges)^T ... gradients of the barycentric coordinates 1..d
    grads = torch.linalg.inv(edges).transpose(1, 2)  # [S, d, d]: grads[:, k] = grad lambda_{k+1}
    grads = torch.cat([-grads.sum(1, keepdim=True), grads], dim=1)  # [S, d+1, d]
    local = volume[:, None, None] * grads @ grads.transpose(1, 2)  # [S, d+1, d+1]
    k = d + 1
    rows = simplices[:, :, None].expand(-1, k, k).reshape(-1)
    cols = simplices[:, None, :].expand(-1, k, k).reshape(-1)
    stiffness = torch.sparse_coo_tensor(
        torch.stack([rows, cols]), local.reshape(-1), (num_nodes, num_nodes), check_invariants=False
    ).coalesce()
    mass = scatter(
        (volume / k)[:, None].expand(-1, k).reshape(-1),
        simplices.reshape(-1),
        dim=0,
        dim_size=num_nodes,
        reduce="sum",
    )
    return stiffness, mass


def _row_select(matrix: Tensor, mask: Tensor) -> Tensor:
    """Keep the rows of a coalesced COO matrix where ``mask`` is true."""
    index, values = matrix.indices(), matrix.values()
    keep = mask[index[0]]
    return torch.sparse_coo_tensor(
        index[:, keep], values[keep], matrix.shape, check_invariants=False
    ).coalesce()


class MeshOperators:
    r"""Discrete gradient, divergence, Laplacian (and Hessian) on one mesh, built once.

    Parameters
    ----------
    pos : Tensor or array_like
        ``[N, d]`` node coordinates, ``d`` = 2 or 3. Their dtype is the operators' dtype
        (use float64 for verification).
    edge_index : Tensor, optional
        ``[2, E]`` edges (both directions). default: from ``cells``.
    cells : dict, optional
        Cell type -> ``[n_cells, k]`` node indices (meshio names). Needed by the FEM
        Laplacian. default: none (least squares only).
    boundary : Tensor, optional
        ``[N]`` boundary group per node (0 = interior) or a boolean mask. default: the nodes on
        facets of a single cell when cells are simplices, else no boundary.
    gradient : {"lsq2", "lsq"}, optional
        Gradient reconstruction (see the module notes). default: ``"lsq2"``.
    laplacian : {"lsq2", "fem"}, optional
        Laplacian discretization (see the module notes). default: ``"lsq2"``.

    Attributes
    ----------
    interior : Tensor
        ``[N]`` bool, the nodes not on the boundary.
    mass : Tensor or None
        ``[N]`` lumped mass (area or volume per node) of the ``"fem"`` Laplacian, else ``None``.

    Shapes
    ------
    Node values are ``[..., N, C]``: any leading axes (frames, batch), nodes, channels.
    :meth:`grad` gives ``[..., N, C, d]``, :meth:`laplacian` ``[..., N, C]``,
    :meth:`divergence` of ``[..., N, d]`` gives ``[..., N]``.

    Examples
    --------
    >>> import torch
    >>> pos = torch.tensor([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=torch.float64)
    >>> cells = {"triangle": torch.tensor([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])}
    >>> ops = MeshOperators(pos, cells=cells)
    >>> u = (2 * pos[:, :1] - pos[:, 1:])  # a linear field, [N, 1]
    >>> ops.grad(u)[4]
    tensor([[ 2., -1.]], dtype=torch.float64)
    """

    def __init__(
        self,
        pos: Tensor | np.ndarray,
        *,
        edge_index: Tensor | None = None,
        cells: Mapping[str, Tensor | np.ndarray] | None = None,
        boundary: Tensor | np.ndarray | None = None,
        gradient: GradientMethod = "lsq2",
        laplacian: LaplacianMethod = "lsq2",
    ) -> None:
        pos = torch.as_tensor(pos)
        if pos.dim() != 2 or pos.shape[1] not in (2, 3) or not pos.is_floating_point():
            msg = f"Expected float 'pos' tensor with shape [N, 2] or [N, 3] (got {tuple(pos.shape)}, {pos.dtype})"
            raise ValueError(msg)
        if gradient not in ("lsq", "lsq2"):
            msg = f"Expected 'gradient' to be 'lsq' or 'lsq2' (got {gradient!r})"
            raise ValueError(msg)
        if laplacian not in ("lsq2", "fem"):
            msg = f"Expected 'laplacian' to be 'lsq2' or 'fem' (got {laplacian!r})"
            raise ValueError(msg)
        num_nodes, dim = pos.shape
        self.pos = pos
        self.dim = dim
        self.num_nodes = num_nodes
        self.gradient_method = gradient
        if edge_index is None:
            if cells is None:
                msg = "MeshOperators needs 'edge_index' or 'cells'"
                raise ValueError(msg)
            edge_index = _edges_from_cells(cells, num_nodes)
        edge_index = torch.as_tensor(edge_index, dtype=torch.long, device=pos.device)
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            msg = f"Expected 'edge_index' tensor with shape [2, E] (got {tuple(edge_index.shape)})"
            raise ValueError(msg)
        edge_index = edge_index[:, edge_index[0] != edge_index[1]]
        # symmetrize: the fit wants every neighbour, whichever direction was stored
        both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
        key = torch.unique(both[0] * num_nodes + both[1])
        self.edge_index = torch.stack([key // num_nodes, key % num_nodes])

        simplices = _simplices(cells, dim) if cells is not None else None
        if boundary is not None:
            boundary = torch.as_tensor(
                np.asarray(boundary) if not isinstance(boundary, Tensor) else boundary
            )
            if boundary.shape != (num_nodes,):
                msg = f"Expected 'boundary' tensor with shape [{num_nodes}] (got {tuple(boundary.shape)})"
                raise ValueError(msg)
            on_boundary = boundary.bool() if boundary.dtype == torch.bool else boundary != 0
        elif simplices is not None:
            on_boundary = _boundary_from_simplices(simplices, num_nodes)
        else:
            on_boundary = torch.zeros(num_nodes, dtype=torch.bool)
        self.interior = ~on_boundary.to(pos.device)

        if laplacian == "fem" and simplices is None:
            msg = (
                "The 'fem' Laplacian needs triangle/quad/polygon cells in 2D or tetra cells in 3D; "
                "use laplacian='lsq2' for other cells or edge-only meshes"
            )
            raise ValueError(msg)
        self.laplacian_method = laplacian

        ring1 = self.edge_index
        ring2 = _two_ring(ring1, num_nodes).to(pos.device)
        quad = _difference_rows(pos, ring2, 2)
        if gradient == "lsq":
            linear = _lsq_coefficients(pos, ring1, 1)
            self._grad = [_difference_matrix(ring1, linear[:, a], num_nodes) for a in range(dim)]
        else:
            self._grad = [quad[a] for a in range(dim)]
        second = quad[dim : 2 * dim]
        mixed = quad[2 * dim :]
        self._hessian_parts = (second, mixed)
        lsq_laplacian = second[0]
        for part in second[1:]:
            lsq_laplacian = lsq_laplacian + part
        lsq_laplacian = lsq_laplacian.coalesce()
        if laplacian == "fem":
            stiffness, mass = _fem_laplacian(pos, simplices.to(pos.device))
            self.mass = mass
            inv_mass = torch.where(mass > 0, 1.0 / mass, torch.zeros_like(mass))
            index = stiffness.indices()
            fem = torch.sparse_coo_tensor(
                index,
                -inv_mass[index[0]] * stiffness.values(),
                stiffness.shape,
                check_invariants=False,
            ).coalesce()
            interior = self.interior & (mass > 0)
            self._laplacian = (
                _row_select(fem, interior) + _row_select(lsq_laplacian, ~interior)
            ).coalesce()
        else:
            self.mass = None
            self._laplacian = lsq_laplacian
        self._csr: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def from_data(
        cls,
        data: Any,
        *,
        dtype: torch.dtype | None = torch.float64,
        gradient: GradientMethod = "lsq2",
        laplacian: LaplacianMethod = "lsq2",
    ) -> MeshOperators:
        """Build the operators of a mesh graph (``pos``, ``edge_index``, ``cells``, ``boundary``).

        Parameters
        ----------
        data : MeshGraph
            Any object with ``pos`` and ``edge_index`` or ``cells`` attributes.
        dtype : torch.dtype, optional
            dtype of the operators; ``None`` keeps that of ``pos``. default: float64.
        gradient, laplacian : str, optional
            As in :class:`MeshOperators`. default: ``"lsq2"``, ``"lsq2"``.
        """
        pos = getattr(data, "pos", None)
        if pos is None:
            msg = "Expected a mesh with a 'pos' key"
            raise ValueError(msg)
        if dtype is not None:
            pos = pos.to(dtype)
        return cls(
            pos,
            edge_index=getattr(data, "edge_index", None),
            cells=getattr(data, "cells", None),
            boundary=getattr(data, "boundary", None),
            gradient=gradient,
            laplacian=laplacian,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_nodes={self.num_nodes}, dim={self.dim}, "
            f"gradient={self.gradient_method!r}, laplacian={self.laplacian_method!r})"
        )

    def _apply(self, matrix: Tensor, values: Tensor, key: tuple[Any, ...]) -> Tensor:
        if values.dim() < 2 or values.shape[-2] != self.num_nodes:
            msg = f"Expected node values with shape [..., {self.num_nodes}, C] (got {tuple(values.shape)})"
            raise ValueError(msg)
        cache = (*key, values.dtype, values.device)
        csr = self._csr.get(cache)
        if csr is None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                csr = matrix.to(dtype=values.dtype, device=values.device).to_sparse_csr()
            self._csr[cache] = csr
        moved = values.movedim(-2, 0)
        flat = moved.reshape(self.num_nodes, -1)
        out = csr @ flat
        return out.reshape(moved.shape).movedim(0, -2)

    def grad(self, values: Tensor) -> Tensor:
        r"""Gradient :math:`\nabla u` at every node: ``[..., N, C]`` -> ``[..., N, C, d]``."""
        return torch.stack(
            [self._apply(m, values, ("grad", a)) for a, m in enumerate(self._grad)], dim=-1
        )

    def divergence(self, values: Tensor) -> Tensor:
        r"""Divergence :math:`\nabla\cdot v` of a vector field ``[..., N, d]`` -> ``[..., N]``."""
        if values.shape[-1] != self.dim:
            msg = f"Expected a vector field [..., N, {self.dim}] (got {tuple(values.shape)})"
            raise ValueError(msg)
        return torch.diagonal(self.grad(values), dim1=-2, dim2=-1).sum(-1)

    def laplacian(self, values: Tensor) -> Tensor:
        r"""Laplacian :math:`\Delta u` at every node: ``[..., N, C]`` -> ``[..., N, C]``."""
        return self._apply(self._laplacian, values, ("laplacian",))

    def hessian(self, values: Tensor) -> Tensor:
        r"""Hessian from the quadratic fit: ``[..., N, C]`` -> ``[..., N, C, d, d]``."""
        second, mixed = self._hessian_parts
        d = self.dim
        entries: list[list[Tensor | None]] = [[None] * d for _ in range(d)]
        for a in range(d):
            entries[a][a] = self._apply(second[a], values, ("hess", a, a))
        k = 0
        for a in range(d):
            for b in range(a + 1, d):
                entries[a][b] = entries[b][a] = self._apply(mixed[k], values, ("hess", a, b))
                k += 1
        return torch.stack([torch.stack(row, dim=-1) for row in entries], dim=-2)


def _difference_rows(pos: Tensor, pairs: Tensor, degree: int) -> list[Tensor]:
    """Sparse matrices of every derivative fitted by least squares over ``pairs``."""
    coeff = _lsq_coefficients(pos, pairs, degree)
    return [_difference_matrix(pairs, coeff[:, k], pos.shape[0]) for k in range(coeff.shape[1])]
