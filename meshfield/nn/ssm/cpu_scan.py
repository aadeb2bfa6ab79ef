"""The selective scan as a compiled CPU kernel: one pass over the tokens, the state in cache.

The chunked scan (:func:`~meshfield.nn.ssm.ssd_chunked`) turns the recurrence into batched
matrix products of a few dozen rows, and the element-wise work around them (decay masks,
exponentials, copies between layouts) costs more than the products on a CPU. This kernel runs
the recurrence itself,

.. math::

    h_t = \\exp(\\Delta_t A)\\, h_{t-1} + \\Delta_t\\, x_t B_t^\\top, \\qquad y_t = h_t C_t,

token by token with the ``[dstate, headdim]`` state of one head in the first-level cache, the
loops over ``headdim`` vectorized, the heads of the batch spread over OpenMP threads (PyTorch's
own: loaded after PyTorch, the kernel binds to the OpenMP runtime already loaded). Its backward
pass walks the tokens in reverse with the adjoint state, recomputing the forward states of one
stretch of tokens at a time from states saved every ``stretch`` tokens (the only thing the
forward pass keeps besides its inputs).

The kernel is about two hundred lines of C++ compiled on first use with the system's C++
compiler (``$CXX``, ``c++``, ``g++`` or ``clang++``) into :func:`kernel_dir`, and loaded with
:mod:`ctypes`; no PyTorch headers are involved, so it builds in a second or two. Where no
compiler is found or the build fails, :func:`available` is False and the chunked scan runs, as
it always did; ``MESHFIELD_CPU_SCAN=0`` turns the kernel off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch
from torch import Tensor

from meshfield._files import atomic_path
from meshfield.nn._grad import differentiable_backward
from meshfield.nn.ssm._common import check_scan_inputs

__all__ = ["available", "describe", "kernel_dir", "selective_scan"]

ENV_VARIABLE = "MESHFIELD_CPU_SCAN"

#: floats of forward states one backward stretch recomputes (``stretch * headdim * dstate``):
#: 64k floats = 256 kB, half the second-level cache of a core here
_STRETCH_FLOATS = 65536

_SOURCE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

// Inside the kernel a head's state is laid out [dstate, headdim]: the inner loops run over
// headdim, so the output and the input gradient accumulate as vectors, with no horizontal sum.

namespace {

// items over threads: OpenMP's pool where the kernel is built with it (loaded after PyTorch,
// the kernel shares PyTorch's OpenMP runtime and its threads, instead of competing with them)
template <class F>
void parallel(int64_t items, int64_t threads, F fn) {
  threads = std::max<int64_t>(1, std::min<int64_t>(threads, items));
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int64_t i = 0; i < items; ++i) fn(i);
#else
  std::vector<std::thread> pool;  // the calling thread takes the first share
  for (int64_t w = 1; w < threads; ++w)
    pool.emplace_back([&, w] {
      for (int64_t i = w; i < items; i += threads) fn(i);
    });
  for (int64_t i = 0; i < items; i += threads) fn(i);
  for (auto& t : pool) t.join();
#endif
}

// the state restarts from zero where the segment id changes
inline bool restarts(const int64_t* seg, int64_t row, int64_t len, int64_t t) {
  return seg != nullptr && t > 0 && seg[row * len + t] != seg[row * len + t - 1];
}

// [p, n] (PyTorch's layout) to [n, p] (the kernel's) and back
void to_inner(float* dst, const float* src, int64_t p, int64_t n) {
  for (int64_t i = 0; i < p; ++i)
    for (int64_t j = 0; j < n; ++j) dst[j * p + i] = src[i * n + j];
}
void to_outer(float* dst, const float* src, int64_t p, int64_t n) {
  for (int64_t i = 0; i < p; ++i)
    for (int64_t j = 0; j < n; ++j) dst[i * n + j] = src[j * p + i];
}

// one token of one head: s <- a prev + d B x^T (prev dropped where the state restarts); adds
// the output s^T C to y unless y is null
inline void advance(float* __restrict s, const float* prev, const float* __restrict xt,
                    const float* __restrict Bt, const float* __restrict Ct, float* __restrict yt,
                    float d, float a, bool restart, int64_t p, int64_t n) {
  if (yt != nullptr) std::fill(yt, yt + p, 0.f);
  for (int64_t j = 0; j < n; ++j) {
    const float u = d * Bt[j];
    float* sj = s + j * p;
    const float* pj = prev + j * p;
    if (restart) {
#pragma omp simd
      for (int64_t i = 0; i < p; ++i) sj[i] = u * xt[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < p; ++i) sj[i] = a * pj[i] + u * xt[i];
    }
    if (yt != nullptr) {
      const float c = Ct[j];
#pragma omp simd
      for (int64_t i = 0; i < p; ++i) yt[i] += c * sj[i];
    }
  }
}

// the scan of one row and head after another (see meshfield_scan_forward)
template <int64_t P>
void forward(const float* x, const float* dt, const float* A, const float* B, const float* C,
             const int64_t* seg, const float* init, float* y, float* fin, float* saved, int64_t b,
             int64_t L, int64_t h, int64_t p_given, int64_t g, int64_t n, int64_t K,
             int64_t threads) {
  const int64_t p = P > 0 ? P : p_given;  // a constant for the common head sizes
  const int64_t r = h / g, pn = p * n, stretches = (L + K - 1) / K;
  parallel(b * h, threads, [&](int64_t item) {
    const int64_t row = item / h, head = item % h, group = head / r;
    std::vector<float> state(pn, 0.f);
    float* s = state.data();
    if (init != nullptr) to_inner(s, init + item * pn, p, n);
    const float rate = A[head];
    for (int64_t t = 0; t < L; ++t) {
      if (saved != nullptr && t % K == 0)
        std::memcpy(saved + (item * stretches + t / K) * pn, s, pn * sizeof(float));
      const int64_t tok = row * L + t;
      const float d = dt[tok * h + head];
      advance(s, s, x + (tok * h + head) * p, B + (tok * g + group) * n,
              C + (tok * g + group) * n, y + (tok * h + head) * p, d, std::exp(d * rate),
              restarts(seg, row, L, t), p, n);
    }
    to_outer(fin + item * pn, s, p, n);
  });
}

// its gradients (see meshfield_scan_backward)
template <int64_t P>
void backward(const float* x, const float* dt, const float* A, const float* B, const float* C,
              const int64_t* seg, const float* saved, const float* dy, const float* dfin,
              float* dx, float* ddt, float* dA, float* dB, float* dC, float* dinit, int64_t b,
              int64_t L, int64_t h, int64_t p_given, int64_t g, int64_t n, int64_t K,
              int64_t threads) {
  const int64_t p = P > 0 ? P : p_given;
  const int64_t r = h / g, pn = p * n, stretches = (L + K - 1) / K;
  parallel(b * h, threads, [&](int64_t item) {
    const int64_t row = item / h, head = item % h, group = head / r;
    std::vector<float> adjoint(pn, 0.f), states(K * pn), to_x(p), to_prev(p);
    float* ds = adjoint.data();
    float* tx = to_x.data();
    float* tp = to_prev.data();
    if (dfin != nullptr) to_inner(ds, dfin + item * pn, p, n);
    const float rate = A[head];
    double dA_sum = 0.0;
    float scale = 1.f;
    for (int64_t k = stretches - 1; k >= 0; --k) {
      const int64_t t0 = k * K, t1 = std::min(L, t0 + K);
      const float* start = saved + (item * stretches + k) * pn;
      // the states after every token of this stretch, again
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t tok = row * L + t;
        const float d = dt[tok * h + head];
        const float* prev = t == t0 ? start : states.data() + (t - t0 - 1) * pn;
        advance(states.data() + (t - t0) * pn, prev, x + (tok * h + head) * p,
                B + (tok * g + group) * n, nullptr, nullptr, d, std::exp(d * rate),
                restarts(seg, row, L, t), p, n);
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const int64_t tok = row * L + t;
        const float d = dt[tok * h + head];
        const bool restart = restarts(seg, row, L, t);
        const float a = std::exp(d * rate);
        const float* cur = states.data() + (t - t0) * pn;
        const float* prev = t == t0 ? start : states.data() + (t - t0 - 1) * pn;
        const float* __restrict xt = x + (tok * h + head) * p;
        const float* Bt = B + (tok * g + group) * n;
        const float* Ct = C + (tok * g + group) * n;
        const float* __restrict dyt = dy + (tok * h + head) * p;
        float* dBt = dB + (tok * h + head) * n;
        float* dCt = dC + (tok * h + head) * n;
        std::fill(tx, tx + p, 0.f);
        std::fill(tp, tp + p, 0.f);
        // two state rows at a time: half the passes over the accumulators tx and tp; the
        // adjoint's decay from the token after is applied here, as it is read (scale)
        int64_t j = 0;
        for (; j + 1 < n; j += 2) {
          float* __restrict ds0 = ds + j * p;
          float* __restrict ds1 = ds0 + p;
          const float* __restrict c0 = cur + j * p;
          const float* __restrict c1 = c0 + p;
          const float* __restrict p0 = prev + j * p;
          const float* __restrict p1 = p0 + p;
          float* __restrict txr = tx;
          float* __restrict tpr = tp;
          const float C0 = Ct[j], C1 = Ct[j + 1], B0 = Bt[j], B1 = Bt[j + 1];
          float to_C0 = 0.f, to_C1 = 0.f, to_B0 = 0.f, to_B1 = 0.f;
#pragma omp simd reduction(+ : to_C0, to_C1, to_B0, to_B1)
          for (int64_t i = 0; i < p; ++i) {
            const float gy = dyt[i];
            const float total0 = scale * ds0[i] + gy * C0;  // d loss / d h_t
            const float total1 = scale * ds1[i] + gy * C1;
            ds0[i] = total0;
            ds1[i] = total1;
            to_C0 += gy * c0[i];
            to_C1 += gy * c1[i];
            to_B0 += total0 * xt[i];
            to_B1 += total1 * xt[i];
            txr[i] += total0 * B0 + total1 * B1;
            tpr[i] += total0 * p0[i] + total1 * p1[i];
          }
          dCt[j] = to_C0;
          dCt[j + 1] = to_C1;
          dBt[j] = d * to_B0;
          dBt[j + 1] = d * to_B1;
        }
        for (; j < n; ++j) {
          float* __restrict dsj = ds + j * p;
          const float* __restrict cj = cur + j * p;
          const float* __restrict pj = prev + j * p;
          float* __restrict txr = tx;
          float* __restrict tpr = tp;
          const float cC = Ct[j], bB = Bt[j];
          float to_C = 0.f, to_B = 0.f;
#pragma omp simd reduction(+ : to_C, to_B)
          for (int64_t i = 0; i < p; ++i) {
            to_C += dyt[i] * cj[i];
            const float total = scale * dsj[i] + dyt[i] * cC;
            dsj[i] = total;
            txr[i] += total * bB;
            to_B += total * xt[i];
            tpr[i] += total * pj[i];
          }
          dCt[j] = to_C;
          dBt[j] = d * to_B;
        }
        float through_x = 0.f, through_decay = 0.f;
        float* dxt = dx + (tok * h + head) * p;
#pragma omp simd reduction(+ : through_x, through_decay)
        for (int64_t i = 0; i < p; ++i) {
          dxt[i] = d * tx[i];
          through_x += xt[i] * tx[i];
          through_decay += tp[i];
        }
        if (restart) {
          ddt[tok * h + head] = through_x;
          scale = 0.f;  // nothing before a restart reaches this state
        } else {
          ddt[tok * h + head] = through_x + rate * a * through_decay;
          dA_sum += static_cast<double>(d) * a * through_decay;
          scale = a;
        }
      }
    }
#pragma omp simd
    for (int64_t i = 0; i < pn; ++i) ds[i] *= scale;
    dA[item] = static_cast<float>(dA_sum);
    if (dinit != nullptr) to_outer(dinit + item * pn, ds, p, n);
  });
}

}  // namespace

extern "C" {

// x [b, L, h, p], dt [b, L, h], A [h], B and C [b, L, g, n], seg [b, L] or null, init
// [b, h, p, n] or null. Writes y [b, L, h, p], fin [b, h, p, n] and, unless null, saved
// [b, h, ceil(L / K), n, p]: the state before tokens 0, K, 2K, ... in the kernel's layout.
int meshfield_scan_forward(const float* x, const float* dt, const float* A, const float* B,
                           const float* C, const int64_t* seg, const float* init, float* y,
                           float* fin, float* saved, int64_t b, int64_t L, int64_t h, int64_t p,
                           int64_t g, int64_t n, int64_t K, int64_t threads) {
#define MESHFIELD_FORWARD(P) \
  forward<P>(x, dt, A, B, C, seg, init, y, fin, saved, b, L, h, p, g, n, K, threads)
  switch (p) {
    case 16: MESHFIELD_FORWARD(16); break;
    case 32: MESHFIELD_FORWARD(32); break;
    case 64: MESHFIELD_FORWARD(64); break;
    default: MESHFIELD_FORWARD(0);
  }
  return 0;
}

// Gradients for the same arguments, from dy [b, L, h, p] and dfin [b, h, p, n] (or null).
// Writes dx [b, L, h, p], ddt [b, L, h], dA [b, h] (per row and head, summed by the caller),
// dB and dC per head [b, L, h, n] (summed over the heads of a group by the caller), dinit
// [b, h, p, n] unless null.
int meshfield_scan_backward(const float* x, const float* dt, const float* A, const float* B,
                            const float* C, const int64_t* seg, const float* saved,
                            const float* dy, const float* dfin, float* dx, float* ddt, float* dA,
                            float* dB, float* dC, float* dinit, int64_t b, int64_t L, int64_t h,
                            int64_t p, int64_t g, int64_t n, int64_t K, int64_t threads) {
#define MESHFIELD_BACKWARD(P)                                                              \
  backward<P>(x, dt, A, B, C, seg, saved, dy, dfin, dx, ddt, dA, dB, dC, dinit, b, L, h, p, g, \
              n, K, threads)
  switch (p) {
    case 16: MESHFIELD_BACKWARD(16); break;
    case 32: MESHFIELD_BACKWARD(32); break;
    case 64: MESHFIELD_BACKWARD(64); break;
    default: MESHFIELD_BACKWARD(0);
  }
  return 0;
}

}  // extern "C"
"""

