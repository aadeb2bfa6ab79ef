from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from viz_helpers import assert_not_blank, make_result

from meshfield.viz import residual_map, residual_map_panels
from meshfield.viz.residual_map import make_figure

BASELINE = Path(__file__).parent / "baseline" / "residual_map_U.png"
#: mean absolute difference per pixel channel (0-255) tolerated against the baseline
BASELINE_TOLERANCE = 3.0
SMALL = (480, 300)


def test_panels_share_prediction_and_reference_range(result):
    panels = residual_map_panels(result, steps=(-1,), field="p", robust=False)
    assert [p.kind for p in panels] == ["prediction", "reference", "error", "residual"]
    pred, ref, err, res = panels
    both = np.concatenate([result.fields[-1, :, 2].numpy(), result.reference[-1, :, 2].numpy()])
    assert pred.clim == ref.clim
    assert pred.clim == pytest.approx((both.min(), both.max()), rel=1e-6)
    expected = (result.fields[-1, :, 2] - result.reference[-1, :, 2]).abs()
    np.testing.assert_allclose(err.values[0], expected.numpy(), rtol=1e-6, atol=1e-7)
    assert err.clim[0] == 0.0
    assert err.clim[1] == pytest.approx(float(expected.max()), rel=1e-6)
    norm = result.residual[-1].double().norm(dim=-1)
    np.testing.assert_allclose(res.values[0], norm.numpy(), rtol=1e-6)
    assert res.clim == pytest.approx((0.0, float(norm.max())), rel=1e-6)
    assert pred.title == "p [Pa]"
    assert "reference" in ref.title and "[Pa]" in ref.title


def test_robust_ranges_end_at_the_99th_percentile(result):
    exact = residual_map_panels(result, steps=(0, -1), field="p", robust=False)
    robust = residual_map_panels(result, steps=(0, -1), field="p")
    assert [p.clim for p in robust[:2]] == [p.clim for p in exact[:2]]  # fields: min to max
    for plain, clipped in zip(exact[2:], robust[2:], strict=True):
        assert clipped.kind in ("error", "residual")
        np.testing.assert_array_equal(clipped.values, plain.values)
        high = float(np.percentile(plain.values, 99))
        assert clipped.clim == pytest.approx((0.0, high), rel=1e-9)
        assert clipped.clim[1] < plain.clim[1]  # the few largest values saturate
        assert clipped.title == plain.title + " (top 1% saturated)"


def test_vector_field_is_drawn_as_magnitude(result):
    panels = residual_map_panels(result, steps=(0,), field="U")
    assert panels[0].title == "U magnitude [m/s]"
    np.testing.assert_allclose(
        panels[0].values[0], result.fields[0, :, :2].double().norm(dim=-1).numpy(), rtol=1e-6
    )
    # the error of a vector is the magnitude of the difference, not the difference of magnitudes
    diff = (result.fields[0, :, :2] - result.reference[0, :, :2]).double().norm(dim=-1)
    np.testing.assert_allclose(panels[2].values[0], diff.numpy(), rtol=1e-6, atol=1e-7)


def test_ranges_cover_every_step(result):
    panels = residual_map_panels(result, steps=range(result.num_steps), field="p")
    values = torch.cat([result.fields[..., 2], result.reference[..., 2]])
    assert panels[0].clim == pytest.approx((float(values.min()), float(values.max())), rel=1e-6)
    assert panels[0].values.shape == (result.num_steps, result.num_nodes)


def test_panels_without_data_are_left_out():
    bare = make_result(2, reference=False, residual=False)
    assert [p.kind for p in residual_map_panels(bare)] == ["prediction"]
    with_residual = make_result(2, reference=False)
    assert [p.kind for p in residual_map_panels(with_residual)] == ["prediction", "residual"]
    assert [p.kind for p in residual_map_panels(with_residual, residual=False)] == ["prediction"]


def test_reference_given_explicitly():
    bare = make_result(2, reference=False, residual=False)
    reference = bare.fields[-1] + 1.0
    panels = residual_map_panels(bare, field="p", reference=reference)
    assert [p.kind for p in panels] == ["prediction", "reference", "error"]
    np.testing.assert_allclose(panels[2].values[0], 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="reference"):
        residual_map_panels(bare, reference=torch.zeros(3, 3))


