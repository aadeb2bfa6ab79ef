"""Regenerate ``cylinder.msh``, the 2D cylinder-in-channel mesh bundled with meshfield.

Run ``python -m meshfield.assets.make_cylinder_mesh`` (needs ``pip install gmsh``). The domain
is the classic wake set-up: a cylinder of diameter 1 centred at the origin in a channel
[-8, 25] x [-8, 8], triangles refined near the cylinder and along the wake. Boundary lines carry
the physical groups ``inlet``, ``outlet``, ``walls`` and ``cylinder``; the fluid surface is
``fluid``. Written as MSH 4.1 (ASCII) so the file is readable and diffs are meaningful.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def make_cylinder_mesh(
    path: str | Path,
    *,
    size_far: float = 1.2,
    size_cylinder: float = 0.12,
    size_wake: float = 0.35,
    x_min: float = -8.0,
    x_max: float = 25.0,
    half_height: float = 8.0,
) -> Path:
    """Write a 2D cylinder-wake triangle mesh with named boundary groups.

    Parameters
    ----------
    path : str or Path
        Output ``.msh`` file.
    size_far : float, default: 1.2
        Element size far from the cylinder.
    size_cylinder : float, default: 0.12
        Element size on the cylinder.
    size_wake : float, default: 0.35
        Element size in the wake box behind the cylinder.
    x_min, x_max, half_height : float
        Channel extent; the cylinder (diameter 1) sits at the origin.

    Returns
    -------
    Path
        The written file.
    """
    from meshfield._files import atomic_path
    from meshfield._gmsh import gmsh_session

    path = Path(path)
    with gmsh_session("cylinder") as gmsh:
        occ = gmsh.model.occ
        box = occ.addRectangle(x_min, -half_height, 0.0, x_max - x_min, 2 * half_height)
        disk = occ.addDisk(0.0, 0.0, 0.0, 0.5, 0.5)
        fluid, _ = occ.cut([(2, box)], [(2, disk)])
        occ.synchronize()

        inlet, outlet, walls, cylinder = [], [], [], []
        for dim, tag in gmsh.model.getBoundary(fluid, oriented=False):
            x, y, _ = gmsh.model.occ.getCenterOfMass(dim, tag)
            if abs(x - x_min) < 1e-6:
                inlet.append(tag)
            elif abs(x - x_max) < 1e-6:
                outlet.append(tag)
            elif abs(abs(y) - half_height) < 1e-6:
                walls.append(tag)
            else:
                cylinder.append(tag)
        for name, tags in (("inlet", inlet), ("outlet", outlet), ("walls", walls), ("cylinder", cylinder)):
            gmsh.model.setPhysicalName(1, gmsh.model.addPhysicalGroup(1, tags), name)
        gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, [t for _, t in fluid]), "fluid")

        # size field: fine on the cylinder, medium in the wake, coarse far away
        dist = gmsh.model.mesh.field.add("Distance")
        gmsh.model.mesh.field.setNumbers(dist, "CurvesList", cylinder)
        near = gmsh.model.mesh.field.add("Threshold")
        gmsh.model.mesh.field.setNumber(near, "InField", dist)
        gmsh.model.mesh.field.setNumber(near, "SizeMin", size_cylinder)
        gmsh.model.mesh.field.setNumber(near, "SizeMax", size_far)
        gmsh.model.mesh.field.setNumber(near, "DistMin", 0.3)
        gmsh.model.mesh.field.setNumber(near, "DistMax", 6.0)
        wake = gmsh.model.mesh.field.add("Box")
        for key, value in (("VIn", size_wake), ("VOut", size_far), ("XMin", 0.0), ("XMax", 15.0),
                           ("YMin", -2.0), ("YMax", 2.0), ("Thickness", 2.0)):
            gmsh.model.mesh.field.setNumber(wake, key, value)
        both = gmsh.model.mesh.field.add("Min")
        gmsh.model.mesh.field.setNumbers(both, "FieldsList", [near, wake])
        gmsh.model.mesh.field.setAsBackgroundMesh(both)
        for key in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
            gmsh.option.setNumber(f"Mesh.{key}", 0)

        gmsh.model.mesh.generate(2)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.option.setNumber("Mesh.Binary", 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".msh") as tmp:  # gmsh picks the format by the suffix
            gmsh.write(str(tmp))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("cylinder.msh")))
    args = parser.parse_args(argv)
    make_cylinder_mesh(args.out)


if __name__ == "__main__":
    main()
