"""What a rollout leaves behind: frames, the state every step started from, outputs, queries.

:meth:`meshfield.models.FieldModel.rollout_steps` is the one loop that chains model steps;
:meth:`~meshfield.models.FieldModel.trajectory` collects it into a :class:`Trajectory`.
``generate``, fine-tuning, the refiner and evaluation all walk that loop, so a change to how
a rollout runs (the temporal state, teacher forcing, the compiled step) is made in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from torch import Tensor

if TYPE_CHECKING:
    from meshfield.models.base import FieldModel, MeshContext, StepOutput

__all__ = ["RolloutStep", "Trajectory"]


class RolloutStep(NamedTuple):
    """One step of :meth:`~meshfield.models.FieldModel.rollout_steps`."""

    #: index of the frame this step produced (0 for a first frame from the initial head)
    index: int
    #: the temporal state the step started from (``None``: a fresh state)
    state_in: Tensor | None
    #: the model's output; ``output.fields`` is frame ``index``
    output: StepOutput
    #: ``[h, N, C]`` the physical frames the step read (its last one is frame ``index - 1``)
    history: Tensor


@dataclass
class Trajectory:
    """A rollout: its frames and what recomputes any produced step.

    Frames ``0 .. num_input - 1`` were given; every later frame was produced by a model step
    (frame 0 by the initial head when nothing was given). :meth:`step_output` returns the
    output behind a produced frame, kept or recomputed from the state that step started
    from, so point queries at any step need no second rollout.
    """

    #: ``[T, N, C]`` physical frames, the given ones first
    frames: Tensor
    #: frames given as input (0 when the first frame came from the initial head)
    num_input: int
    #: the temporal state each produced frame's step started from, by frame index
    states_in: dict[int, Tensor | None]
    #: kept outputs by frame index (empty unless the rollout kept them)
    outputs: dict[int, StepOutput] = field(default_factory=dict)
    #: ``[P, Q, C]`` decoder values at the query points for every produced frame, or ``None``
    queries: Tensor | None = None
    model: FieldModel | None = field(default=None, repr=False)
    data: Any = field(default=None, repr=False)
    cond: Tensor | Mapping[str, float] | None = field(default=None, repr=False)
    context: MeshContext | None = field(default=None, repr=False)
    #: frames the steps read as history when they were not the rollout's own (teacher forcing)
    teacher: Tensor | None = field(default=None, repr=False)

    @property
    def start(self) -> int:
        """Index of the first frame produced by a time step (not given, not generated)."""
        return max(self.num_input, 1)

    @property
    def num_steps(self) -> int:
        """Frames in the trajectory."""
        return int(self.frames.size(0))

    def step_output(self, index: int) -> StepOutput:
        """The model's output behind produced frame ``index`` (kept, else recomputed)."""
        kept = self.outputs.get(index)
        if kept is not None:
            return kept
        if index not in self.states_in:
            msg = (
                f"Frame {index} of this trajectory was given, not produced by the model "
                f"(produced frames: {self.num_input}..{self.num_steps - 1})"
            )
            raise IndexError(msg)
        model = self.model
        if model is None:
            msg = "This trajectory keeps no model to recompute its steps"
            raise ValueError(msg)
        if index == 0 and self.num_input == 0:
            return model.initial(self.data, self.cond, context=self.context)
        source = self.frames if self.teacher is None else self.teacher
        history = source[max(index - model.history, 0) : index]
        return model(self.data, history, self.cond, self.states_in[index], context=self.context)