def test_residual_components(result):
    by_name = residual_map_panels(result, component="momentum")[-1]
    by_index = residual_map_panels(result, component=1)[-1]
    np.testing.assert_array_equal(by_name.values, by_index.values)
    assert "momentum" in by_name.title
    np.testing.assert_allclose(by_name.values[0], result.residual[-1, :, 1].abs().numpy())
    every = residual_map_panels(result, component="all")
    assert [p.kind for p in every] == ["prediction", "reference", "error", "residual", "residual"]
    with pytest.raises(ValueError, match="residual component"):
        residual_map_panels(result, component="energy")
    with pytest.raises(ValueError, match="out of range"):
        residual_map_panels(result, component=5)


def test_bad_field_and_step(result):
    with pytest.raises(ValueError, match="U_x, U_y, p"):
        residual_map_panels(result, field="T")
    with pytest.raises(IndexError, match="out of range"):
        residual_map(result, step=10, backend="matplotlib")


def test_render_not_blank_with_the_ranges_of_the_panels(result, backend):
    panels = residual_map_panels(result, steps=(-1,), field="p")
    figure = make_figure(panels, result.mesh, backend=backend, show_edges=False, window_size=SMALL)
    try:
        figure.update(0, "step 3/3")
        image = figure.image()
        drawn = figure.clims
    finally:
        figure.close()
    assert image.shape == (SMALL[1], SMALL[0], 3)
    assert_not_blank(image)
    for (low, high), panel in zip(drawn, panels):
        assert (low, high) == pytest.approx(panel.clim, rel=1e-6, abs=1e-12)
    assert drawn[0] == drawn[1]
    assert drawn[2][0] == 0.0 and drawn[3][0] == 0.0


def test_residual_map_writes_a_picture(result, backend, tmp_path):
    out, panels = residual_map(
        result,
        field="U",
        path=tmp_path / "map.png",
        show_edges=True,
        backend=backend,
        window_size=SMALL,
        return_panels=True,
    )
    assert out == tmp_path / "map.png" and out.stat().st_size > 1000
    from PIL import Image

    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (SMALL[1], SMALL[0], 3)
    assert_not_blank(image)
    assert len(panels) == 4


def test_residual_map_returns_the_image(result, backend):
    image = residual_map(
        result, field="p", reference=None, residual=False, backend=backend, window_size=(320, 200)
    )
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert_not_blank(image)


def test_matplotlib_refuses_3d():
    import pyvista as pv

    import meshfield
    from meshfield.result import FieldResult

    mesh = meshfield.load_mesh(pv.ImageData(dimensions=(4, 4, 4)).triangulate())
    fields = mesh.pos[None, :, :1].double()
    result = FieldResult(fields, ["T"], None, mesh)
    with pytest.raises(ValueError, match="2D meshes only"):
        residual_map(result, backend="matplotlib")


def test_3d_mesh_is_sliced(can_render):
    if not can_render:
        pytest.skip("VTK cannot render off-screen here")
    import pyvista as pv

    import meshfield
    from meshfield.result import FieldResult

    mesh = meshfield.load_mesh(pv.ImageData(dimensions=(6, 6, 6)).triangulate())
    x = mesh.pos.double()
    fields = torch.stack([x[:, 0] + x[:, 1] ** 2 + x[:, 2]])[:, :, None]
    result = FieldResult(fields, ["T"], None, mesh, reference=fields * 1.1)
    image, panels = residual_map(
        result, backend="pyvista", window_size=(360, 200), return_panels=True
    )
    assert [p.kind for p in panels] == ["prediction", "reference", "error"]
    assert_not_blank(image, min_colours=20)


def test_canonical_image(result, can_render, tmp_path):
    """The 4-panel map of the velocity matches the stored picture within a tolerance."""
    if not can_render:
        pytest.skip("VTK cannot render off-screen here")
    from PIL import Image

    image = residual_map(result, field="U", backend="pyvista", window_size=SMALL)
    if os.environ.get("MESHFIELD_REGEN_BASELINE") == "1":
        # a 256-colour palette keeps the file small; the tolerance absorbs the quantization
        Image.fromarray(image).quantize(256).save(BASELINE, optimize=True)
    if not BASELINE.exists():
        pytest.fail(f"{BASELINE} is missing; run with MESHFIELD_REGEN_BASELINE=1")
    expected = np.asarray(Image.open(BASELINE).convert("RGB"))
    assert image.shape == expected.shape
    difference = np.abs(image.astype(np.int16) - expected.astype(np.int16)).mean()
    if difference > BASELINE_TOLERANCE:
        Image.fromarray(image).save(tmp_path / BASELINE.name)
    assert difference <= BASELINE_TOLERANCE, (
        f"mean pixel difference {difference:.2f} > {BASELINE_TOLERANCE}; new picture in {tmp_path}"
    )
