"""Bring your own mesh and PDE: a user's mesh file, a user's data, a PDE written in a few lines.

What a user with their own CFD mesh and data does, with no data spec and no built-in case:

1. read a mesh file (any format meshio reads: Gmsh ``.msh``, ``.vtu``, ``.xdmf``, ...; default:
   the cylinder-in-a-channel mesh bundled with meshfield) into a mesh graph;
2. attach data to it: here a synthetic passive scalar, a Gaussian blob carried past the
   cylinder by a uniform stream while it diffuses (the exact solution of advection-diffusion in
   free space), one trajectory per diffusivity and speed. With your own data you would set
   ``graph.fields`` ``[T, N, C]``, ``graph.field_names``, ``graph.times`` and ``graph.cond``
   the same way (or read a ``.pvd``/``.xdmf`` time series with :func:`meshfield.load_mesh`);
3. write the governing equation as a :class:`meshfield.physics.PDE` subclass (six lines) and
   compute its residual on the mesh with the discrete operators (least-squares gradients,
   finite-element Laplacian, finite differences in time), checking that the data satisfies it;
4. train an HMT model on the trajectories for a few epochs;
5. roll it out on a held-out diffusivity, score it (MSE, rel-L2, R, MSE-R) and save the
   result as ``result.pvd`` with a residual map (``residual.png``).

Run it with::

    python examples/custom_mesh.py --quick                 # about 2 minutes on a 2-core CPU
    python examples/custom_mesh.py path/to/your_mesh.msh   # your own 2D mesh

``--out DIR`` picks the output folder (default: ``runs/examples/custom_mesh``). The blob starts
at ``--start X Y`` (default: 5 units upstream of the bundled mesh's cylinder, 2 units above
its axis); give a point inside your own domain.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import torch

import meshfield
from meshfield.metrics import mse_r_on_mesh, relative_l2
from meshfield.physics import PDE, MeshOperators
from meshfield.train import TrainConfig, Trainer
from meshfield.viz import residual_map


@dataclass
class ScalarTransport(PDE):
    r"""Advection-diffusion of a scalar ``c`` by a uniform stream ``(a, 0)``.

    .. math:: r = \partial_t c + a\, \partial_x c - \kappa \Delta c

    ``a`` and ``kappa`` are read from each trajectory's conditions.
    """

    a: float | None = None
    kappa: float | None = None
    fields = ("c",)
    components = ("transport",)
    conditions = ("a", "kappa")

    def equations(self, d, cond):
        # returned as terms: their sum is the residual, their magnitudes its scale
        return {
            "transport": (
                d.dt("c"),
                cond["a"] * d.partial("c", 0),
                -cond["kappa"] * d.laplacian("c"),
            )
        }


def blob(
    pos: torch.Tensor,
    times: torch.Tensor,
    *,
    start,
    a: float,
    kappa: float,
    width: float,
):
    """The exact solution: a Gaussian of initial width ``width`` advected and diffused.

    Parameters
    ----------
    pos : Tensor
        ``[N, 2]`` node positions.
    times : Tensor
        ``[T]``.
    start : sequence of float
        Centre at ``t = 0``.
    a, kappa, width : float
        Stream speed (along x), diffusivity and initial width.

    Returns
    -------
    Tensor
        ``[T, N, 1]``.
    """
    t = times[:, None].double()
    spread = width**2 + 4.0 * kappa * t
    dx = pos[None, :, 0].double() - start[0] - a * t
    dy = pos[None, :, 1].double() - start[1]
    return (width**2 / spread * torch.exp(-(dx**2 + dy**2) / spread)).float()[..., None]


def with_data(
    mesh, times: torch.Tensor, *, start, a: float, kappa: float, width: float
):
    """A copy of the mesh graph carrying one trajectory and its conditions."""
    graph = mesh.clone()
    graph.fields = blob(mesh.pos, times, start=start, a=a, kappa=kappa, width=width)
    graph.field_names = ["c"]
    graph.times = times
    graph.cond = torch.tensor([a, kappa])
    graph.cond_names = ["a", "kappa"]
    meshfield.validate(graph)
    return graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "mesh",
        nargs="?",
        type=Path,
        default=Path(str(files("meshfield.assets") / "cylinder.msh")),
        help="a 2D mesh file (default: the bundled cylinder channel)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small settings (about 2 minutes)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/examples/custom_mesh"))
    parser.add_argument(
        "--start", type=float, nargs=2, default=(-5.0, 2.0), metavar=("X", "Y")
    )
    parser.add_argument("--width", type=float, default=1.5, help="initial blob width")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    clock = time.perf_counter()

    # 1. the mesh, as a PyG graph with positions, cells, edges and boundary groups
    mesh = meshfield.load_mesh(args.mesh)
    print(
        f"mesh {args.mesh.name}: {mesh.pos.size(0)} nodes, boundary groups "
        f"{list(getattr(mesh, 'boundary_names', []))[1:]}"
    )

    # 2. user data: one trajectory per (speed, diffusivity); the last one is held out
    frames = 7 if args.quick else 31
    times = torch.linspace(0.0, 3.0 if args.quick else 12.0, frames)
    if args.quick:
        train_conditions = [(1.0, 0.05), (1.0, 0.2), (0.8, 0.1)]
    else:
        train_conditions = [
            (a, k) for a in (0.6, 0.8, 1.0, 1.2) for k in (0.02, 0.05, 0.1, 0.2)
        ]
    test_condition = (0.9, 0.12)
    data = {"start": args.start, "width": args.width}
    train_set = [
        with_data(mesh, times, a=a, kappa=k, **data) for a, k in train_conditions
    ]
    test = with_data(mesh, times, a=test_condition[0], kappa=test_condition[1], **data)

    # 3. the PDE residual of the data on the mesh: small where the mesh resolves the blob
    pde = ScalarTransport()
    operators = MeshOperators.from_data(
        mesh
    )  # built once, reused for every residual below
    conditions = dict(zip(test.cond_names, test.cond.tolist(), strict=True))
    reference_residual = pde.mesh_residual(
        operators, test.fields, times=times, cond=conditions, field_names=["c"]
    )
    # the operators are usable on their own too, e.g. the gradient of the first frame
    gradient = operators.grad(test.fields[0].double())
    print(
        f"reference data: rms PDE residual {reference_residual.square().mean().sqrt():.3g}, "
        f"max |grad c| at t = 0 {gradient.norm(dim=-1).max():.3g}"
    )

    # 4. a short training run on the in-memory trajectories (no dataset folder needed)
    backbone = {
        "pattern": "MA",
        "patch_size": 128,
        "num_heads": 2,
        "mamba": {"d_state": 8, "headdim": 8, "chunk_size": 32},
    }
    config = TrainConfig(
        model="hmt",
        width=32 if args.quick else 64,
        model_options={
            "d_latent": 16,
            "encoder": {"message_passing": 1},
            "backbone": backbone,
        },
        # quick: 8 steps of 2 trajectories (the bundled mesh has 1651 nodes)
        epochs=2 if args.quick else 30,
        batch_size=2 if args.quick else 4,
        steps_per_epoch=4 if args.quick else None,
        warmup_steps=2 if args.quick else 50,
        lr=2e-3 if args.quick else 1e-3,
        out_dir=str(args.out / "train"),
    )
    run = Trainer(config, train_set, [test]).fit()
    model = meshfield.load_model(run.best)

    # 5. rollout on the held-out condition, scores, files
    with torch.no_grad():
        prediction = model.rollout(
            test, frames - model.history, initial=test.fields[: model.history]
        )
    score = mse_r_on_mesh(
        prediction,
        test.fields,
        pde,
        operators,
        times=times,
        cond=conditions,
        field_names=["c"],
        interior_only=True,
    )
    rel_l2 = relative_l2(prediction[1:], test.fields[1:], per="total").item()
    residual = pde.mesh_residual(
        operators, prediction, times=times, cond=conditions, field_names=["c"]
    )
    result = meshfield.FieldResult(
        prediction,
        ["c"],
        times,
        mesh,
        residual=residual.float(),
        residual_names=list(pde.components),
        reference=test.fields,
        units={"c": "1", "t": "s"},
        cond=conditions,
    )
    result.save(args.out / "result.pvd")
    picture = residual_map(result, field="c", path=args.out / "residual.png")

    print()
    print(
        f"{'model':<12}{'MSE':>12}{'rel-L2':>12}{'R':>12}{'R/R_ref':>12}{'MSE-R':>12}"
    )
    print(
        f"{'HMT':<12}{score.mse:>12.4g}{rel_l2:>12.4g}{score.r:>12.4g}{score.r_ratio:>12.4g}"
        f"{score.score:>12.4g}"
    )
    print(
        f"(held-out a={test_condition[0]}, kappa={test_condition[1]}; R_ref = {score.r_ref:.4g} "
        "of the exact solution on the same mesh; MSE-R = MSE + R/R_ref)"
    )
    print(f"wrote {args.out / 'result.pvd'}, {picture}")
    print(f"done in {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
