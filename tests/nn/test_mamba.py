from __future__ import annotations

import math
import subprocess
import sys
import types
import warnings

import pytest
import torch
import torch.nn.functional as F

from meshfield.errors import MissingDependencyError
from meshfield.nn.ssm import Mamba, RMSNormGated, causal_conv1d
from meshfield.nn.ssm import _cuda as cuda_module
from meshfield.nn.ssm import mamba as mamba_module
from meshfield.testing import saved_numel
from meshfield.testing.parity import assert_backend_parity
from meshfield.typing import extensions_disabled


def naive_mamba(m: Mamba, u: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
    """The whole Mamba-2 block written token by token, from the equations."""
    batch, L, _ = u.shape
    h, p, g, n = m.nheads, m.headdim, m.ngroups, m.d_state
    d_mlp, d_ssm = m.d_mlp, m.d_ssm
    seq = torch.zeros(batch, L, dtype=torch.long) if seq_idx is None else seq_idx.long()
    zxbcdt = F.linear(u, m.in_proj.weight, m.in_proj.bias)
    z0, x0, z, xBC, dt = torch.split(zxbcdt, [d_mlp, d_mlp, d_ssm, d_ssm + 2 * g * n, h], dim=-1)
    # causal depthwise convolution, taps reaching another segment see zeros
    w = m.conv1d.weight[:, 0, :]
    width = w.shape[-1]
    conv = []
    for t in range(L):
        acc = (
            torch.zeros_like(xBC[:, 0])
            if m.conv1d.bias is None
            else m.conv1d.bias.expand_as(xBC[:, 0])
        )
        for k in range(width):
            s = t - (width - 1) + k
            if s >= 0:
                same = (seq[:, s] == seq[:, t]).to(u.dtype)[:, None]
                acc = acc + w[:, k] * xBC[:, s] * same
        conv.append(acc)
    xBC = F.silu(torch.stack(conv, dim=1))
    x, B, C = torch.split(xBC, [d_ssm, g * n, g * n], dim=-1)
    x = x.reshape(batch, L, h, p)
    B = B.reshape(batch, L, g, n)
    C = C.reshape(batch, L, g, n)
    dt = F.softplus(dt + m.dt_bias)
    if m.dt_limit != (0.0, math.inf):
        dt = dt.clamp(*m.dt_limit)
    A = -torch.exp(m.A_log)
    D = m.D.reshape(h, p) if m.D_has_hdim else m.D[:, None].expand(h, p)
    state = torch.zeros(batch, h, p, n, dtype=u.dtype)
    ys = []
    for t in range(L):
        if t > 0:
            state = state * (seq[:, t] == seq[:, t - 1]).to(u.dtype)[:, None, None, None]
        new = []
        for head in range(h):
            grp = head // (h // g)
            s = torch.exp(dt[:, t, head] * A[head])[:, None, None] * state[:, head]
            s = (
                s
                + dt[:, t, head][:, None, None]
                * x[:, t, head][:, :, None]
                * B[:, t, grp][:, None, :]
            )
            new.append(s)
        state = torch.stack(new, dim=1)
        y_t = [(state[:, head] @ C[:, t, head // (h // g), :, None])[..., 0] for head in range(h)]
        ys.append(torch.stack(y_t, dim=1) + D * x[:, t])
    y = torch.stack(ys, dim=1).reshape(batch, L, d_ssm)
    if m.rmsnorm:
        gate = F.silu(z)
        v = y if m.norm_before_gate else y * gate
        vg = v.reshape(batch, L, g, d_ssm // g)
        v = (vg / torch.sqrt(vg.pow(2).mean(-1, keepdim=True) + m.norm.eps)).reshape(
            batch, L, d_ssm
        )
        y = v * m.norm.weight
        if m.norm_before_gate:
            y = y * gate
    else:
        y = y * F.silu(z)
    if d_mlp:
        y = torch.cat([F.silu(z0) * x0, y], dim=-1)
    return F.linear(y, m.out_proj.weight, m.out_proj.bias)


def small_mamba(backend: str = "torch", **kwargs) -> Mamba:
    args = dict(d_model=16, d_state=6, headdim=8, backend=backend)
    args.update(kwargs)
    torch.manual_seed(0)
    m = Mamba(**args).double()
    with torch.no_grad():  # make every parameter matter
        for prm in m.parameters():
            prm.add_(0.1 * torch.randn_like(prm))
    return m


SEQ_IDX = torch.tensor([[0] * 9 + [1] * 2 + [2] * 19, [0] * 30])

VARIANTS = [
    {},
    {"ngroups": 2},
    {"D_has_hdim": True, "norm_before_gate": True},
    {"rmsnorm": False, "bias": True},
    {"d_ssm": 16, "conv_bias": False},
    {"dt_limit": (0.01, 0.05), "d_conv": 2},
]


@pytest.mark.parametrize("kwargs", VARIANTS)
@pytest.mark.parametrize("seq_idx", [None, SEQ_IDX])
def test_forward_matches_token_by_token_block(kwargs, seq_idx):
    m = small_mamba(**kwargs)
    u = torch.randn(2, 30, 16, dtype=torch.float64)
    expected = naive_mamba(m, u, seq_idx)
    torch.testing.assert_close(m(u, seq_idx), expected, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kwargs", VARIANTS[:3])
def test_torch_backend_matches_reference_backend(dtype, kwargs):
    a = small_mamba("torch", **kwargs).to(dtype)
    b = small_mamba("reference", **kwargs).to(dtype)
    u = torch.randn(2, 30, 16, dtype=dtype)
    tol = {"atol": 1e-10, "rtol": 1e-9} if dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-4}
    assert_backend_parity(a, b, (u, SEQ_IDX), **tol)


@pytest.mark.parametrize("block", [7, 10, 16])
@pytest.mark.parametrize("seq_idx", [None, SEQ_IDX])
def test_checkpointed_blocks_match(block, seq_idx):
    # block 10 puts a segment border exactly on a block border
    a = small_mamba()
    b = small_mamba(checkpoint=block)
    u = torch.randn(2, 30, 16, dtype=torch.float64)
    assert_backend_parity(a, b, (u, seq_idx))


@pytest.mark.parametrize("block", [7, 10, 16])
@pytest.mark.parametrize("seq_idx", [None, SEQ_IDX])
@pytest.mark.parametrize("reverse", [False, True])
def test_blocked_inference_matches(block, seq_idx, reverse):
    whole = small_mamba(inference_block=0)
    blocked = small_mamba(inference_block=block)
    blocked.load_state_dict(whole.state_dict())
    u = torch.randn(2, 30, 16, dtype=torch.float64)
    with torch.no_grad():
        expected = whole(u, seq_idx, reverse=reverse)
        # the blocked path runs: a block-sized input goes through one piece, unlike 30 tokens
        calls = []
        run_block = blocked._forward_block

        def recorded(piece, *args):
            calls.append(piece.shape[1])
            return run_block(piece, *args)

        blocked._forward_block = recorded
        got = blocked(u, seq_idx, reverse=reverse)
    assert len(calls) == -(-30 // block) and max(calls) <= block + blocked.d_conv - 1
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="inference_block >= 0"):
        small_mamba(inference_block=-1)


def test_causal_and_segment_separated():
    m = small_mamba()
    u = torch.randn(1, 30, 16, dtype=torch.float64, requires_grad=True)
    seq_idx = SEQ_IDX[:1]
    y = m(u, seq_idx)
    for t in (0, 9, 10, 11, 29):
        (grad,) = torch.autograd.grad(y[0, t].sum(), u, retain_graph=True)
        seg = seq_idx[0] == seq_idx[0, t]
        first = int(seg.nonzero()[0])
        assert (grad[0, t + 1 :] == 0).all(), "future leaks into the past"
        # values never cross a border; through dt the decays are differences of one running
        # sum, whose gradient cancels across the border only up to rounding
        assert (grad[0, :first].abs() <= 1e-13 * grad.abs().max()).all(), "another segment leaks in"
        assert grad[0, t].abs().max() > 0


def _conv_per_segment(x, w, bias, seq_idx):
    # torch's own depthwise convolution on every segment alone, zero-padded on the left
    rows = []
    for b in range(x.shape[0]):
        pieces = []
        for segment in torch.unique_consecutive(seq_idx[b]):
            part = x[b, seq_idx[b] == segment].t()[None]  # [1, channels, length]
            padded = F.pad(part, (w.shape[1] - 1, 0))
            pieces.append(F.conv1d(padded, w[:, None], bias, groups=w.shape[0])[0].t())
        rows.append(torch.cat(pieces))
    return torch.stack(rows)


@pytest.mark.parametrize("segmented", [True, False], ids=["segments", "one-sequence"])
@pytest.mark.parametrize("traced", [False, True], ids=["function", "traced-for-compile"])
def test_conv_matches_torch_per_segment(traced, segmented):
    # segments shorter than the filter: taps that reach across one or several segment starts
    # are taken out, in both passes; the same for the plain form torch.compile traces
    from meshfield.nn.ssm.conv import _causal_conv_traced

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 13, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(5, 4, dtype=torch.float64, generator=g, requires_grad=True)
    bias = torch.randn(5, dtype=torch.float64, generator=g, requires_grad=True)
    seq_idx = torch.tensor([[0, 1, 1, 2, 2, 2, 4, 4, 4, 4, 4, 5, 6], [0] * 13])
    given = seq_idx if segmented else None
    if traced:
        out = _causal_conv_traced(x, w, bias, given)
    else:
        out = causal_conv1d(x, w, bias, seq_idx=given)
    expected = _conv_per_segment(x, w, bias, seq_idx if segmented else torch.zeros_like(seq_idx))
    torch.testing.assert_close(out, expected)
    weights = torch.randn(out.shape, dtype=torch.float64, generator=g)
    grads = torch.autograd.grad((out * weights).sum(), (x, w, bias))
    expected_grads = torch.autograd.grad((expected * weights).sum(), (x, w, bias))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


def test_conv_respects_segments():
    x = torch.randn(2, 12, 5, dtype=torch.float64)
    w = torch.randn(5, 4, dtype=torch.float64)
    bias = torch.randn(5, dtype=torch.float64)
    one_segment = torch.zeros(2, 12, dtype=torch.int32)
    torch.testing.assert_close(
        causal_conv1d(x, w, bias, seq_idx=one_segment), causal_conv1d(x, w, bias)
    )
    seq_idx = torch.tensor([[0] * 5 + [1] * 7, [0] * 1 + [3] * 11])
    y = causal_conv1d(x, w, bias, seq_idx=seq_idx)
    for b in range(2):
        start = int((seq_idx[b] != seq_idx[b, 0]).nonzero()[0])
        alone = causal_conv1d(x[b : b + 1, start:], w, bias)
        torch.testing.assert_close(y[b : b + 1, start:], alone)
        torch.testing.assert_close(
            y[b : b + 1, :start], causal_conv1d(x[b : b + 1, :start], w, bias)
        )


# Mamba2(d_model=256) of mamba_ssm 2.2.4 (mamba_ssm/modules/mamba2.py, unchanged in 2.3.x):
# d_inner 512, nheads 8, d_state 128, ngroups 1; direct parameters are registered first.
MAMBA2_2_2_STATE = [
    ("dt_bias", (8,)),
    ("A_log", (8,)),
    ("D", (8,)),
    ("in_proj.weight", (1288, 256)),
    ("conv1d.weight", (768, 1, 4)),
    ("conv1d.bias", (768,)),
    ("norm.weight", (512,)),
    ("out_proj.weight", (256, 512)),
]
# Mamba2(d_model=64, d_state=16, headdim=16, ngroups=2, d_ssm=96, D_has_hdim=True, bias=True)
MAMBA2_2_2_STATE_VARIANT = [
    ("dt_bias", (6,)),
    ("A_log", (6,)),
    ("D", (96,)),
    ("in_proj.weight", (326, 64)),
    ("in_proj.bias", (326,)),
    ("conv1d.weight", (160, 1, 4)),
    ("conv1d.bias", (160,)),
    ("norm.weight", (96,)),
    ("out_proj.weight", (64, 128)),
    ("out_proj.bias", (64,)),
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"d_model": 256}, MAMBA2_2_2_STATE),
        (
            {
                "d_model": 64,
                "d_state": 16,
                "headdim": 16,
                "ngroups": 2,
                "d_ssm": 96,
                "D_has_hdim": True,
                "bias": True,
            },
            MAMBA2_2_2_STATE_VARIANT,
        ),
        (
            {"d_model": 256, "rmsnorm": False},
            [e for e in MAMBA2_2_2_STATE if e[0] != "norm.weight"],
        ),
    ],
)
def test_state_dict_matches_mamba_ssm(kwargs, expected):
    state = Mamba(**kwargs, backend="torch").state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == expected


def test_state_dict_loads_across_backends():
    source = Mamba(32, d_state=8, headdim=16, backend="torch")
    for backend in ("cuda", "auto", "reference"):
        target = Mamba(32, d_state=8, headdim=16, backend=backend)
        target.load_state_dict(source.state_dict(), strict=True)
        for key, value in target.state_dict().items():
            torch.testing.assert_close(value, source.state_dict()[key])


def test_initialization_like_mamba2():
    m = Mamba(64, d_state=16, headdim=8, dt_min=0.01, dt_max=0.2, A_init_range=(2, 4))
    dt = F.softplus(m.dt_bias)
    assert (dt >= 0.01 - 1e-6).all() and (dt <= 0.2 + 1e-6).all()
    A = torch.exp(m.A_log)
    assert (A >= 2).all() and (A <= 4).all()
    assert (m.D == 1).all() and (m.norm.weight == 1).all()
    assert m.D.dtype == torch.float32
    assert m.dt_bias._no_weight_decay and m.A_log._no_weight_decay
    half = Mamba(64, d_state=16, headdim=8, dtype=torch.bfloat16)
    assert half.in_proj.weight.dtype == torch.bfloat16 and half.D.dtype == torch.float32


def test_cuda_backend_without_kernels_raises_install_hint():
    m = Mamba(32, d_state=8, headdim=16, backend="cuda")
    with (
        extensions_disabled("mamba_ssm"),
        pytest.raises(MissingDependencyError, match=r"meshfield\[gpu\]"),
    ):
        m(torch.randn(1, 5, 32))


def test_auto_backend_on_cpu_uses_torch_silently():
    m = Mamba(32, d_state=8, headdim=16, backend="auto")
    ref = Mamba(32, d_state=8, headdim=16, backend="torch")
    ref.load_state_dict(m.state_dict())
    u = torch.randn(1, 5, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(m(u), ref(u))


def test_bad_arguments():
    with pytest.raises(ValueError, match="backend"):
        Mamba(32, backend="triton")
    with pytest.raises(ValueError, match="ngroups"):
        Mamba(32, headdim=16, ngroups=3)
    with pytest.raises(ValueError, match="headdim"):
        Mamba(32, headdim=24)
    with pytest.raises(NotImplementedError):
        Mamba(32, process_group=object())
    m = Mamba(32, d_state=8, headdim=16)
    with pytest.raises(ValueError, match=r"\[batch, seqlen, 32\]"):
        m(torch.randn(5, 32))
    with pytest.raises(ValueError, match="'seq_idx'"):
        m(torch.randn(1, 5, 32), torch.zeros(1, 4, dtype=torch.int32))


def test_rmsnorm_gated_groups():
    x, z = torch.randn(3, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    norm = RMSNormGated(8, eps=0.0, group_size=4, norm_before_gate=True).double()
    y = norm(x, z)
    for grp in (slice(0, 4), slice(4, 8)):
        part = x[:, grp] / x[:, grp].pow(2).mean(-1, keepdim=True).sqrt()
        torch.testing.assert_close(y[:, grp], part * F.silu(z[:, grp]))


@pytest.mark.parametrize("norm_before_gate", [False, True])
@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("group_size", [None, 4])
def test_rmsnorm_gated_gradients(norm_before_gate, gated, group_size):
    torch.manual_seed(0)
    norm = RMSNormGated(8, group_size=group_size, norm_before_gate=norm_before_gate).double()
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    z = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True) if gated else None
    inputs = (x, z) if gated else (x,)
    torch.autograd.gradcheck(lambda *a: norm(*a), inputs)
    # the same values as the formula written out, gradients included
    group = 8 if group_size is None else group_size
    v = x * F.silu(z) if gated and not norm_before_gate else x
    v = v.unflatten(-1, (-1, group))
    expected = (v / (v.square().mean(-1, keepdim=True) + norm.eps).sqrt()).flatten(-2)
    expected = expected * norm.weight * (F.silu(z) if gated and norm_before_gate else 1)
    out = norm(*inputs)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), [*inputs, norm.weight])
    expected_grads = torch.autograd.grad(expected.square().sum(), [*inputs, norm.weight])
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("norm_before_gate", [False, True])
def test_rmsnorm_gated_second_derivatives(norm_before_gate):
    # a backward pass that is itself differentiated recomputes in plain operations
    torch.manual_seed(0)
    norm = RMSNormGated(8, group_size=4, norm_before_gate=norm_before_gate).double()
    x = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    z = torch.randn(2, 3, 8, dtype=torch.float64, requires_grad=True)
    weight = norm.weight
    torch.autograd.gradgradcheck(lambda x, z, w: norm(x, z), (x, z, weight))


@pytest.mark.parametrize("segmented", [False, True])
def test_conv_second_derivatives(segmented):
    x = torch.randn(2, 7, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    seq_idx = torch.tensor([[0, 0, 0, 1, 1, 2, 2]]).expand(2, 7) if segmented else None
    torch.autograd.gradgradcheck(
        lambda *a: causal_conv1d(*a, seq_idx=seq_idx, activation="silu"), (x, w, bias)
    )


def test_rmsnorm_gated_keeps_its_inputs_only():
    # the gated input, gate and normalized values are recomputed in the backward pass
    norm = RMSNormGated(64, group_size=32, norm_before_gate=False)
    x = torch.randn(1, 1000, 64, requires_grad=True)
    z = torch.randn(1, 1000, 64, requires_grad=True)
    kept = saved_numel(norm, x, z)
    assert kept <= 2 * x.numel() + 2 * 1000 + 64
    with torch.no_grad():
        assert saved_numel(norm, x, z) == 0


def test_conv_with_silu_keeps_its_input_only():
    x = torch.randn(1, 500, 24, requires_grad=True)
    w = torch.randn(24, 4, requires_grad=True)
    b = torch.randn(24, requires_grad=True)
    plain = saved_numel(lambda: F.silu(causal_conv1d(x, w, b)))
    fused = saved_numel(lambda: causal_conv1d(x, w, b, activation="silu"))
    # the input, the weight and the bias
    assert fused <= x.numel() + w.numel() + b.numel() < plain
    y = causal_conv1d(x, w, b, activation="silu")
    torch.testing.assert_close(y, F.silu(causal_conv1d(x, w, b)))
    grads = torch.autograd.grad(y.square().sum(), (x, w, b))
    plain_grads = torch.autograd.grad(F.silu(causal_conv1d(x, w, b)).square().sum(), (x, w, b))
    for got, want in zip(grads, plain_grads):
        torch.testing.assert_close(got, want)


def test_importing_never_loads_cuda_libraries():
    # beyond what torch and PyG load themselves (PyG imports Triton where it is installed)
    code = (
        "import sys, torch, torch_geometric\n"
        "def cuda(): return {m for m in sys.modules\n"
        "                    if m.split('.')[0] in ('mamba_ssm', 'triton', 'causal_conv1d')}\n"
        "before = cuda()\n"
        "import meshfield.nn.ssm as ssm\n"
        "ssm.Mamba(16, d_state=4, headdim=8)(torch.randn(1, 3, 16))\n"
        "ssm.BiMamba(16, headdim=8)(torch.randn(3, 16))\n"
        "bad = sorted(cuda() - before)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _fake_kernels(monkeypatch, calls: list) -> None:
    """Stand-ins for the mamba_ssm/causal_conv1d kernels with their 2.2.x signatures.

    They compute what the kernels compute (in torch) and record how they were called, so the
    wiring of the CUDA path is checked on machines without a GPU.
    """
    from meshfield.nn.ssm import ssd_reference

    def causal_conv1d_fn(
        x,
        weight,
        bias=None,
        seq_idx=None,
        initial_states=None,
        return_final_states=False,
        final_states_out=None,
        activation=None,
    ):
        calls.append("causal_conv1d_fn")
        assert weight.dim() == 2 and x.shape[1] == weight.shape[0]
        return causal_conv1d(
            x.transpose(1, 2), weight, bias, seq_idx=seq_idx, activation=activation
        ).transpose(1, 2)

    def mamba_chunk_scan_combined(
        x,
        dt,
        A,
        B,
        C,
        chunk_size,
        D=None,
        z=None,
        dt_bias=None,
        initial_states=None,
        seq_idx=None,
        cu_seqlens=None,
        dt_softplus=False,
        dt_limit=(0.0, float("inf")),
        return_final_states=False,
        return_varlen_states=False,
    ):
        calls.append("mamba_chunk_scan_combined")
        assert A.dtype == torch.float32 or A.dtype == x.dtype
        return ssd_reference(
            x,
            dt,
            A,
            B,
            C,
            D=D,
            z=z,
            dt_bias=dt_bias,
            dt_softplus=dt_softplus,
            dt_limit=dt_limit,
            seq_idx=seq_idx,
        )

    def mamba_split_conv1d_scan_combined(
        zxbcdt,
        conv1d_weight,
        conv1d_bias,
        dt_bias,
        A,
        D,
        chunk_size,
        initial_states=None,
        seq_idx=None,
        dt_limit=(0.0, float("inf")),
        return_final_states=False,
        activation="silu",
        rmsnorm_weight=None,
        rmsnorm_eps=1e-6,
        outproj_weight=None,
        outproj_bias=None,
        headdim=None,
        ngroups=1,
        norm_before_gate=True,
    ):
        calls.append("mamba_split_conv1d_scan_combined")
        nheads = D.shape[0]
        headdim = D.shape[1] if D.dim() == 2 else headdim
        dim = nheads * headdim
        dstate = (conv1d_weight.shape[0] - dim) // ngroups // 2
        d_mlp = (zxbcdt.shape[-1] - 2 * dim - 2 * ngroups * dstate - nheads) // 2
        zx0, z, xBC, dt = torch.split(
            zxbcdt, [2 * d_mlp, dim, dim + 2 * ngroups * dstate, nheads], -1
        )
        xBC = causal_conv1d_fn(
            xBC.transpose(1, 2), conv1d_weight, conv1d_bias, seq_idx=seq_idx, activation=activation
        ).transpose(1, 2)
        x, B, C = torch.split(xBC, [dim, ngroups * dstate, ngroups * dstate], -1)
        b, seqlen = zxbcdt.shape[:2]
        y = ssd_reference(
            x.reshape(b, seqlen, nheads, headdim),
            dt,
            A,
            B.reshape(b, seqlen, ngroups, dstate),
            C.reshape(b, seqlen, ngroups, dstate),
            D=D,
            dt_bias=dt_bias,
            dt_softplus=True,
            dt_limit=dt_limit,
            seq_idx=seq_idx,
            z=None if rmsnorm_weight is not None else z.reshape(b, seqlen, nheads, headdim),
        )
        y = y.reshape(b, seqlen, dim)
        if rmsnorm_weight is not None:
            v = y if norm_before_gate else y * F.silu(z)
            vg = v.unflatten(-1, (ngroups, -1))
            v = (vg * torch.rsqrt(vg.square().mean(-1, keepdim=True) + rmsnorm_eps)).flatten(-2)
            y = v * rmsnorm_weight * (F.silu(z) if norm_before_gate else 1)
        if d_mlp:
            z0, x0 = zx0.chunk(2, dim=-1)
            y = torch.cat([F.silu(z0) * x0, y], dim=-1)
        return F.linear(y, outproj_weight, outproj_bias)

    ssd_combined = types.ModuleType("mamba_ssm.ops.triton.ssd_combined")
    ssd_combined.mamba_chunk_scan_combined = mamba_chunk_scan_combined
    ssd_combined.mamba_split_conv1d_scan_combined = mamba_split_conv1d_scan_combined
    conv = types.ModuleType("causal_conv1d")
    conv.causal_conv1d_fn = causal_conv1d_fn
    for name in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "mamba_ssm.ops.triton.ssd_combined", ssd_combined)
    monkeypatch.setitem(sys.modules, "causal_conv1d", conv)
    monkeypatch.setattr("meshfield.typing._probed", {"mamba_ssm": True})
    monkeypatch.setattr(cuda_module, "_on_cuda", lambda tensor: True)


@pytest.mark.parametrize("use_mem_eff_path", [True, False])
@pytest.mark.parametrize("kwargs", VARIANTS[:5])
def test_cuda_path_wiring_with_stand_in_kernels(monkeypatch, use_mem_eff_path, kwargs):
    calls: list = []
    _fake_kernels(monkeypatch, calls)
    a = small_mamba("torch", use_mem_eff_path=use_mem_eff_path, **kwargs)
    b = small_mamba("cuda", use_mem_eff_path=use_mem_eff_path, **kwargs)
    u = torch.randn(2, 30, 16, dtype=torch.float64)
    # the CUDA path computes A = -exp(A_log) in float32, as Mamba2 does
    assert_backend_parity(a, b, (u, SEQ_IDX), atol=1e-6, rtol=1e-6)
    expected = (
        "mamba_split_conv1d_scan_combined" if use_mem_eff_path else "mamba_chunk_scan_combined"
    )
    assert expected in calls


def test_auto_backend_warns_once_when_a_cuda_tensor_falls_back(monkeypatch):
    monkeypatch.setattr(mamba_module, "_fallback_warned", False)
    m = Mamba(16, d_state=4, headdim=8, backend="auto")

    class FakeCuda(torch.Tensor):
        @property
        def is_cuda(self):  # the fallback decision is all that is exercised
            return True

    u = torch.randn(1, 4, 16).as_subclass(FakeCuda)
    with extensions_disabled("mamba_ssm"):
        with pytest.warns(RuntimeWarning, match="pure-PyTorch"):
            m(u)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            m(u)


@pytest.mark.parametrize("seqlen", [1, 2, 3, 9])
@pytest.mark.parametrize("segmented", [False, True])
def test_conv_gradients(seqlen, segmented):
    x = torch.randn(2, seqlen, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    seq_idx = (
        torch.arange(seqlen).div(2, rounding_mode="floor").expand(2, seqlen) if segmented else None
    )
    torch.autograd.gradcheck(
        lambda *a: causal_conv1d(*a, seq_idx=seq_idx, activation="silu"), (x, w, bias)
    )
    if not segmented:
        expected = F.conv1d(x.transpose(1, 2), w[:, None], bias, padding=3, groups=3)[..., :seqlen]
        torch.testing.assert_close(causal_conv1d(x, w, bias), expected.transpose(1, 2))


@pytest.mark.parametrize("checkpoint", [False, 7, 10])
@pytest.mark.parametrize("seq_idx", [None, SEQ_IDX])
def test_reverse_is_flipped_scan(checkpoint, seq_idx):
    m = small_mamba(checkpoint=checkpoint)
    u = torch.randn(2, 30, 16, dtype=torch.float64, requires_grad=True)
    seq_rev = None if seq_idx is None else seq_idx.flip(1)
    expected = m(u.flip(1), seq_rev).flip(1)
    got = m(u, seq_idx, reverse=True)
    torch.testing.assert_close(got, expected)
    cotangent = torch.randn_like(got)
    (g1,) = torch.autograd.grad(got, u, cotangent)
    (g2,) = torch.autograd.grad(expected, u, cotangent)
    torch.testing.assert_close(g1, g2)
