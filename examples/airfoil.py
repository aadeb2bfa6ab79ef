"""Steady RANS flow around an airfoil: OpenFOAM data, a steady-field HMT, the RANS residual.

A steady case: each run is one converged field, so the model does not step in time. HMT's
initial head maps the mesh and the conditions (angle of attack, free-stream speed) straight to
``U_x, U_y, p, nut``; it is trained here with a few lines of PyTorch.

1. run OpenFOAM's ``simpleFoam`` (Spalart-Allmaras) on the airFoil2D tutorial mesh for the
   conditions of ``data_specs/airfoil.yaml``, or reuse a dataset folder given with ``--data``;
2. train the initial head of an HMT model on the converged fields;
3. write the steady RANS equations (eddy viscosity ``nut``) as a :class:`meshfield.physics.PDE`
   in a few lines and compute their residual on the mesh for the reference and the prediction;
4. score the prediction on the held-out conditions (MSE, rel-L2, R, MSE-R);
5. save ``result.pvd`` (ParaView, PyVista) and a residual map of the velocity
   (``residual_pretrained.png``).

Physics fine-tuning (:func:`meshfield.refine.finetune`) refines a rollout frame by frame and
needs at least two frames, so it does not apply to steady data yet: the table has a
"pretrained" row only (see ``examples/README.md``).

Needs OpenFOAM and its tutorials (Debian/Ubuntu: ``apt-get install -y openfoam
openfoam-examples``). Run it with::

    python examples/airfoil.py --quick             # about 3 minutes on a 2-core CPU
    python examples/airfoil.py                     # under an hour on a 2-core CPU

``--out DIR`` picks the output folder (default: ``runs/examples/airfoil``), ``--data DIR`` an
existing dataset folder. Data generation resumes where it stopped when the script is run again
with the same ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from tqdm.auto import tqdm

import meshfield
from meshfield.cases.datagen import datagen
from meshfield.data import load_dataset, load_spec
from meshfield.metrics import mse_r_on_mesh, relative_l2
from meshfield.models import build_model
from meshfield.physics import PDE, MeshOperators
from meshfield.viz import residual_map

SPEC = Path(__file__).resolve().parent.parent / "data_specs" / "airfoil.yaml"


@dataclass
class SteadyRANS(PDE):
    r"""Steady incompressible RANS with an eddy viscosity (Boussinesq), kinematic pressure.

    .. math::
        r_c = \nabla\cdot\mathbf u, \qquad
        r_i = (\mathbf u\cdot\nabla) u_i + \partial_i p - (\nu + \nu_t) \Delta u_i
              - \sum_j \partial_j \nu_t (\partial_j u_i + \partial_i u_j)
    """

    nu: float = 1e-5
    fields = ("U_x", "U_y", "p", "nut")
    components = ("continuity", "momentum_x", "momentum_y")
    conditions = ("nu",)
    time_dependent = False

    def equations(self, d, cond):
        u, v = d.u("U_x"), d.u("U_y")
        grad_u, grad_v, grad_nut = d.grad("U_x"), d.grad("U_y"), d.grad("nut")
        nu_eff = cond["nu"] + d.u("nut")
        out = {"continuity": (grad_u[..., 0], grad_v[..., 1])}
        for i, (name, grad) in enumerate(
            (("momentum_x", grad_u), ("momentum_y", grad_v))
        ):
            # d_j nut (d_j u_i + d_i u_j): the part of div(2 nu_eff S) that a varying nut adds
            stress = grad_nut[..., 0] * (grad[..., 0] + grad_u[..., i]) + grad_nut[
                ..., 1
            ] * (grad[..., 1] + grad_v[..., i])
            out[name] = (
                u * grad[..., 0] + v * grad[..., 1],
                d.grad("p")[..., i],
                -nu_eff * d.laplacian(name.replace("momentum_", "U_")),
                -stress,
            )
        return out


def make_spec(quick: bool):
    """The data spec: the repository's, or a small version of it for ``--quick``."""
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    if quick:
        # 3 + 1 runs, fewer SIMPLE iterations (the fields are near their converged shape)
        raw["conditions"]["aoa"] = {
            "units": "deg",
            "train": [0.0, 4.0, 8.0],
            "test": [6.0],
        }
        raw["conditions"]["U_inf"] = {
            "units": "m/s",
            "train": [20.0, 30.0, 25.0],
            "test": [26.0],
        }
        raw["solver"]["settings"].update(iterations=150)
    return load_spec(raw)