_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_tried = False


def kernel_dir() -> Path:
    """Where built kernels are cached: ``kernels`` in :func:`meshfield.runtime.cache_home`
    (by default ``~/.cache/meshfield/kernels``)."""
    from meshfield.runtime import cache_home

    return cache_home() / "kernels"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def _build(compiler: str) -> Path | None:
    """Compile the kernel (once per source, compiler and CPU) into the cache; its path."""
    flags = ["-O3", "-march=native", "-fopenmp", "-std=c++17", "-shared", "-fPIC", "-pthread"]
    key = hashlib.sha256(
        "\n".join([_SOURCE, compiler, " ".join(flags), platform.machine(), _cpu_flags()]).encode()
    ).hexdigest()[:20]
    target = kernel_dir() / f"scan-{key}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    portable = [f for f in flags if f != "-march=native"]
    no_openmp = ["-fopenmp-simd" if f == "-fopenmp" else f for f in portable]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "scan.cpp"
        source.write_text(_SOURCE)
        for attempt in (flags, portable, no_openmp):
            try:
                with atomic_path(target) as built:  # whole or not at all
                    subprocess.run(
                        [compiler, *attempt, str(source), "-o", str(built)],
                        capture_output=True,
                        check=True,
                        timeout=300,
                    )
            except subprocess.CalledProcessError:
                continue  # the next, plainer set of flags
            return target
    return None


