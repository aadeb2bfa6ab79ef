from __future__ import annotations

import pytest
import torch

from meshfield.nn import AdaLNZero, FiLM, Modulation


def test_adaln_zero_starts_closed() -> None:
    adaln = AdaLNZero(8, 3, num_branches=2)
    mods = adaln(torch.randn(4, 3))
    assert len(mods) == 2
    for mod in mods:
        assert isinstance(mod, Modulation)
        for part in mod:
            assert part.shape == (4, 8)
            assert bool((part == 0).all())
    x = torch.randn(10, 8)
    batch = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 3, 3])
    torch.testing.assert_close(mods[0].modulate(x, batch), x)
    assert bool((mods[0].gated(x, batch) == 0).all())


def test_adaln_modulation_is_per_graph() -> None:
    adaln = AdaLNZero(4, 2, num_branches=1)
    torch.nn.init.normal_(adaln.linear.weight)
    torch.nn.init.normal_(adaln.linear.bias)
    cond = torch.randn(2, 2)
    (mod,) = adaln(cond)
    params = adaln.linear(torch.nn.functional.silu(cond)).view(2, 3, 4)
    torch.testing.assert_close(mod.shift, params[:, 0])
    torch.testing.assert_close(mod.scale, params[:, 1])
    torch.testing.assert_close(mod.gate, params[:, 2])
    x = torch.randn(5, 4)
    batch = torch.tensor([0, 1, 1, 0, 1])
    expected = x * (1 + mod.scale[batch]) + mod.shift[batch]
    torch.testing.assert_close(mod.modulate(x, batch), expected)
    torch.testing.assert_close(mod.gated(x, batch), mod.gate[batch] * x)
    # one graph: batch may be omitted
    (single,) = adaln(cond[:1])
    torch.testing.assert_close(single.modulate(x), x * (1 + single.scale) + single.shift)


def test_film_starts_as_identity_and_learns() -> None:
    film = FiLM(6, 3)
    x = torch.randn(7, 6)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    cond = torch.randn(2, 3)
    torch.testing.assert_close(film(x, cond, batch), x, rtol=0, atol=0)
    optimizer = torch.optim.SGD(film.parameters(), lr=0.5)
    target = torch.randn(7, 6)
    (film(x, cond, batch) - target).square().mean().backward()
    optimizer.step()
    out = film(x, cond, batch)
    assert not torch.allclose(out, x)
    # graph 0's rows depend only on graph 0's conditions
    other = cond.clone()
    other[1] += 1
    torch.testing.assert_close(film(x, other, batch)[:3], out[:3])


def test_float64_and_gradients() -> None:
    adaln = AdaLNZero(4, 2).double()
    cond = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    x = torch.randn(6, 4, dtype=torch.float64)
    batch = torch.tensor([0, 0, 1, 1, 2, 2])
    mixer_mod, mlp_mod = adaln(cond)
    out = mlp_mod.gated(mixer_mod.modulate(x, batch), batch)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert adaln.linear.weight.grad is not None
    assert bool(adaln.linear.bias.grad.abs().sum() > 0)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"'cond' tensor with shape \[num_graphs, 3\]"):
        AdaLNZero(4, 3)(torch.randn(2, 5))
    with pytest.raises(ValueError, match="positive"):
        AdaLNZero(4, 0)
    with pytest.raises(ValueError, match="'batch' is required"):
        FiLM(4, 2)(torch.randn(3, 4), torch.randn(2, 2))


def test_repr() -> None:
    assert repr(AdaLNZero(8, 3)) == "AdaLNZero(8, cond_channels=3, num_branches=2)"
    assert repr(FiLM(8, 3)) == "FiLM(8, cond_channels=3)"