def make_model(quick: bool, train_set):
    """An HMT whose initial head predicts the steady field from the mesh and conditions."""
    first = train_set[0]
    backbone = {
        "d_model": 32 if quick else 64,
        "pattern": "MA" if quick else "MAMA",
        "patch_size": 128,
        "num_heads": 2 if quick else 4,
        "mamba": {"d_state": 8, "headdim": 8, "chunk_size": 32},
    }
    model = build_model(
        "hmt",
        field_names=tuple(first.field_names),
        cond_names=tuple(first.cond_names),
        dim=int(first.pos.size(1)),
        backbone=backbone,
        d_latent=0,  # no time, no temporal latent
        encoder={"fourier_features": 6, "message_passing": 2},
    )
    # steady fields have no increments; only the field and condition statistics are used
    model.normalizer.fit(train_set[i] for i in range(len(train_set)))
    return model


def train_steady(model, train_set, *, steps: int, lr: float, out: Path):
    """Fit the initial head to the converged fields (normalized MSE), then save a checkpoint."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=steps
    )
    graphs = [train_set[i] for i in range(len(train_set))]
    contexts = [
        model.prepare(g) for g in graphs
    ]  # positions, orders: computed once per mesh
    generator = torch.Generator().manual_seed(0)
    model.train()
    bar = tqdm(range(steps), desc="train (steady)", unit="step")
    for _ in bar:
        k = int(torch.randint(len(graphs), (1,), generator=generator))
        predicted = model.initial(graphs[k], context=contexts[k])
        target = model.normalizer.normalize_fields(graphs[k].fields[0])
        loss = (predicted.normalized - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3e}")
    model.eval()
    return meshfield.save_checkpoint(model, out, metadata={"steps": steps})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small settings (about 3 minutes)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/examples/airfoil"))
    parser.add_argument(
        "--data", type=Path, default=None, help="an existing dataset folder"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    clock = time.perf_counter()

    # 1. reference data (resumed run by run when interrupted)
    data_dir = args.data or datagen(make_spec(args.quick), args.out / "data", jobs=1)
    train_set = load_dataset(data_dir, "train")
    test_set = load_dataset(data_dir, "test")

    # 2. the steady-field model
    model = make_model(args.quick, train_set)
    checkpoint = train_steady(
        model,
        train_set,
        steps=30 if args.quick else 3000,
        lr=3e-3 if args.quick else 1e-3,
        out=args.out / "model",
    )

    # 3.-4. the RANS residual of reference and prediction on the same mesh, and the scores
    pde = SteadyRANS(
        nu=float(load_spec(Path(data_dir) / "spec.yaml").pde.constants["nu"])
    )
    rows = []
    for i in range(len(test_set)):
        graph = test_set[i]
        with torch.no_grad():
            prediction = model.initial(graph).fields[None]  # [1, N, C]
        operators = MeshOperators.from_data(graph)
        reference = graph.fields.float()
        score = mse_r_on_mesh(
            prediction[0],
            reference[0],
            pde,
            operators,
            field_names=list(model.field_names),
            scale=model.normalizer.field_std,
            interior_only=True,
        )
        rows.append(
            {
                "mse": score.mse,
                "rel_l2": relative_l2(prediction, reference, per="total").item(),
                "R": score.r,
                "R_ref": score.r_ref,
                "mse_r": score.score,
            }
        )
        if i == 0:
            residual = pde.mesh_residual(
                operators, prediction[0], field_names=list(model.field_names)
            )
            result = meshfield.FieldResult(
                prediction,
                list(model.field_names),
                None,
                graph,
                residual=residual[None].float(),
                residual_names=list(pde.components),
                reference=reference,
                units={"U": "m/s", "p": "m^2/s^2", "nut": "m^2/s"},
                cond=dict(zip(graph.cond_names, graph.cond.tolist(), strict=True)),
            )

    # 5. files
    result.save(args.out / "result.pvd")
    picture = residual_map(result, field="U", path=args.out / "residual_pretrained.png")
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
    (args.out / "metrics.json").write_text(
        json.dumps({"pretrained": mean}, indent=2) + "\n", encoding="utf-8"
    )

    print()
    print(
        f"{'model':<12}{'MSE':>12}{'rel-L2':>12}{'R':>12}{'R/R_ref':>12}{'MSE-R':>12}"
    )
    print(
        f"{'pretrained':<12}{mean['mse']:>12.4g}{mean['rel_l2']:>12.4g}{mean['R']:>12.4g}"
        f"{mean['R'] / mean['R_ref']:>12.4g}{mean['mse_r']:>12.4g}"
    )
    print("fine-tuned  (pending: physics fine-tuning of steady fields)")
    print(
        f"(test runs; MSE of normalized fields, R: mean squared RANS residual in physical units "
        f"on interior nodes, R_ref = {mean['R_ref']:.4g} of the OpenFOAM solution on the same "
        "mesh; MSE-R = MSE + R/R_ref)"
    )
    print(f"wrote {args.out / 'result.pvd'}, {picture}, checkpoint {checkpoint}")
    print(f"done in {time.perf_counter() - clock:.0f} s")


if __name__ == "__main__":
    main()
