"""trimesh -> meshfield: a ``trimesh.Trimesh`` (or a Scene of them) as triangle cells."""

from __future__ import annotations

from typing import Any

import numpy as np

from meshfield.errors import MeshFormatError
from meshfield.io._raw import RawMesh

__all__ = ["from_trimesh", "is_trimesh"]


def is_trimesh(obj: Any) -> bool:
    """Whether ``obj`` is a trimesh mesh or scene (without importing trimesh if it is not)."""
    return type(obj).__module__.startswith("trimesh")


def from_trimesh(mesh: Any, *, source: str | None = None) -> RawMesh:
    """Convert a ``trimesh.Trimesh`` into a :class:`RawMesh`.

    Vertices keep trimesh's order (trimesh merges duplicate vertices only when asked, so load
    files with ``process=False`` to keep the file's order). Numeric per-vertex attributes become
    point data and per-face attributes cell data. A ``trimesh.Scene`` is flattened into one mesh.
    """
    import trimesh

    source = source or f"<{type(mesh).__name__}>"
    if isinstance(mesh, trimesh.Scene):
        geometry = (
            mesh.to_geometry() if hasattr(mesh, "to_geometry") else mesh.dump(concatenate=True)
        )
        mesh = geometry
    if not isinstance(mesh, trimesh.Trimesh):
        msg = f"{source}: expected a trimesh.Trimesh or Scene (got {type(mesh).__name__})"
        raise MeshFormatError(msg)
    points = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    n_points, n_faces = len(points), len(faces)
    point_data = {
        str(name): np.asarray(values)
        for name, values in mesh.vertex_attributes.items()
        if np.asarray(values).dtype.kind in "biuf" and len(values) == n_points
    }
    cell_data = {
        str(name): [np.asarray(values)]
        for name, values in mesh.face_attributes.items()
        if np.asarray(values).dtype.kind in "biuf" and len(values) == n_faces
    }
    return RawMesh(
        points=points,
        cells=[("triangle", faces)],
        point_data=point_data,
        cell_data=cell_data,
        source=source,
    )
