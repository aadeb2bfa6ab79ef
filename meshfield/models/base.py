"""What every meshfield model shares: the step, rollout and query API in physical units."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from meshfield.models.normalizer import Normalizer
from meshfield.models.trajectory import RolloutStep, Trajectory
from meshfield.nn.decoder import NodeDecoder, PointQueryDecoder
from meshfield.nn.encoder import edge_geometry

__all__ = ["FieldModel", "MeshContext", "StepOutput"]


class StepOutput(NamedTuple):
    """Result of one model step (:meth:`FieldModel.forward` or :meth:`FieldModel.initial`).

    A tuple, so :func:`meshfield.testing.assert_permutation_equivariant` compares every entry.
    """

    #: ``[N, C]`` the predicted frame, physical units
    fields: Tensor
    #: ``[N, C]`` the predicted increment, normalized (the one-step loss compares it with
    #: ``model.normalizer.normalize_delta(current, following)``); ``None`` from the initial head
    delta: Tensor | None
    #: ``[N, C]`` the predicted frame, normalized (the loss of the initial head uses it)
    normalized: Tensor
    #: ``[B, S]`` the temporal latent state after this step (``None`` for models without one);
    #: pass it as ``state`` to the next step
    state: Tensor | None
    #: ``[N, D]`` node tokens after the processor, for :meth:`FieldModel.query`
    node_features: Tensor


class MeshContext(NamedTuple):
    """What a model derives from a mesh once and reuses at every step of a rollout."""

    pos: Tensor  #: ``[N, d]`` physical positions
    pos_normalized: Tensor  #: ``[N, d]`` positions in the normalizer's frame
    edge_index: Tensor  #: ``[2, E]``
    boundary: Tensor  #: ``[N]`` boundary tags
    batch: Tensor | None  #: ``[N]`` graph index, ``None`` for one graph
    num_graphs: int
    extra: dict[
        str, Any
    ]  #: model-specific (e.g. the space-filling-curve orders of HMT)


class FieldModel(nn.Module):
    r"""Base class of the models: one step, rollouts and point queries on mesh graphs.

    Inputs and outputs of the public methods are physical; :attr:`normalizer` maps them to
    and from the normalized space the networks work in. A step reads the last ``history``
    frames and the conditions, runs the subclass's processor (:meth:`process`) and decodes
    the normalized increment of the next frame at every node. Without an input frame, the
    initial head produces the first frame from the mesh and the conditions
    (:meth:`initial`). :meth:`rollout` chains steps; :meth:`query` evaluates the predicted
    fields at arbitrary points, differentiably.

    Subclasses build ``encoder`` (a :class:`~meshfield.nn.NodeEncoder` with
    :attr:`input_channels` inputs) and implement :meth:`process`.

    Parameters
    ----------
    config : HMTConfig or MeshGraphNetConfig or TransformerConfig
        Needs ``field_names``, ``cond_names``, ``dim``, ``history`` and ``decoder``.
    width : int
        Token width :math:`D` of the processor output.
    """

    #: registry name of the model family, stored in checkpoints
    kind: ClassVar[str] = ""
    config: Any

    def __init__(self, config: Any, width: int) -> None:
        super().__init__()
        self.config = config
        self.width = width
        self.__dict__["_compiled"] = {}
        num_fields = len(config.field_names)
        self.normalizer = Normalizer(num_fields, len(config.cond_names), config.dim)
        decoder = config.decoder
        self.decoder = NodeDecoder(width, num_fields, hidden=decoder.hidden)
        self.initial_decoder = (
            NodeDecoder(width, num_fields, hidden=decoder.hidden)
            if decoder.initial_head
            else None
        )
        self.query_decoder = PointQueryDecoder(
            width,
            num_fields,
            dim=config.dim,
            k=decoder.query_neighbors,
            hidden=decoder.query_hidden,
        )

    # ---------------------------------------------------------------------------------------
    # construction

    @classmethod
    def from_config(cls, config: Any) -> FieldModel:
        """Build the model a configuration (or its :func:`config_to_dict`) describes."""
        if isinstance(config, Mapping):
            from meshfield.models.config import config_from_dict

            config = config_from_dict(cls.config_class(), config)
        return cls(config)

    @classmethod
    def config_class(cls) -> type:
        """The configuration dataclass of this model."""
        raise NotImplementedError

    @property
    def field_names(self) -> tuple[str, ...]:
        """Names of the predicted channels."""
        return self.config.field_names

    @property
    def cond_names(self) -> tuple[str, ...]:
        """Names of the conditions, in the order of ``cond``."""
        return self.config.cond_names

    @property
    def history(self) -> int:
        """Input frames per step."""
        return self.config.history

    @property
    def frame_step(self) -> int:
        """Snapshot intervals of the training data per step (frames ``frame_step`` apart)."""
        return int(getattr(self.config, "frame_step", 1))

    @property
    def input_channels(self) -> int:
        """Per-node encoder inputs: ``history`` normalized frames and a "frames given" flag."""
        return self.history * len(self.field_names) + 1

    def reset_parameters(self) -> None:
        """Reinitialize every layer (the normalization statistics are kept)."""
        for module in self.children():
            if module is not self.normalizer and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    # ---------------------------------------------------------------------------------------
    # inputs

    def prepare(self, data: Data) -> MeshContext:
        """Check a graph and derive what every step reuses (call once per rollout).

        Parameters
        ----------
        data : MeshGraph or torch_geometric.data.Batch
            Needs ``pos [N, d]`` and ``edge_index``; ``boundary`` defaults to all interior.

        Returns
        -------
        MeshContext
        """
        pos = getattr(data, "pos", None)
        if (
            not isinstance(pos, Tensor)
            or pos.dim() != 2
            or pos.size(1) != self.config.dim
        ):
            got = list(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
            msg = f"Expected 'pos' tensor with shape [num_nodes, {self.config.dim}] (got {got})"
            raise ValueError(msg)
        num_nodes = pos.size(0)
        edge_index = getattr(data, "edge_index", None)
        if (
            not isinstance(edge_index, Tensor)
            or edge_index.dim() != 2
            or edge_index.size(0) != 2
        ):
            got = (
                list(edge_index.shape) if isinstance(edge_index, Tensor) else edge_index
            )
            msg = f"Expected 'edge_index' tensor with shape [2, num_edges] (got {got})"
            raise ValueError(msg)
        boundary = getattr(data, "boundary", None)
        if boundary is None:
            boundary = torch.zeros(num_nodes, dtype=torch.long, device=pos.device)
        if boundary.shape != (num_nodes,):
            msg = f"Expected 'boundary' tensor with shape [{num_nodes}] (got {list(boundary.shape)})"
            raise ValueError(msg)
        self.encoder.check_boundary(boundary)
        batch = getattr(data, "batch", None)
        num_graphs = 1 if batch is None or batch.numel() == 0 else int(batch.max()) + 1
        if num_graphs == 1:
            batch = None
        context = MeshContext(
            pos=pos,
            pos_normalized=self.normalizer.normalize_pos(pos),
            edge_index=edge_index,
            boundary=boundary.long(),
            batch=batch,
            num_graphs=num_graphs,
            extra={},
        )
        # relative edge positions and degrees: the same for every step on this mesh
        context.extra["geometry"] = edge_geometry(context.pos_normalized, edge_index)
        self._prepare_extra(context)
        return context

    def _prepare_extra(self, context: MeshContext) -> None:
        """Subclass hook: fill ``context.extra`` (e.g. serializations)."""

    def conditions(
        self,
        data: Data | None,
        cond: Tensor | Mapping[str, float] | None,
        num_graphs: int,
    ) -> Tensor | None:
        """Normalized conditions ``[B, K]`` from ``cond`` or ``data.cond`` (``None`` if K = 0).

        ``cond`` may be a tensor ``[K]`` / ``[B, K]`` in the order of :attr:`cond_names` or,
        for one graph, a mapping name -> value naming every condition.
        """
        num_cond = len(self.cond_names)
        if num_cond == 0:
            return None
        if cond is None:
            cond = getattr(data, "cond", None) if data is not None else None
            if cond is None:
                msg = f"The model needs the conditions {list(self.cond_names)}: pass 'cond'"
                raise ValueError(msg)
        if isinstance(cond, Mapping):
            missing = [name for name in self.cond_names if name not in cond]
            unknown = [name for name in cond if name not in self.cond_names]
            if missing or unknown:
                msg = (
                    f"Conditions must name exactly {list(self.cond_names)} "
                    f"(missing {missing}, unknown {unknown})"
                )
                raise ValueError(msg)
            cond = torch.tensor([float(cond[name]) for name in self.cond_names])
        buffer = self.normalizer.cond_mean
        cond = torch.as_tensor(cond).to(dtype=buffer.dtype, device=buffer.device)
        cond = cond.reshape(1, -1) if cond.dim() <= 1 else cond
        if cond.shape != (num_graphs, num_cond):
            msg = (
                f"Expected 'cond' tensor with shape [{num_graphs}, {num_cond}] "
                f"({list(self.cond_names)}) (got {list(cond.shape)})"
            )
            raise ValueError(msg)
        return self.normalizer.normalize_cond(cond)

    def _frames(self, data: Data, history: Tensor | None, num_nodes: int) -> Tensor:
        if history is None:
            history = getattr(data, "fields", None)
            if history is None:
                msg = (
                    "No input frames: pass 'history' [h, N, C], give the graph 'fields', or "
                    "start from the conditions alone with model.initial / rollout(initial=None)"
                )
                raise ValueError(msg)
        if history.dim() == 2:
            history = history.unsqueeze(0)
        num_fields = len(self.field_names)
        if history.dim() != 3 or history.shape[1:] != (num_nodes, num_fields):
            msg = (
                f"Expected input frames with shape [h, {num_nodes}, {num_fields}] "
                f"({list(self.field_names)}) (got {list(history.shape)})"
            )
            raise ValueError(msg)
        history = history[-self.history :]
        if history.size(0) < self.history:
            # a short history (the start of a rollout) repeats its first frame
            pad = history[:1].expand(self.history - history.size(0), -1, -1)
            history = torch.cat([pad, history], dim=0)
        return history

    def _inputs(self, frames: Tensor | None, num_nodes: int, like: Tensor) -> Tensor:
        if frames is None:  # the initial head: no frames, flag 0
            return like.new_zeros(num_nodes, self.input_channels)
        normalized = self.normalizer.normalize_fields(frames)  # [h, N, C]
        flat = normalized.permute(1, 0, 2).reshape(num_nodes, -1)
        return torch.cat([flat, flat.new_ones(num_nodes, 1)], dim=-1)

    # ---------------------------------------------------------------------------------------
    # the step

    def process(
        self,
        context: MeshContext,
        inputs: Tensor,
        cond: Tensor | None,
        state: Tensor | None,
    ) -> tuple[Tensor, Tensor | None]:
        """Subclass: node inputs ``[N, input_channels]`` to tokens ``[N, D]`` and a new state."""
        raise NotImplementedError

    @property
    def has_state(self) -> bool:
        """Whether the model carries a temporal latent state from step to step."""
        return False

    def advance_state(
        self,
        context: MeshContext,
        inputs: Tensor,
        cond: Tensor | None,
        state: Tensor | None,
    ) -> Tensor | None:
        """The temporal state after one step on encoder ``inputs``, without decoding.

        The default runs the whole :meth:`process`; models whose state depends on less (HMT:
        the encoder only) override it.
        """
        return self.process(context, inputs, cond, state)[1]

    @torch.no_grad()
    def warm_state(
        self,
        data: Data,
        frames: Tensor,
        steps: Tensor | int | None = None,
        *,
        cond: Tensor | Mapping[str, float] | None = None,
        context: MeshContext | None = None,
    ) -> Tensor | None:
        r"""The temporal state after teacher-forced steps on known frames (no gradients).

        Step :math:`j` reads frames ``j .. j + history - 1`` of ``frames``, as a rollout from
        ``frames[0]`` would if every prediction were exact, and advances the state from a
        fresh one. Graph :math:`g` of a batch takes only its last ``steps[g]`` steps (its
        state stays fresh before), so windows of different starts share one loop.

        Parameters
        ----------
        data : MeshGraph or torch_geometric.data.Batch
            The mesh and (by default) the conditions.
        frames : torch.Tensor
            Physical frames ``[W + history - 1, N, C]``.
        steps : torch.Tensor or int, optional
            ``[B]`` real warm-up steps per graph (at most ``W``). default: ``W`` for all.
        cond : torch.Tensor or mapping, optional
            Conditions; default: ``data.cond``.
        context : MeshContext, optional
            :meth:`prepare` of ``data``.

        Returns
        -------
        torch.Tensor or None
            ``[B, S]`` the state for the step that reads the frames after ``frames``;
            ``None`` (a fresh state) for a model without a state or when no graph takes a
            warm-up step.
        """
        if not self.has_state:
            return None
        context = context if context is not None else self.prepare(data)
        num_nodes = context.pos.size(0)
        total = frames.size(0) - self.history + 1
        if total <= 0:
            return None
        num_graphs = context.num_graphs
        if steps is None:
            steps = total
        steps = torch.as_tensor(steps, device=frames.device).reshape(-1).expand(num_graphs)
        if bool((steps > total).any()) or bool((steps < 0).any()):
            msg = f"Expected warm-up steps in [0, {total}] (got {steps.tolist()})"
            raise ValueError(msg)
        cond_n = self.conditions(data, cond, num_graphs)
        advance = self._compiled.get("advance") or self.advance_state
        state: Tensor | None = None
        for j in range(total - int(steps.max()), total):
            inputs = self._inputs(frames[j : j + self.history], num_nodes, context.pos_normalized)
            following = advance(context, inputs, cond_n, state)
            active = (steps >= total - j).unsqueeze(-1)
            previous = state if state is not None else torch.zeros_like(following)
            state = torch.where(active, following, previous)
        return state

    def _step(
        self,
        context: MeshContext,
        inputs: Tensor,
        cond: Tensor | None,
        state: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Tokens, the normalized increment and the new state (what :meth:`compile_step` compiles)."""
        tokens, state = self.process(context, inputs, cond, state)
        return tokens, self.decoder(tokens), state

    def compile_step(self, enabled: bool = True) -> FieldModel:
        """Run the step (and the state warm-up) under ``torch.compile``, or eagerly again.

        The processor and the decoder of :meth:`forward`, and :meth:`advance_state` of
        :meth:`warm_state`, are compiled on first use (again for a mesh of another size),
        cached on disk (:func:`meshfield.runtime.compile_cache_dir`), and fall back to eager
        with one warning where compilation fails (:class:`meshfield.runtime.CompiledFunction`).
        Values and gradients are those of the eager step up to rounding. Worth it for long
        rollouts and training on one mesh: on 2 CPU cores the compiled inference step of the
        shipped model was 1.7x faster, a training step 1.26x, after a compilation of about a
        minute (inference) to several minutes (training), seconds from the cache.

        Parameters
        ----------
        enabled : bool, default: True
            False returns to the eager step; True again when it is on keeps it as it is.

        Returns
        -------
        FieldModel
            ``self``.
        """
        from meshfield.runtime import CompiledFunction

        if enabled and self._compiled:
            return self  # already on: keep what was compiled
        compiled: dict[str, Any] = {}
        if enabled:
            name = type(self).__name__
            compiled["step"] = CompiledFunction(self._step, f"the {name} step")
            compiled["advance"] = CompiledFunction(self.advance_state, f"the {name} state update")
        # a plain attribute (not a module or a buffer): not saved, not copied by state_dict
        self.__dict__["_compiled"] = compiled
        return self

    @property
    def compiled(self) -> bool:
        """Whether :meth:`compile_step` is on (and has not fallen back to eager)."""
        return bool(self._compiled) and not any(f.failed for f in self._compiled.values())

    def forward(
        self,
        data: Data,
        history: Tensor | None = None,
        cond: Tensor | Mapping[str, float] | None = None,
        state: Tensor | None = None,
        *,
        context: MeshContext | None = None,
    ) -> StepOutput:
        """Predict the next frame.

        Parameters
        ----------
        data : MeshGraph or torch_geometric.data.Batch
            The mesh (``pos``, ``edge_index``, ``boundary``) and, by default, the input frames
            (``fields``) and conditions (``cond``).
        history : torch.Tensor, optional
            Physical input frames ``[h, N, C]`` (or ``[N, C]``), oldest first; the last
            ``config.history`` are used and a shorter history repeats its first frame.
            Default: ``data.fields``.
        cond : torch.Tensor or mapping, optional
            Physical conditions ``[K]``, ``[B, K]`` or ``{name: value}``; default: ``data.cond``.
        state : torch.Tensor, optional
            Temporal latent state from the previous step; default: a fresh state.
        context : MeshContext, optional
            :meth:`prepare` of ``data``, to skip the per-mesh work in a loop.

        Returns
        -------
        StepOutput
            ``fields`` (physical next frame), ``delta`` (normalized increment), ``normalized``,
            ``state``, ``node_features``.

        Shapes
        ------
        ``history [h, N, C]``, ``cond [B, K]`` -> ``fields, delta [N, C]``, ``state [B, S]``
        """
        context = context if context is not None else self.prepare(data)
        num_nodes = context.pos.size(0)
        frames = self._frames(data, history, num_nodes)
        cond_n = self.conditions(data, cond, context.num_graphs)
        inputs = self._inputs(frames, num_nodes, context.pos_normalized)
        step = self._compiled.get("step") or self._step
        tokens, delta, state = step(context, inputs, cond_n, state)
        following = self.normalizer.apply_delta(frames[-1], delta)
        return StepOutput(
            fields=following,
            delta=delta,
            normalized=self.normalizer.normalize_fields(following),
            state=state,
            node_features=tokens,
        )

    def initial(
        self,
        data: Data,
        cond: Tensor | Mapping[str, float] | None = None,
        *,
        context: MeshContext | None = None,
    ) -> StepOutput:
        """The first frame from the mesh and the conditions alone (the initial head).

        Returns a :class:`StepOutput` whose ``delta`` is ``None``; train the head on
        ``normalized`` against ``model.normalizer.normalize_fields(first_frame)``.
        """
        if self.initial_decoder is None:
            msg = f"{type(self).__name__} was built without an initial head (decoder.initial_head)"
            raise ValueError(msg)
        context = context if context is not None else self.prepare(data)
        num_nodes = context.pos.size(0)
        cond_n = self.conditions(data, cond, context.num_graphs)
        inputs = self._inputs(None, num_nodes, context.pos_normalized)
        tokens, state = self.process(context, inputs, cond_n, None)
        normalized = self.initial_decoder(tokens)
        return StepOutput(
            fields=self.normalizer.denormalize_fields(normalized),
            delta=None,
            normalized=normalized,
            state=state,
            node_features=tokens,
        )

    def rollout_steps(
        self,
        data: Data,
        steps: int,
        initial: Tensor | None = None,
        *,
        cond: Tensor | Mapping[str, float] | None = None,
        state: Tensor | None = None,
        teacher: Tensor | None = None,
        context: MeshContext | None = None,
        detach: bool = False,
    ) -> Iterator[RolloutStep]:
        """The rollout loop: every step it takes, as it takes it.

        The one loop that chains model steps; :meth:`rollout`, :meth:`trajectory`,
        ``meshfield.generate``, fine-tuning, the refiner and evaluation all run it. It leaves
        the gradient mode to the caller (a generator cannot hold ``torch.no_grad`` across its
        yields).

        Parameters
        ----------
        data, steps, initial, cond, state
            As in :meth:`rollout`.
        teacher : torch.Tensor, optional
            Physical frames ``[T, N, C]`` to read the history from instead of the rollout's
            own predictions (teacher forcing; the temporal state is still carried from step to
            step). ``initial`` defaults to its first ``history`` frames and ``steps`` may reach
            ``T - len(initial)``. Default: none (the model reads its own predictions).
        context : MeshContext, optional
            :meth:`prepare` of ``data``. Default: computed once here.
        detach : bool, default: False
            Feed the next step detached copies of the predicted frame and state (the
            pushforward trick without backpropagation through the unroll).

        Yields
        ------
        RolloutStep
            ``(index, state_in, output)`` for every produced frame, the generated first frame
            (index 0) included.
        """
        if steps < 0:
            msg = f"'steps' must be >= 0 (got {steps})"
            raise ValueError(msg)
        context = context if context is not None else self.prepare(data)
        if teacher is not None:
            teacher = teacher.unsqueeze(0) if teacher.dim() == 2 else teacher
            if initial is None:
                initial = teacher[: self.history]
            if initial.dim() == 3 and initial.size(0) + steps > teacher.size(0):
                msg = (
                    f"{steps} steps after {initial.size(0)} initial frames need "
                    f"{initial.size(0) + steps} teacher frames (got {teacher.size(0)})"
                )
                raise ValueError(msg)
        if initial is None:
            out = self.initial(data, cond, context=context)
            yield RolloutStep(0, None, out, out.fields[:0].unsqueeze(0))
            frames, state = [out.fields], out.state
        else:
            initial = initial.unsqueeze(0) if initial.dim() == 2 else initial
            frames = list(initial.unbind(0))
        for _ in range(steps):
            index = len(frames)
            first = max(index - self.history, 0)
            history = (
                torch.stack(frames[first:index]) if teacher is None else teacher[first:index]
            )
            out = self(data, history, cond, state, context=context)
            yield RolloutStep(index, state, out, history)
            following, state = out.fields, out.state
            if detach:
                following = following.detach()
                state = None if state is None else state.detach()
            frames.append(following)

    def trajectory(
        self,
        data: Data,
        steps: int,
        initial: Tensor | None = None,
        *,
        cond: Tensor | Mapping[str, float] | None = None,
        state: Tensor | None = None,
        grad: bool = False,
        teacher: Tensor | None = None,
        keep_outputs: bool = False,
        query: Tensor | None = None,
        progress: bool = False,
    ) -> Trajectory:
        """Roll out and keep what later work on the rollout needs.

        Parameters
        ----------
        data, steps, initial, cond, state, grad
            As in :meth:`rollout`.
        teacher : torch.Tensor, optional
            Teacher forcing, see :meth:`rollout_steps`.
        keep_outputs : bool, default: False
            Keep every step's :class:`StepOutput` (node tokens included); otherwise
            :meth:`Trajectory.step_output` recomputes one from the state its step started
            from, with the model's weights at that time (fine-tuning relies on this).
        query : torch.Tensor, optional
            Physical points ``[Q, d]``: the decoder's values there at every produced frame
            are kept in ``queries`` (on the CPU).
        progress : bool, default: False
            Show a progress bar over the steps.

        Returns
        -------
        Trajectory
        """
        from meshfield._progress import progress_bar

        if steps < 0:
            msg = f"'steps' must be >= 0 (got {steps})"
            raise ValueError(msg)
        guard = contextlib.nullcontext() if grad else torch.no_grad()
        with guard:
            context = self.prepare(data)
            if teacher is not None and initial is None:
                teacher = teacher.unsqueeze(0) if teacher.dim() == 2 else teacher
                initial = teacher[: self.history]
            given = [] if initial is None else list(
                (initial.unsqueeze(0) if initial.dim() == 2 else initial).unbind(0)
            )
            points = None
            if query is not None:
                points = query.to(device=context.pos.device, dtype=context.pos.dtype)
            frames, states_in, outputs, queried = list(given), {}, {}, []
            bar = progress_bar(
                total=steps, desc="generate", unit="step", enabled=progress, leave=False
            )
            try:
                for step in self.rollout_steps(
                    data, steps, initial, cond=cond, state=state, teacher=teacher, context=context
                ):
                    frames.append(step.output.fields)
                    states_in[step.index] = step.state_in
                    if keep_outputs:
                        outputs[step.index] = step.output
                    if points is not None:
                        queried.append(self.query(points, step.output, context.pos).cpu())
                    if step.index > 0:
                        bar.update(1)
            finally:
                bar.close()
            return Trajectory(
                frames=torch.stack(frames),
                num_input=len(given),
                states_in=states_in,
                outputs=outputs,
                queries=torch.stack(queried) if queried else None,
                model=self,
                data=data,
                cond=cond,
                context=context,
                teacher=teacher,
            )

    def rollout(
        self,
        data: Data,
        steps: int,
        initial: Tensor | None = None,
        *,
        cond: Tensor | Mapping[str, float] | None = None,
        state: Tensor | None = None,
        grad: bool = False,
    ) -> Tensor:
        """Roll the model out for ``steps`` steps: the frames of :meth:`trajectory`.

        Parameters
        ----------
        data : MeshGraph or torch_geometric.data.Batch
            The mesh and (by default) the conditions.
        steps : int
            Frames to predict after the initial ones.
        initial : torch.Tensor, optional
            Physical initial frames ``[h0, N, C]`` (or ``[N, C]``). Default: generate the first
            frame from the mesh and conditions (:meth:`initial`), then roll out from it.
        cond : torch.Tensor or mapping, optional
            Conditions; default: ``data.cond``.
        state : torch.Tensor, optional
            Temporal latent state to start from.
        grad : bool, default: False
            Keep the autograd graph (for multi-step training); otherwise no gradients are
            recorded.

        Returns
        -------
        torch.Tensor
            The trajectory ``[h0 + steps, N, C]`` (``h0 = 1`` for a generated first frame),
            initial frames first, physical units.
        """
        return self.trajectory(
            data, steps, initial, cond=cond, state=state, grad=grad
        ).frames

    def query(
        self,
        query: Tensor,
        output: StepOutput,
        pos: Tensor,
        *,
        batch: Tensor | None = None,
        query_batch: Tensor | None = None,
    ) -> Tensor:
        """The predicted frame of ``output`` at arbitrary points, differentiable in ``query``.

        Parameters
        ----------
        query : torch.Tensor
            Physical query coordinates ``[Q, d]``; give ``requires_grad=True`` for derivatives
            (``torch.autograd.grad(..., create_graph=True)``).
        output : StepOutput
            A step of this model on the mesh.
        pos : torch.Tensor
            Physical node positions of that mesh ``[N, d]``.
        batch, query_batch : torch.Tensor, optional
            Graph index of every node / query point; default: one graph.

        Returns
        -------
        torch.Tensor
            Physical fields ``[Q, C]``.
        """
        normalized = self.query_decoder(
            self.normalizer.normalize_pos(query),
            output.node_features,
            self.normalizer.normalize_pos(pos),
            values=output.normalized,
            batch=batch,
            query_batch=query_batch,
        )
        return self.normalizer.denormalize_fields(normalized)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(fields={list(self.field_names)}, "
            f"cond={list(self.cond_names)}, width={self.width}, history={self.history})"
        )
