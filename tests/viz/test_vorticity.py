"""The vorticity view: the curl of a 2D velocity by the mesh gradient, and its panels."""

from __future__ import annotations

import pytest
import torch

import meshfield
from meshfield.viz.residual_map import residual_map_panels, vorticity


def test_vorticity_of_solid_body_rotation_and_shear() -> None:
    mesh = meshfield.load_mesh("meshfield/assets/cylinder.msh")
    x, y = mesh.pos[:, 0].double(), mesh.pos[:, 1].double()
    rotation = torch.stack([-y, x, torch.zeros_like(x)], dim=-1)  # omega = 2 everywhere
    shear = torch.stack([3 * y, torch.zeros_like(x), x], dim=-1)  # omega = -3
    omega = vorticity(mesh, torch.stack([rotation, shear]), ["U_x", "U_y", "p"])
    torch.testing.assert_close(omega[0], torch.full_like(x, 2.0), atol=1e-8, rtol=0)
    torch.testing.assert_close(omega[1], torch.full_like(x, -3.0), atol=1e-8, rtol=0)
    with pytest.raises(ValueError, match="U_x and U_y"):
        vorticity(mesh, rotation[None, :, :1], ["p"])


def test_vorticity_panels_are_symmetric_about_zero() -> None:
    mesh = meshfield.load_mesh("meshfield/assets/cylinder.msh")
    x, y = mesh.pos[:, 0].double(), mesh.pos[:, 1].double()
    wave = torch.stack([torch.sin(y), torch.sin(x), torch.zeros_like(x)], dim=-1)
    result = meshfield.FieldResult(wave[None].float(), ["U_x", "U_y", "p"], None, mesh,
                                   reference=(0.5 * wave)[None].float())
    panels = residual_map_panels(result, field="vorticity")
    assert [p.kind for p in panels] == ["prediction", "reference", "error"]
    low, high = panels[0].clim
    assert low == -high and high > 0 and panels[0].clim == panels[1].clim
