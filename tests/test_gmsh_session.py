"""The shared gmsh session: ownership and option isolation between meshes."""

from __future__ import annotations

import gmsh

from meshfield._gmsh import gmsh_session


def _unit_square_nodes() -> int:
    with gmsh_session("square") as g:
        g.model.occ.addRectangle(0, 0, 0, 1, 1)
        g.model.occ.synchronize()
        g.option.setNumber("Mesh.MeshSizeMax", 0.25)
        g.model.mesh.generate(2)
        return len(g.model.mesh.getNodes()[0])


def test_a_session_finalizes_only_what_it_started() -> None:
    held_before = gmsh.isInitialized()  # a fixture elsewhere may hold gmsh for the session
    with gmsh_session("outer"):
        assert gmsh.isInitialized()
        with gmsh_session("inner"):
            assert gmsh.model.getCurrent() == "inner"
        assert gmsh.isInitialized()  # the inner session did not finalize
    assert gmsh.isInitialized() == held_before


def test_options_do_not_leak_into_the_next_mesh() -> None:
    reference = _unit_square_nodes()
    with gmsh_session("polluter") as g:
        g.option.setNumber("Mesh.MeshSizeMax", 0.01)
        g.option.setNumber("Mesh.Algorithm", 1)
        assert _unit_square_nodes() == reference  # nested: same defaults
    assert _unit_square_nodes() == reference
