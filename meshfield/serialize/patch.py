"""Cut a serialized sequence into fixed-size patches that never mix graphs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Patching", "patch"]


@dataclass(frozen=True, eq=False)
class Patching:
    """Patches of ``patch_size`` tokens over a serialized sequence of one or more graphs.

    Built by :func:`patch`. Patch ``p`` holds the sequence positions ``index[p, mask[p]]``, all
    of graph ``patch_batch[p]``; padded slots (``mask`` False) repeat a real position of the
    same patch, so gathering with ``index`` is always valid and stays within the graph.

    Attributes
    ----------
    index : torch.Tensor
        int64 ``[P, K]``: sequence position in each slot.
    mask : torch.Tensor
        bool ``[P, K]``: True for real tokens; every sequence position is real in exactly one
        slot.
    patch_batch : torch.Tensor
        int64 ``[P]``: graph of each patch.
    token_slot : torch.Tensor
        int64 ``[L]``: flat slot ``p * K + k`` of each sequence position (where
        :meth:`unpack` reads it back).
    patch_size : int
        ``K``.
    shift : int
        Offset of the patch borders: the first patch of each graph holds
        ``patch_size - shift`` tokens.
    full : bool
        Whether every slot is real (no padding), decided once when the patches are built.
    """

    index: Tensor
    mask: Tensor
    patch_batch: Tensor
    token_slot: Tensor
    patch_size: int
    shift: int
    #: True when no slot is padded (attention then needs no mask)
    full: bool = False

    @property
    def num_patches(self) -> int:
        """``P``."""
        return self.index.shape[0]

    @property
    def token_patch(self) -> Tensor:
        """int64 ``[L]``: patch of each sequence position."""
        return torch.div(self.token_slot, self.patch_size, rounding_mode="floor")

    @property
    def counts(self) -> Tensor:
        """int64 ``[P]``: number of real tokens in each patch."""
        return self.mask.sum(dim=1)

    @property
    def attn_mask(self) -> Tensor:
        """Boolean mask for :func:`torch.nn.functional.scaled_dot_product_attention`.

        True where attention is allowed: every query (real or padded) attends to the real keys
        of its patch, so no row is fully masked. A broadcast view, shape ``[P, 1, K, K]``,
        for queries/keys shaped ``[P, heads, K, head_dim]``.
        """
        num, size = self.mask.shape
        return self.mask.view(num, 1, 1, size).expand(num, 1, size, size)

    def pack(self, x: Tensor) -> Tensor:
        """Gather a sequence into patches: ``[L, ...] -> [P, K, ...]`` (padded slots repeat a
        real token of the patch)."""
        return x.index_select(0, self.index.view(-1)).view(*self.index.shape, *x.shape[1:])

    def unpack(self, y: Tensor) -> Tensor:
        """Read the real slots back into the sequence: ``[P, K, ...] -> [L, ...]``; the exact
        inverse of :meth:`pack`."""
        return y.reshape(-1, *y.shape[2:]).index_select(0, self.token_slot)

    def pool(self, x: Tensor) -> Tensor:
        """Mean of the real tokens of each patch: ``[L, ...] -> [P, ...]``."""
        out = x.new_zeros(self.num_patches, *x.shape[1:])
        out.index_add_(0, self.token_patch, x)
        counts = self.counts.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return out / counts

    def unpool(self, y: Tensor) -> Tensor:
        """Broadcast one value per patch back to its tokens: ``[P, ...] -> [L, ...]``."""
        return y.index_select(0, self.token_patch)

    def __repr__(self) -> str:
        return (
            f"Patching(num_patches={self.num_patches}, patch_size={self.patch_size}, "
            f"shift={self.shift}, num_tokens={self.token_slot.numel()})"
        )


def patch(batch_in_sequence_order: Tensor, patch_size: int, shift: int = 0) -> Patching:
    """Cut a serialized sequence into patches of ``patch_size`` tokens, graph by graph.

    Each graph's run of tokens is cut at local positions ``k * patch_size - shift``: with
    ``shift = 0`` every patch but the graph's last is full; with ``shift > 0`` the first patch
    holds ``patch_size - shift`` tokens, so alternating ``shift = 0`` and
    ``shift = patch_size // 2`` between layers moves the borders (as the shifted windows of
    Swin Transformer). A patch never holds tokens of two graphs; short patches are padded.

    Parameters
    ----------
    batch_in_sequence_order : torch.Tensor
        Graph index of each sequence position, non-decreasing (``batch[order]`` of a
        :class:`~meshfield.serialize.Serialization`, whose graphs come in increasing order).
    patch_size : int
        Tokens per patch ``K``, at least 1.
    shift : int, default: 0
        Border offset, in ``[0, patch_size)``.

    Returns
    -------
    Patching
        Index, mask and graph of each patch, with ``pack``/``unpack``/``pool``/``unpool``.

    Shapes
    ------
    ``batch_in_sequence_order [L]`` -> ``index, mask [P, K]``, ``patch_batch [P]``.

    References
    ----------
    X. Wu et al., "Point Transformer V3: Simpler, Faster, Stronger", CVPR 2024 (patch
    attention over serialized points). Z. Liu et al., "Swin Transformer", ICCV 2021 (shifted
    windows).

    Example
    -------
    >>> import torch
    >>> from meshfield.serialize import patch
    >>> p = patch(torch.tensor([0, 0, 0, 1, 1]), patch_size=2)
    >>> p.index
    tensor([[0, 1],
            [2, 2],
            [3, 4]])
    >>> p.mask
    tensor([[ True,  True],
            [ True, False],
            [ True,  True]])
    """
    batch = batch_in_sequence_order
    if not isinstance(batch, Tensor) or batch.dim() != 1:
        got = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        msg = f"Expected 'batch_in_sequence_order' tensor with shape [L] (got {got})"
        raise ValueError(msg)
    if batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
        msg = f"Expected integer 'batch_in_sequence_order' (got dtype {batch.dtype})"
        raise TypeError(msg)
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        msg = f"Expected 'patch_size' to be a positive int (got {patch_size!r})"
        raise ValueError(msg)
    if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift < patch_size:
        msg = (
            f"Expected 'shift' to be an int in [0, patch_size) = [0, {patch_size}) (got {shift!r})"
        )
        raise ValueError(msg)
    if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        msg = (
            "Expected non-decreasing 'batch_in_sequence_order' (tokens grouped by graph, graphs "
            "in increasing order), as 'batch[serialization.order]' is"
        )
        raise ValueError(msg)

    device = batch.device
    length = batch.numel()
    size = patch_size
    graphs, lengths = torch.unique_consecutive(batch.long(), return_counts=True)
    # first sequence position of each graph's run, and of each token's run
    run_start = torch.cumsum(lengths, 0) - lengths
    run = torch.repeat_interleave(torch.arange(graphs.numel(), device=device), lengths)
    local = torch.arange(length, device=device) - run_start.index_select(0, run) + shift
    num_patches = torch.div(lengths - 1 + shift, size, rounding_mode="floor") + 1
    patch_start = torch.cumsum(num_patches, 0) - num_patches
    token_slot = patch_start.index_select(0, run) * size + local
    total = int(num_patches.sum())

    patch_batch = torch.repeat_interleave(graphs, num_patches, output_size=total)
    patch_run = torch.repeat_interleave(torch.arange(graphs.numel(), device=device), num_patches)
    # first real position of each patch: padded slots repeat it
    within = torch.arange(total, device=device) - patch_start.index_select(0, patch_run)
    first = run_start.index_select(0, patch_run) + (within * size - shift).clamp_(min=0)
    index = first.view(-1, 1).repeat(1, size).view(-1)
    index[token_slot] = torch.arange(length, device=device)
    mask = torch.zeros(total * size, dtype=torch.bool, device=device)
    mask[token_slot] = True
    return Patching(
        index=index.view(total, size),
        mask=mask.view(total, size),
        patch_batch=patch_batch,
        token_slot=token_slot,
        patch_size=size,
        shift=shift,
        full=bool(mask.all()),
    )
