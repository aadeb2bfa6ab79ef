"""Learning-rate schedule: linear warm-up, then a half-cosine decay (or a constant rate)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["WarmupCosine", "warmup_cosine"]


class WarmupCosine:
    r"""The learning-rate factor of step :math:`s`: linear warm-up, then a half cosine.

    .. math::
        f(s) = \begin{cases}
            (s + 1) / W & s < W \\
            m + (1 - m)\,\frac{1}{2}\left(1 + \cos\left(\pi \frac{s - W}{S - W}\right)\right)
                & W \le s < S \\
            m & s \ge S
        \end{cases}

    with :math:`W` warm-up steps, :math:`S` total steps and :math:`m` the final factor. The
    first step already has a non-zero rate (:math:`1/W`) and the last warm-up step reaches
    :math:`f = 1`. With ``cosine=False`` the factor stays 1 after the warm-up.

    A run that stops on a clock instead sets :attr:`budget_fraction`, the fraction of its
    time budget spent (in [0, 1]), before each step: the decay then follows whichever of
    :math:`(s - W) / (S - W)` and the budget fraction is further along, so the rate reaches
    :math:`m` when the run ends, at its last step or at the end of its budget.

    A plain object of numbers, so :class:`torch.optim.lr_scheduler.LambdaLR` saves it in
    its ``state_dict`` as JSON-ready values.

    Parameters
    ----------
    warmup_steps : int
        :math:`W` (0 for none).
    total_steps : int
        :math:`S`, the optimizer steps of the whole run.
    final_factor : float, default: 0.0
        :math:`m`, the factor at the end (``min_lr / lr``).
    cosine : bool, default: True
        Decay after the warm-up; otherwise keep the peak rate.

    Example
    -------
    >>> f = WarmupCosine(warmup_steps=2, total_steps=6)
    >>> [round(f(s), 3) for s in range(7)]
    [0.5, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0]
    >>> f.budget_fraction = 0.5  # half the time budget spent at step 3
    >>> round(f(3), 3)
    0.5
    """

    def __init__(
        self,
        warmup_steps: int,
        total_steps: int,
        final_factor: float = 0.0,
        cosine: bool = True,
    ) -> None:
        if warmup_steps < 0 or total_steps < 1:
            msg = (
                f"Expected warmup_steps >= 0 and total_steps >= 1 "
                f"(got {warmup_steps}, {total_steps})"
            )
            raise ValueError(msg)
        if not 0.0 <= final_factor <= 1.0:
            msg = f"'final_factor' must be in [0, 1] (got {final_factor})"
            raise ValueError(msg)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.final_factor = float(final_factor)
        self.cosine = bool(cosine)
        self.budget_fraction = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.cosine:
            return 1.0
        decay_steps = self.total_steps - self.warmup_steps
        if decay_steps <= 0 or step >= self.total_steps:
            return self.final_factor
        progress = max((step - self.warmup_steps) / decay_steps, self.budget_fraction)
        if progress >= 1.0:
            return self.final_factor
        return self.final_factor + (1.0 - self.final_factor) * 0.5 * (
            1.0 + math.cos(math.pi * progress)
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(warmup_steps={self.warmup_steps}, "
            f"total_steps={self.total_steps}, final_factor={self.final_factor}, "
            f"cosine={self.cosine})"
        )


def warmup_cosine(
    optimizer: Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    min_lr: float = 0.0,
    cosine: bool = True,
) -> LambdaLR:
    """A scheduler stepping once per optimizer step with :class:`WarmupCosine`.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Its ``lr`` (of the first parameter group) is the peak rate.
    warmup_steps : int
        Steps of linear warm-up.
    total_steps : int
        Optimizer steps of the whole run.
    min_lr : float, default: 0.0
        Rate at the end of the decay.
    cosine : bool, default: True
        Decay after the warm-up (``schedule="cosine"``) or not (``"constant"``).

    Returns
    -------
    torch.optim.lr_scheduler.LambdaLR
        Its ``state_dict()`` holds only numbers (saved as JSON with a run).
    """
    peak = float(optimizer.param_groups[0]["lr"])
    factor = WarmupCosine(warmup_steps, total_steps, min_lr / peak if peak > 0 else 0.0, cosine)
    return LambdaLR(optimizer, factor)
