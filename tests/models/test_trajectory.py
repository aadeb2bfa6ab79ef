"""The one rollout loop: what it yields, what a trajectory keeps, teacher forcing, detaching."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import tiny_hmt_config

from meshfield.models import RolloutStep, Trajectory, build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("hmt", **vars(tiny_hmt_config())).eval()


def _manual(model, mesh, initial, steps, source=None):
    """Chained calls of the model, the state carried, history from ``source`` if given."""
    frames, outputs, states = list(initial.unbind(0)), [], []
    state = None
    for _ in range(steps):
        n = len(frames)
        reading = frames if source is None else list(source.unbind(0))
        history = torch.stack(reading[max(n - model.history, 0) : n])
        states.append(state)
        out = model(mesh, history, state=state)
        outputs.append(out)
        frames.append(out.fields)
        state = out.state
    return torch.stack(frames), outputs, states


def test_rollout_steps_chain_the_model_and_carry_the_state(model, mesh) -> None:
    with torch.no_grad():
        steps = list(model.rollout_steps(mesh, 3, mesh.fields[:2]))
        frames, outputs, states = _manual(model, mesh, mesh.fields[:2], 3)
    assert [s.index for s in steps] == [2, 3, 4]
    assert all(isinstance(s, RolloutStep) for s in steps)
    assert steps[0].state_in is None and states[0] is None
    for step, out, state in zip(steps, outputs, states):
        torch.testing.assert_close(step.output.fields, out.fields)
        torch.testing.assert_close(step.output.state, out.state)
        if state is not None:
            torch.testing.assert_close(step.state_in, state)
        # the last frame the step read is the frame before the one it produced
        torch.testing.assert_close(step.history[-1], frames[step.index - 1])


def test_trajectory_recomputes_any_step_exactly(model, mesh) -> None:
    query = torch.rand(7, 2)
    kept = model.trajectory(mesh, 3, keep_outputs=True, query=query)
    lean = model.trajectory(mesh, 3, query=query)
    assert isinstance(lean, Trajectory)
    assert lean.num_input == 0 and lean.start == 1 and lean.num_steps == 4
    torch.testing.assert_close(lean.frames, model.rollout(mesh, 3))
    assert sorted(kept.outputs) == [0, 1, 2, 3] and not lean.outputs
    with torch.no_grad():
        for n in range(4):
            torch.testing.assert_close(lean.step_output(n).fields, kept.outputs[n].fields)
            torch.testing.assert_close(
                lean.step_output(n).node_features, kept.outputs[n].node_features
            )
    # decoder values at the query points of every produced frame, the generated first one too
    assert lean.queries is not None and lean.queries.shape == (4, 7, 2)
    with torch.no_grad():
        at_two = model.query(query, kept.outputs[2], mesh.pos)
    torch.testing.assert_close(lean.queries[2], at_two)


def test_given_frames_have_no_step(model, mesh) -> None:
    trajectory = model.trajectory(mesh, 2, mesh.fields[:2])
    assert trajectory.num_input == 2 and trajectory.start == 2
    torch.testing.assert_close(trajectory.frames[:2], mesh.fields[:2])
    with pytest.raises(IndexError, match="was given"):
        trajectory.step_output(1)


def test_teacher_forcing_reads_the_given_frames(model, mesh) -> None:
    teacher = mesh.fields
    steps = teacher.size(0) - model.history
    with torch.no_grad():
        forced = model.trajectory(mesh, steps, teacher=teacher)
        _, outputs, _ = _manual(model, mesh, teacher[: model.history], steps, source=teacher)
        free = model.rollout(mesh, steps, teacher[: model.history])
    for n, out in enumerate(outputs, start=model.history):
        torch.testing.assert_close(forced.frames[n], out.fields)
        torch.testing.assert_close(forced.step_output(n).fields, out.fields)
    # after the first step, reading the data differs from reading the predictions
    assert not torch.allclose(forced.frames[-1], free[-1])
    with pytest.raises(ValueError, match="teacher frames"):
        list(model.rollout_steps(mesh, steps + 1, teacher=teacher))


def test_detach_cuts_the_graph_between_steps(model, mesh) -> None:
    model.train()
    attached = list(model.rollout_steps(mesh, 2, mesh.fields[:1]))
    detached = list(model.rollout_steps(mesh, 2, mesh.fields[:1], detach=True))
    # the second step reads the first step's prediction, as it is or detached
    first = attached[0].output.fields
    torch.testing.assert_close(attached[1].history[-1], first)
    torch.testing.assert_close(detached[1].history[-1], detached[0].output.fields.detach())
    (grad,) = torch.autograd.grad(attached[1].output.fields.sum(), first)
    assert grad.abs().sum() > 0
    assert not detached[1].history.requires_grad
    assert detached[1].state_in is None or not detached[1].state_in.requires_grad
    assert attached[1].state_in is None or attached[1].state_in.requires_grad


def test_step_output_recomputes_with_the_current_weights(model, mesh) -> None:
    lean = model.trajectory(mesh, 2)
    before = lean.step_output(2).fields
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    after = lean.step_output(2).fields
    with torch.no_grad():
        history = lean.frames[max(2 - model.history, 0) : 2]
        expected = model(mesh, history, state=lean.states_in[2]).fields
    torch.testing.assert_close(after, expected)
    assert not torch.allclose(before, after)
