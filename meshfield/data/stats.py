"""Per-channel normalization statistics: one algorithm for the mean and standard deviation, and
one rule for a degenerate standard deviation.

Both :func:`meshfield.data.compute_stats` and :meth:`meshfield.models.Normalizer.fit` accumulate
with :class:`Moments`, and both :class:`meshfield.data.FieldStats` and the
:class:`~meshfield.models.Normalizer` divide by :func:`safe_std`.

- **Mean and standard deviation.** Streaming, in float64: each chunk of samples is summarized as
  (count, mean, sum of squared deviations), computed about the chunk's first sample, and the
  summaries are merged pairwise (Chan, Golub and LeVeque), so large offsets do not cancel and a
  channel whose values are all equal gets exactly its value as mean and exactly 0 as standard
  deviation. The standard deviation is the population one (divided by the count).
- **Degenerate standard deviation.** A standard deviation at or below :data:`STD_FLOOR` (or not
  a number) is replaced by 1 where it divides: a constant channel is centred, not scaled.
  Statistics are stored as computed; only the divisor is floored, so stored statistics above
  the floor are used exactly as stored.

>>> import torch
>>> moments = Moments(2).add(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
>>> moments.mean.tolist(), moments.std.tolist()
([2.0, 5.0], [1.0, 0.0])
>>> safe_std(moments.std).tolist()
[1.0, 1.0]
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["STD_FLOOR", "Moments", "safe_std"]

#: a standard deviation (or position scale) at or below this is taken as 1 where it divides
STD_FLOOR = 1e-12


def safe_std(std: Tensor) -> Tensor:
    """The divisor for standard deviations ``std``: each one above :data:`STD_FLOOR`, else 1.

    Applied in the dtype the division happens in (convert first, then floor), so no value
    divides by zero. ``NaN`` becomes 1 too.
    """
    return torch.where(std > STD_FLOOR, std, torch.ones_like(std))


class Moments:
    """Running per-channel count, mean and sum of squared deviations, in float64.

    Parameters
    ----------
    channels : int
        Channels ``C``; every sample is ``C`` values.

    Attributes
    ----------
    count : int
        Samples seen.
    mean : torch.Tensor
        ``[C]`` float64 mean (0 before any sample).
    m2 : torch.Tensor
        ``[C]`` float64 sum of squared deviations from the mean.
    """

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.mean = torch.zeros(channels, dtype=torch.float64)
        self.m2 = torch.zeros(channels, dtype=torch.float64)

    @property
    def channels(self) -> int:
        return self.mean.numel()

    def add(self, values: Tensor) -> Moments:
        """Fold in a chunk of samples ``[..., C]`` (every leading index is one sample).

        Returns ``self``.
        """
        values = torch.as_tensor(values).detach()
        if values.dim() == 0 or values.shape[-1] != self.channels:
            msg = f"Expected values of shape [..., {self.channels}] (got {list(values.shape)})"
            raise ValueError(msg)
        values = values.to(device="cpu", dtype=torch.float64).reshape(-1, self.channels)
        n = values.size(0)
        if n == 0:
            return self
        # about the first sample: exact for a constant channel, no cancellation of an offset
        shift = values[0]
        centred = values - shift
        centred_mean = centred.mean(0)
        m2 = (centred - centred_mean).square().sum(0)
        return self._merge(n, shift + centred_mean, m2)

    def merge(self, other: Moments) -> Moments:
        """Fold in the summary of other samples (as if they were added here). Returns ``self``."""
        if other.channels != self.channels:
            msg = f"Expected moments of {self.channels} channels (got {other.channels})"
            raise ValueError(msg)
        if other.count:
            self._merge(other.count, other.mean, other.m2)
        return self

    def _merge(self, n: int, mean: Tensor, m2: Tensor) -> Moments:
        # Chan et al.: combine (count, mean, m2) with (n, mean, m2)
        if self.count == 0:
            self.count, self.mean, self.m2 = n, mean.clone(), m2.clone()
            return self
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta.square() * (self.count * n / total)
        self.count = total
        return self

    @property
    def var(self) -> Tensor:
        """``[C]`` population variance (0 before any sample)."""
        return self.m2 / max(self.count, 1)

    @property
    def std(self) -> Tensor:
        """``[C]`` population standard deviation (0 before any sample)."""
        return self.var.sqrt()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channels={self.channels}, count={self.count})"
