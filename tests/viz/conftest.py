from __future__ import annotations

import pytest
from viz_helpers import make_result

from meshfield.result import FieldResult
from meshfield.viz import pyvista_can_render


@pytest.fixture(scope="session")
def result() -> FieldResult:
    return make_result()


@pytest.fixture(scope="session")
def can_render() -> bool:
    return pyvista_can_render()


@pytest.fixture(params=["pyvista", "matplotlib"])
def backend(request: pytest.FixtureRequest, can_render: bool) -> str:
    if request.param == "pyvista" and not can_render:
        pytest.skip("VTK cannot render off-screen here")
    return request.param
