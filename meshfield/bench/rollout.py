"""The shipped model's rollout against pimpleFoam on the same mesh, and its arithmetic floor.

``meshfield bench rollout [--re 150] [--compile] [--no-openfoam] [--repeat 2] [--batch 4]
[--model RUN]``

All in one run, on the shipped ``cylinder_wake`` model (or ``--model``, a checkpoint or run
folder of a model of the same case, on the shipped model's mesh and data spec) and the mesh
of its data spec:

1. **generation**: ``meshfield.generate(None, {"Re": Re})`` over the spec's time window (99
   steps; 33 for a model of ``frame_step`` 3) on the bundled mesh, with and without the
   residual, after one untimed call (best of ``--repeat``), and ``--batch``
   conditions at once (:func:`meshfield.generate_many`) against as many calls one by one;
2. **the same 20 time units from the same state**: pimpleFoam spins the flow up on the spec's
   mesh (untimed), then runs 20 more time units writing every snapshot interval (timed, one
   core, as ``meshfield datagen`` runs it); the model rolls out the same 100 snapshot
   intervals (in ``100 / frame_step`` steps, rounded up) from the solver's state at the start
   of that stretch (timed, the torch threads of this process). Printed: both times and their
   ratio;
3. **the arithmetic floor**: the step's floating-point operations of matrix products and
   attention (:func:`meshfield.bench._floor.count_flops`) divided by the GEMM rate measured in
   this run on the step's own shapes (``[N, D] x [D, 4D]``), beside the measured step time.

``--compile`` adds the compiled step (:meth:`~meshfield.models.FieldModel.compile_step`) to
(1) and (2), after its compilation (timed on its own). OpenFOAM is skipped when it is not
installed or with ``--no-openfoam``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from meshfield.bench._floor import best_time, count_flops, gemm_rate

__all__ = ["main"]

SPAN = 20.0  # time units of the side-by-side run


def step_flops(model: Any, graph: Any, cond: dict[str, float]) -> int:
    """Floating-point operations of one model step on ``graph`` (matrix products, attention)."""
    import torch

    frames = graph.fields[:1] if getattr(graph, "fields", None) is not None else None
    with torch.no_grad():
        context = model.prepare(graph)
        if frames is None:
            frames = model.initial(graph, cond, context=context).fields.unsqueeze(0)
        _, flops = count_flops(lambda: model(graph, frames, cond, None, context=context))
    return flops


def _solver_run(spec: Any, reynolds: float, workdir: Path) -> tuple[float, Any]:
    """Spin up, then time ``SPAN`` time units of pimpleFoam; the state at the start of them."""
    from meshfield.cases import cylinder_wake as case_module
    from meshfield.cases import openfoam as foam

    mesh = foam.merge_settings(
        spec.mesh.params, case_module.DEFAULT_MESH, "mesh.params", "cylinder_wake"
    )
    settings = foam.merge_settings(
        spec.solver.settings,
        case_module.DEFAULT_SOLVER,
        "solver.settings",
        "cylinder_wake",
    )
    case = workdir / "case"
    start = spec.time.spin_up
    interval = spec.time.interval
    case_module.setup_case(case, reynolds, mesh=mesh, solver=settings, spin_up=start)
    foam.run_tool(
        "pimpleFoam", case, log="log.pimpleFoam.spinUp", timeout=settings["timeout"]
    )
    state = foam.read_planar(
        case,
        time_range=(start, start),
        patches=case_module._PATCHES,
        cond={"Re": reynolds},
    )
    foam.write_foam_dict(
        case / "system" / "controlDict",
        case_module._control_dict(start + SPAN, interval, settings, mesh["thickness"]),
    )
    began = time.perf_counter()
    foam.run_tool("pimpleFoam", case, log="log.pimpleFoam", timeout=settings["timeout"])
    return time.perf_counter() - began, state


def _same_case(model: Any, shipped: Any, where: str) -> Any:
    """``model`` if it steps the shipped model's fields under its conditions in its dimension."""
    mine = (tuple(model.field_names), tuple(model.cond_names), model.config.dim)
    theirs = (tuple(shipped.field_names), tuple(shipped.cond_names), shipped.config.dim)
    if mine != theirs:
        msg = (
            f"{where}: bench rollout times models of the shipped cylinder_wake case (fields "
            f"{list(theirs[0])}, conditions {list(theirs[1])}, {theirs[2]}D); this one has "
            f"fields {list(mine[0])}, conditions {list(mine[1])}, {mine[2]}D"
        )
        raise ValueError(msg)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="meshfield bench rollout", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--re", type=float, default=150.0, help="Reynolds number (default 150)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="timed calls, best kept")
    parser.add_argument("--compile", action="store_true", help="also the compiled step")
    parser.add_argument(
        "--no-openfoam", action="store_true", help="skip the solver run"
    )
    parser.add_argument(
        "--batch", type=int, default=4, help="conditions rolled out as one batch (default 4)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a checkpoint or run folder of a cylinder_wake model to time instead of the "
        "shipped one (on the shipped model's mesh)",
    )
    args = parser.parse_args(argv)

    import torch

    import meshfield
    from meshfield.api import _mesh_graph, resolve_model
    from meshfield.cases.openfoam import openfoam_available
    from meshfield.data.spec import load_spec
    from meshfield.nn.ssm import cpu_scan
    from meshfield.physics.spec import pde_from_spec
    from meshfield.runtime import malloc_setting, tune_malloc

    tune_malloc()
    resolved = resolve_model("cylinder_wake")
    graph = _mesh_graph(None, resolved)  # the bundled mesh
    model = resolved.model
    label = "shipped cylinder_wake model"
    if args.model is not None:
        model = _same_case(resolve_model(args.model).model, model, args.model)
        label = f"model {args.model}"
    model = model.eval()
    cond = {"Re": args.re}
    pde = pde_from_spec(
        resolved.details.spec, cond, model.field_names, dim=model.config.dim
    )
    num_nodes = graph.pos.size(0)
    print(
        f"{label}, bundled mesh {num_nodes} nodes, Re {args.re:g}, "
        f"{torch.get_num_threads()} torch threads; {malloc_setting()}"
    )
    print(f"  {cpu_scan.describe()} (a compiled step runs the chunked scan)")

    spec = load_spec(resolved.details.spec)
    frame_step = int(getattr(model, "frame_step", 1))  # snapshot intervals per model step
    # model steps over the solver's span, rounded up: the model never covers less time
    steps = math.ceil(SPAN / (spec.time.interval * frame_step) - 1e-9)
    window = (spec.time.num_snapshots - 1) // frame_step  # steps over the spec's time window
    solver_s = state = None
    if args.no_openfoam or not openfoam_available(("pimpleFoam", "foamDictionary")):
        skipped = "" if args.no_openfoam else " (OpenFOAM not installed)"
    else:
        skipped = None
        workdir = Path(tempfile.mkdtemp(prefix="meshfield-bench-rollout-"))
        try:
            print(
                f"pimpleFoam: spin-up to t = {spec.time.spin_up:g} (untimed) ...",
                flush=True,
            )
            solver_s, state = _solver_run(spec, args.re, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    rows: dict[str, dict[str, float]] = {}
    for label in ["eager", "compiled"] if args.compile else ["eager"]:
        row: dict[str, float] = {}
        began = time.perf_counter()
        if label == "compiled":
            model.compile_step()
        meshfield.generate(graph, cond, model=model, steps=2, residual=False)  # untimed
        if label == "compiled":
            row["compile_s"] = time.perf_counter() - began

        def plain() -> None:
            meshfield.generate(graph, cond, model=model, steps=window, residual=False)

        row["generate_s"] = best_time(plain, args.repeat)
        row["step_ms"] = row["generate_s"] / window * 1e3
        if label == "eager" and args.batch > 1:
            many = [{"Re": args.re + 10.0 * k} for k in range(args.batch)]

            def batched(many: list[dict[str, float]] = many) -> None:
                meshfield.generate_many(graph, many, model=model, steps=window, residual=False)

            batched()  # untimed
            row["batch_s"] = best_time(batched, args.repeat)
        if state is not None:
            initial = state.fields[0]

            def side_by_side(initial: Any = initial) -> None:
                meshfield.generate(
                    state,
                    cond,
                    model=model,
                    initial=initial,
                    steps=steps,
                    residual=False,
                )

            meshfield.generate(
                state, cond, model=model, initial=initial, steps=2, residual=False
            )
            row["span_s"] = best_time(side_by_side, args.repeat)
        rows[label] = row

    model.compile_step(False)
    result = meshfield.generate(graph, cond, model=model, steps=window, residual=False)
    residual_s = best_time(
        lambda: pde.mesh_residual(
            graph,
            result.fields.double(),
            times=result.times.double(),
            cond=cond,
            field_names=list(model.field_names),
        ),
        args.repeat,
    )
    flops = step_flops(model, graph, cond)
    rate = gemm_rate(num_nodes, model.width)
    floor_ms = flops / rate * 1e3

    step_text = (
        f", {frame_step} snapshot intervals per step" if frame_step > 1 else ""
    )
    print(f"\n{window}-step generation from the condition alone{step_text}")
    for label, row in rows.items():
        extra = (
            f"   (first call, compiling: {row['compile_s']:.1f} s)"
            if "compile_s" in row
            else ""
        )
        print(
            f"  {label:8s}  {row['generate_s']:6.2f} s  {row['step_ms']:6.1f} ms/step{extra}"
        )
    print(
        f"  the Navier-Stokes residual of all {window + 1} frames on the mesh: +{residual_s:.2f} s"
    )
    eager = rows["eager"]
    if "batch_s" in eager:
        print(
            f"  {args.batch} conditions as one batch of graphs (generate_many): "
            f"{eager['batch_s']:.2f} s, {args.batch} calls one by one {args.batch * eager['generate_s']:.2f} s: "
            f"{args.batch * eager['generate_s'] / eager['batch_s']:.2f}x the throughput"
        )
    print(
        f"\narithmetic floor: {flops / 1e9:.3f} GFLOP per step / {rate / 1e9:.0f} GFLOP/s "
        f"(GEMM [{num_nodes}, {model.width}] x [{model.width}, {4 * model.width}], this run) "
        f"= {floor_ms:.1f} ms"
    )
    for label, row in rows.items():
        print(f"  {label:8s}  step / floor = {row['step_ms'] / floor_ms:.1f}x")

    if skipped is not None:
        print(f"\npimpleFoam: skipped{skipped}")
        return 0
    print(
        f"\nthe same {SPAN:g} time units ({round(SPAN / spec.time.interval)} snapshot "
        f"intervals; the model: {steps} steps, {steps * frame_step * spec.time.interval:g} "
        f"time units) from the solver's state at t = {spec.time.spin_up:g}, on its mesh "
        f"({state.pos.size(0)} nodes):"
    )
    print(f"  pimpleFoam (1 core)  {solver_s:7.2f} s")
    for label, row in rows.items():
        print(
            f"  model, {label:8s}     {row['span_s']:7.2f} s   pimpleFoam / model = "
            f"{solver_s / row['span_s']:.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
