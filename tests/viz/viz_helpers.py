"""Shared pieces of the visualisation tests: a result with known fields on the bundled mesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import meshfield
from meshfield.result import FieldResult

MESH = Path(meshfield.__file__).parent / "assets" / "cylinder.msh"
RADIUS = 0.5  # of the cylinder in the bundled mesh


def potential_flow(pos: torch.Tensor, scale: float) -> torch.Tensor:
    """Potential flow past a cylinder of radius 0.5: U_x, U_y and the Bernoulli pressure."""
    x, y = pos[:, 0].double(), pos[:, 1].double()
    r2 = (x**2 + y**2).clamp_min(RADIUS**2)
    a = RADIUS**2 / r2**2
    ux = scale * (1 - a * (x**2 - y**2))
    uy = scale * (-2 * a * x * y)
    p = -0.5 * (ux**2 + uy**2)
    return torch.stack([ux, uy, p], dim=-1)


def make_result(steps: int = 4, *, reference: bool = True, residual: bool = True) -> FieldResult:
    mesh = meshfield.load_mesh(MESH)
    times = torch.linspace(0.0, 1.5, steps)
    fields = torch.stack([potential_flow(mesh.pos, 1.0 + 0.2 * float(t)) for t in times])
    x, y = mesh.pos[:, 0].double(), mesh.pos[:, 1].double()
    bump = 0.05 * torch.sin(x / 2) * torch.cos(y / 2)
    ref = fields + bump[None, :, None] * torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    # stands in for a PDE residual: computed from the fields, largest where they differ
    res = torch.stack([(ref - fields)[..., 0] * 4, (ref - fields)[..., :2].norm(dim=-1)], dim=-1)
    return FieldResult(
        fields=fields.float(),
        field_names=["U_x", "U_y", "p"],
        times=times,
        mesh=mesh,
        residual=res.float() if residual else None,
        residual_names=["continuity", "momentum"] if residual else None,
        reference=ref.float() if reference else None,
        units={"U": "m/s", "p": "Pa", "t": "s"},
        cond={"Re": 100.0},
    )


def assert_not_blank(image: np.ndarray, *, min_colours: int = 30) -> None:
    assert image.ndim == 3 and image.shape[2] == 3
    assert float(image.std()) > 10.0
    colours = len({tuple(c) for c in image.reshape(-1, 3)[::7].tolist()})
    assert colours >= min_colours, colours
