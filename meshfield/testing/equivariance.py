"""Check that a model commutes with a renumbering of the mesh nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

__all__ = ["assert_permutation_equivariant"]

#: keys whose integer values are node ids (renumbered, not reordered)
INDEX_KEYS: tuple[str, ...] = ("edge_index", "face", "cells")


def _permute_data(data: Data, perm: Tensor, inverse: Tensor, index_keys: Iterable[str]) -> Data:
    index_keys = set(index_keys)
    num_nodes = data.num_nodes
    out = data.clone()
    for key, value in data.items():
        if key in index_keys:
            if isinstance(value, Mapping):
                out[key] = {name: inverse[ids] for name, ids in value.items()}
            elif isinstance(value, Tensor):
                out[key] = inverse[value]
        elif isinstance(value, Tensor) and value.dim() > 0 and data.is_node_attr(key):
            dim = data.__cat_dim__(key, value)
            dim = dim + value.dim() if dim < 0 else dim
            if value.size(dim) == num_nodes:
                out[key] = value.index_select(dim, perm)
    return out


def _permute_inputs(
    inputs: Mapping[str, Any],
    perm: Tensor,
    inverse: Tensor,
    node_keys: Iterable[str] | None,
    index_keys: Iterable[str],
) -> tuple[dict[str, Any], int]:
    tensors = {
        key: value for key, value in inputs.items() if isinstance(value, Tensor) and value.dim() > 0
    }
    if node_keys is None:
        anchor = next((key for key in ("x", "pos") if key in tensors), None)
        if anchor is None:
            msg = (
                "Cannot tell the node count: give 'x' or 'pos' among the inputs, "
                "or pass 'node_keys'"
            )
            raise ValueError(msg)
        num_nodes = tensors[anchor].size(0)
        node_keys = [
            key
            for key, value in tensors.items()
            if value.size(0) == num_nodes and key not in index_keys
        ]
    else:
        node_keys = list(node_keys)
        missing = [key for key in node_keys if key not in tensors]
        if missing:
            msg = f"'node_keys' names inputs that are not tensors: {missing}"
            raise ValueError(msg)
        num_nodes = tensors[node_keys[0]].size(0)
    out = dict(inputs)
    for key in node_keys:
        out[key] = tensors[key][perm]
    for key in index_keys:
        if key in tensors:
            out[key] = inverse[tensors[key]]
    return out, num_nodes


def _compare(
    expected: Any, actual: Any, perm: Tensor, num_nodes: int, atol: float, rtol: float, where: str
) -> None:
    if isinstance(expected, Tensor):
        if expected.dim() > 0 and expected.size(0) == num_nodes:
            expected = expected[perm]
        try:
            torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol)
        except AssertionError as err:
            msg = (
                f"{where} is not permutation equivariant "
                f"(output[perm] != model(permuted input)):\n{err}"
            )
            raise AssertionError(msg) from None
    elif isinstance(expected, Data):
        for key, value in expected.items():
            if isinstance(value, Tensor) and value.dim() > 0 and expected.is_node_attr(key):
                dim = expected.__cat_dim__(key, value)
                value = value.index_select(dim, perm) if value.size(dim) == num_nodes else value
                _compare(value, actual[key], perm, -1, atol, rtol, f"{where}.{key}")
            elif isinstance(value, Tensor):
                _compare(value, actual[key], perm, -1, atol, rtol, f"{where}.{key}")
    elif isinstance(expected, tuple | list):
        for i, (exp, act) in enumerate(zip(expected, actual, strict=True)):
            _compare(exp, act, perm, num_nodes, atol, rtol, f"{where}[{i}]")
    elif isinstance(expected, Mapping):
        for key in expected:
            _compare(expected[key], actual[key], perm, num_nodes, atol, rtol, f"{where}[{key!r}]")


def assert_permutation_equivariant(
    model: Callable[..., Any],
    data_or_inputs: Data | Mapping[str, Any],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    perm: Tensor | None = None,
    seed: int = 0,
    node_keys: Iterable[str] | None = None,
    index_keys: Iterable[str] = INDEX_KEYS,
) -> None:
    r"""Assert that renumbering the nodes of the input renumbers the output the same way.

    A random permutation :math:`\pi` of the :math:`N` nodes is applied to every node-level
    input (rows of ``x``, ``pos``, ``batch``, ...) and node ids in index tensors
    (``edge_index``, ``cells``) are renamed accordingly; the check is
    :math:`f(\pi \cdot \text{input}) = \pi \cdot f(\text{input})`. Output tensors whose first
    dimension is :math:`N` are permuted before the comparison; all others (graph-level
    outputs) must be unchanged.

    Parameters
    ----------
    model : callable
        Called as ``model(data)`` for a :class:`~torch_geometric.data.Data`, or
        ``model(**inputs)`` for a mapping. An :class:`torch.nn.Module` runs in eval mode
        (dropout off) and is put back in its previous mode afterwards.
    data_or_inputs : torch_geometric.data.Data or mapping
        The input graph, or keyword arguments of ``model``.
    atol : float, default: 1e-5
        Absolute tolerance of the comparison.
    rtol : float, default: 1e-5
        Relative tolerance of the comparison.
    perm : torch.Tensor, optional
        The permutation to apply (new node ``i`` is old node ``perm[i]``); default: random,
        drawn from ``seed``.
    seed : int, default: 0
        Seed of the random permutation.
    node_keys : iterable of str, optional
        For a mapping: the node-level inputs to permute. Default: every tensor whose first
        dimension equals the size of ``x`` (or ``pos``) — pass it when a graph-level input
        (e.g. ``cond`` of a batch with as many graphs as nodes) could be taken for one.
    index_keys : iterable of str, default: ("edge_index", "face", "cells")
        Inputs holding node ids, renamed rather than reordered.

    Raises
    ------
    AssertionError
        If an output differs, with the largest difference and where it occurs.

    Notes
    -----
    Models that serialize nodes along space-filling curves are equivariant only up to ties:
    nodes falling in the same finest grid cell are ordered by their index, so renumbering them
    changes the sequence. Check such models on meshes with distinct positions and a curve
    depth fine enough to separate every node (random positions in float32 with the default
    depth are separated with overwhelming probability; a regular grid is separated by any
    depth that resolves its spacing).

    Example
    -------
    >>> import torch
    >>> from meshfield.testing import assert_permutation_equivariant
    >>> from meshfield.nn import HybridBackbone
    >>> model = HybridBackbone(d_model=32, pattern="MA", patch_size=8)
    >>> inputs = {"x": torch.randn(50, 32), "pos": torch.rand(50, 2)}
    >>> assert_permutation_equivariant(model, inputs)
    """
    if isinstance(data_or_inputs, Data):
        num_nodes = data_or_inputs.num_nodes
    elif isinstance(data_or_inputs, Mapping):
        num_nodes = -1
    else:
        msg = (
            "Expected a torch_geometric Data or a mapping of keyword inputs "
            f"(got {type(data_or_inputs).__name__})"
        )
        raise TypeError(msg)

    def permuted(perm: Tensor, inverse: Tensor) -> tuple[Any, int]:
        if isinstance(data_or_inputs, Data):
            return _permute_data(data_or_inputs, perm, inverse, index_keys), num_nodes
        return _permute_inputs(data_or_inputs, perm, inverse, node_keys, index_keys)

    if num_nodes < 0:  # learn the node count from the mapping
        probe = torch.zeros(0, dtype=torch.long)
        num_nodes = _permute_inputs(data_or_inputs, probe, probe, node_keys, ())[1]
    values = (
        data_or_inputs.values()
        if isinstance(data_or_inputs, Mapping)
        else data_or_inputs.to_dict().values()
    )
    device = next((v.device for v in values if isinstance(v, Tensor)), torch.device("cpu"))
    if perm is None:
        generator = torch.Generator().manual_seed(seed)
        perm = torch.randperm(num_nodes, generator=generator)
    perm = perm.to(device)
    if perm.shape != (num_nodes,) or not torch.equal(
        perm.sort().values, torch.arange(num_nodes, device=device)
    ):
        msg = f"'perm' must be a permutation of {num_nodes} nodes"
        raise ValueError(msg)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(num_nodes, device=device)

    inputs_permuted, _ = permuted(perm, inverse)
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            if isinstance(data_or_inputs, Data):
                expected, actual = model(data_or_inputs), model(inputs_permuted)
            else:
                expected, actual = model(**data_or_inputs), model(**inputs_permuted)
    finally:
        if was_training:
            model.train()
    _compare(expected, actual, perm, num_nodes, atol, rtol, "output")