def available() -> bool:
    """Whether the compiled kernel can run here (built on the first call; False where
    ``MESHFIELD_CPU_SCAN=0``, off Linux and macOS, or where no C++ compiler builds it)."""
    global _library, _tried
    if os.environ.get(ENV_VARIABLE, "1") == "0":
        return False
    if _tried:
        return _library is not None
    with _lock:
        if not _tried:
            compiler = _compiler()
            if compiler is not None and platform.system() in ("Linux", "Darwin"):
                try:
                    path = _build(compiler)
                    _library = None if path is None else _load(path)
                except (OSError, subprocess.SubprocessError):
                    # an unwritable cache, a compiler that hangs, a library that does not load
                    _library = None
            _tried = True
    return _library is not None


def describe() -> str:
    """One line for benchmark reports: which selective scan float32 CPU code runs here."""
    if available():
        return "selective scan: the compiled CPU kernel (meshfield.nn.ssm.cpu_scan)"
    if os.environ.get(ENV_VARIABLE, "1") == "0":
        return f"selective scan: chunked ({ENV_VARIABLE}=0)"
    return "selective scan: chunked (no C++ compiler built the CPU kernel)"


def _load(path: Path) -> ctypes.CDLL:
    library = ctypes.CDLL(str(path))
    # pointers first, then the eight sizes (b, L, h, p, g, n, K, threads)
    for name, pointers in (("meshfield_scan_forward", 10), ("meshfield_scan_backward", 15)):
        fn = getattr(library, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p] * pointers + [ctypes.c_int64] * 8
    return library


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _stretch(pn: int) -> int:
    return max(1, min(1024, _STRETCH_FLOATS // pn))


def _forward(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    seg: Tensor | None,
    init: Tensor | None,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(y, final, saved)``; the states for a backward pass only when ``save``."""
    b, L, h, p = x.shape
    g, n = B.shape[2:]
    K = _stretch(p * n)
    y = torch.empty_like(x)
    final = x.new_empty(b, h, p, n)
    saved = x.new_empty(b, h, -(-L // K), n, p) if save else None
    _library.meshfield_scan_forward(  # type: ignore[union-attr]
        _ptr(x), _ptr(dt), _ptr(A), _ptr(B), _ptr(C), _ptr(seg), _ptr(init),
        _ptr(y), _ptr(final), _ptr(saved), b, L, h, p, g, n, K, torch.get_num_threads(),
    )  # fmt: skip
    return y, final, saved


class _SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dt, A, B, C, seg, init):  # type: ignore[override]
        y, final, saved = _forward(x, dt, A, B, C, seg, init, save=True)
        ctx.save_for_backward(x, dt, A, B, C, seg, init, saved)
        return y, final

    @staticmethod
    def backward(ctx, dy, dfinal):  # type: ignore[override]
        x, dt, A, B, C, seg, init, saved = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if torch.is_grad_enabled():  # this backward pass is differentiated in turn
            inputs = (x, dt, A, B, C, seg, init)
            return tuple(differentiable_backward(_chunked, inputs, needs, (dy, dfinal)))
        b, L, h, p = x.shape
        g, n = B.shape[2:]
        dy = torch.zeros_like(x) if dy is None else dy.contiguous()
        dfinal = None if dfinal is None else dfinal.contiguous()
        dx = torch.empty_like(x)
        ddt = torch.empty_like(dt)
        dA = x.new_empty(b, h)
        dB = x.new_empty(b, L, h, n)
        dC = x.new_empty(b, L, h, n)
        dinit = None if init is None else torch.empty_like(init)
        _library.meshfield_scan_backward(  # type: ignore[union-attr]
            _ptr(x), _ptr(dt), _ptr(A), _ptr(B), _ptr(C), _ptr(seg), _ptr(saved), _ptr(dy),
            _ptr(dfinal), _ptr(dx), _ptr(ddt), _ptr(dA), _ptr(dB), _ptr(dC), _ptr(dinit),
            b, L, h, p, g, n, _stretch(p * n), torch.get_num_threads(),
        )  # fmt: skip
        if g != h:
            dB = dB.view(b, L, g, h // g, n).sum(3)
            dC = dC.view(b, L, g, h // g, n).sum(3)
        return dx, ddt, dA.sum(0), dB, dC, None, dinit


def _chunked(
    x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, seg: Tensor | None, init: Tensor | None
) -> tuple[Tensor, Tensor]:
    """The same scan in plain operations (the chunked form), for a differentiated backward."""
    from meshfield.nn.ssm.ssd import _scan_padded

    return _scan_padded(x, dt, A, B, C, None, seg, init, min(64, x.shape[1]))


def selective_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    seq_idx: Tensor | None = None,
    initial_states: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The scan of :func:`~meshfield.nn.ssm.ssd_chunked` without ``D``, gate or ``dt``
    transform, in the compiled kernel: ``(y, final_states)``.

    Float32 CPU tensors shaped as :func:`~meshfield.nn.ssm.ssd_chunked` takes them (shapes are
    checked the same way); ``dt`` is used as given. Without gradients nothing is kept for a backward
    pass. Raises ``RuntimeError`` where :func:`available` is False and ``ValueError`` for
    tensors of another dtype or device.
    """
    if not available():
        msg = (
            "The CPU scan kernel is not available here (no C++ compiler built it, or "
            f"{ENV_VARIABLE}=0); call meshfield.nn.ssm.ssd_chunked, which falls back to the "
            "chunked scan"
        )
        raise RuntimeError(msg)
    tensors = {"x": x, "dt": dt, "A": A, "B": B, "C": C, "initial_states": initial_states}
    for name, t in tensors.items():
        if t is not None and (t.dtype != torch.float32 or t.device.type != "cpu"):
            msg = (
                f"The CPU scan kernel takes float32 CPU tensors ({name!r} is {t.dtype} on "
                f"{t.device})"
            )
            raise ValueError(msg)
    # a wrong shape would make the kernel read past its inputs: refuse it here
    check_scan_inputs(
        x, dt, A, B, C, D=None, z=None, dt_bias=None, seq_idx=seq_idx,
        initial_states=initial_states,
    )  # fmt: skip
    return scan_unchecked(x, dt, A, B, C, seq_idx, initial_states)


def scan_unchecked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    seq_idx: Tensor | None,
    initial_states: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """:func:`selective_scan` for callers that checked its inputs already (``ssd_chunked``)."""
    seg = None if seq_idx is None else seq_idx.to(torch.int64).contiguous()
    init = None if initial_states is None else initial_states.contiguous()
    args = (x.contiguous(), dt.contiguous(), A.contiguous(), B.contiguous(), C.contiguous())
    inputs = (*args, init)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
        return _SelectiveScan.apply(*args, seg, init)
    y, final, _ = _forward(*args, seg, init, save=False)
    return y, final
