# This file is generated from book/chapters/04_optvq.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/04_optvq.md:1490
"""OptVQ's assignment fused into Triton kernels: eight passes over the N x K matrix, one buffer.

`vqlit.optvq.sinkhorn_assign` uses it on CUDA for float32 features and up to MAX_FUSED_CODES
codes.
Under Triton's interpreter (TRITON_INTERPRET=1) the kernels also run on CPU tensors: that is how
the tests check them on a machine without a GPU.
"""
from __future__ import annotations

import os

import torch
from torch import Tensor

from vqlit.optvq import _squared_distances
from vqlit.sinkhorn import _reduce, _total_rows

try:
    import triton
    import triton.language as tl
    _jit = triton.jit
except ImportError:                  # CPU-only PyTorch: sinkhorn_assign keeps its torch path
    triton = tl = None

    def _jit(fn):
        return fn

MAX_FUSED_CODES = 32768   # a row of the matrix (K float32 values) is held in a program's registers
_TILE = 16384             # entries a program holds at once: BLOCK_M rows x BLOCK_K >= K columns


def triton_available(device: torch.device | str) -> bool:
    """Whether the kernels can run on `device`: CUDA with Triton, or anywhere when interpreted."""
    if triton is None:
        return False
    return torch.device(device).type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


@_jit
def _moments_kernel(S, F, MEAN, M2, GPART, N, K, P,
                    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """Pass 1 (read): from S = C^2, per row f_i = min_k C_ik, the mean and the sum of squared
    deviations; per program the column minima of C_ik - f_i over its rows (Eq. stabilized)."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    g = tl.full([BLOCK_K], float("inf"), tl.float32)                       # (BLOCK_K,)
    for r0 in range(pid * BLOCK_M, N, P * BLOCK_M):                        # this program's rows
        rows = r0 + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        s = tl.load(S + rows[:, None] * K + cols[None, :], mask=mask, other=0.0)
        c = tl.sqrt(tl.maximum(s, 0.0))                                     # (BLOCK_M, BLOCK_K)
        f = tl.min(tl.where(mask, c, float("inf")), 1)                      # (BLOCK_M,)
        mean = tl.sum(tl.where(mask, c, 0.0), 1) / K
        dev = tl.where(mask, c - mean[:, None], 0.0)                        # exact two-pass
        tl.store(F + rows, f, mask=rmask)
        tl.store(MEAN + rows, mean, mask=rmask)
        tl.store(M2 + rows, tl.sum(dev * dev, 1), mask=rmask)
        g = tl.minimum(g, tl.min(tl.where(mask, c - f[:, None], float("inf")), 0))
    tl.store(GPART + pid * K + cols, g, mask=cmask)


@_jit
def _kernel_kernel(S, F, G, EPS, U, CPART, N, K, P,
                   BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """Pass 2 (read, write): S <- exp(-eps (C - f - g)), Eq. (stabilized), and per program the
    column sums of diag(u) kernel, the first half-step of Eq. (sinkhorn-updates)."""
    pid = tl.program_id(0)
    eps = tl.load(EPS)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    g = tl.load(G + cols, mask=cmask, other=0.0)
    acc = tl.zeros([BLOCK_K], tl.float32)                                  # sum_i u_i K_ik
    for r0 in range(pid * BLOCK_M, N, P * BLOCK_M):
        rows = r0 + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        ptr = S + rows[:, None] * K + cols[None, :]
        f = tl.load(F + rows, mask=rmask, other=0.0)
        u = tl.load(U + rows, mask=rmask, other=0.0)
        c = tl.sqrt(tl.maximum(tl.load(ptr, mask=mask, other=0.0), 0.0))
        shifted = tl.where(mask, c - f[:, None] - g[None, :], float("inf"))  # >= 0
        kern = tl.exp(-eps * shifted)                                       # 0 off the matrix
        tl.store(ptr, kern, mask=mask)
        acc += tl.sum(u[:, None] * kern, 0)
    tl.store(CPART + pid * K + cols, acc, mask=cmask)


@_jit
def _scaling_kernel(Q, V, A, CPART, N, K, P, tiny,
                    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """Passes 3.. (read): u_i = a_i / (K v)_i for a tile of whole rows, then the column sums of
    diag(u) K for the next v: both halves of Eq. (sinkhorn-updates) in one read."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    v = tl.load(V + cols, mask=cmask, other=0.0)
    acc = tl.zeros([BLOCK_K], tl.float32)
    for r0 in range(pid * BLOCK_M, N, P * BLOCK_M):
        rows = r0 + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        q = tl.load(Q + rows[:, None] * K + cols[None, :], mask=mask, other=0.0)
        u = tl.load(A + rows, mask=rmask, other=0.0) / tl.maximum(tl.sum(q * v[None, :], 1), tiny)
        acc += tl.sum(u[:, None] * q, 0)
    tl.store(CPART + pid * K + cols, acc, mask=cmask)


@_jit
def _argmax_kernel(Q, V, OUT, N, K, P, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """Last pass (read): argmax_k K_ik v_k, the first index on ties, as torch.argmax."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    v = tl.load(V + cols, mask=cmask, other=0.0)
    for r0 in range(pid * BLOCK_M, N, P * BLOCK_M):
        rows = r0 + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        q = tl.load(Q + rows[:, None] * K + cols[None, :], mask=mask, other=0.0)
        val = tl.where(mask, q * v[None, :], -1.0)                         # entries are >= 0
        best = tl.max(val, 1)
        first = tl.min(tl.where(val == best[:, None], cols[None, :], BLOCK_K), 1)
        tl.store(OUT + rows, first.to(tl.int64), mask=rmask)


@torch.no_grad()
def fused_assign(z: Tensor, codebook: Tensor, *, epsilon: float = 10.0, iters: int = 5,
                 normalize: bool = True, group=None, programs: int | None = None) -> Tensor:
    """`sinkhorn_assign(solver="fast")` in eight passes: (N, d), (K, d) -> (N,) int64.

    The same steps as the torch path, Eqs. (normalize), (stabilized), (sinkhorn-updates), in
    float32, with the reductions over rows (column minima and sums, the normalization's moments)
    combined across programs, then across the processes of `group`, between the kernels.
    """
    if not triton_available(z.device):
        raise RuntimeError(f"the fused Sinkhorn kernels need Triton and a CUDA device (or "
                           f"TRITON_INTERPRET=1); got {z.device} with Triton "
                           f"{'installed' if triton else 'missing'}")
    n, k = z.shape[0], codebook.shape[0]
    if k > MAX_FUSED_CODES:
        raise ValueError(f"the fused kernels hold a row of K codes in registers: "
                         f"K <= {MAX_FUSED_CODES}, got {k}")
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    z, codebook = z.float().contiguous(), codebook.float().contiguous()
    block_k = max(16, triton.next_power_of_2(k))
    block_m = max(1, _TILE // block_k)
    if programs is None:        # one persistent program per multiprocessor
        programs = (torch.cuda.get_device_properties(z.device).multi_processor_count
                    if z.is_cuda else 4)
    p = max(1, min(programs, triton.cdiv(n, block_m)))
    launch = dict(BLOCK_M=block_m, BLOCK_K=block_k, num_warps=16 if block_k <= _TILE else 32)
    tiny = torch.finfo(torch.float32).tiny

    scores = _squared_distances(z, codebook)                       # (N, K): the one buffer
    f, mean, m2 = (torch.empty(n, device=z.device) for _ in range(3))          # (N,) each
    part = torch.empty(p, k, device=z.device)                     # (P, K) per-program columns
    _moments_kernel[(p,)](scores, f, mean, m2, part, n, k, p, **launch)
    g = _reduce(part.amin(0), "min", group)                       # (K,) Eq. (stabilized)
    eps = torch.full((), float(epsilon), device=z.device)
    rows = _total_rows(scores, group)                             # N over all processes
    if normalize:                                                 # Eq. (normalize): sigma
        grand = _reduce(mean.sum(), "sum", group) / rows          # mean of all N K distances
        m2_all = _reduce(m2.sum() + k * (mean - grand).square().sum(), "sum", group)
        eps = eps / ((m2_all / (rows * k - 1).clamp_min(1)).sqrt() + 1e-6)
    f_min = _reduce(f.amin(), "min", group)
    u = torch.exp(-eps * (f - f_min))                             # (N,) Eq. (start)
    _kernel_kernel[(p,)](scores, f, g, eps.reshape(1), u, part, n, k, p, **launch)
    a = torch.ones(n, device=z.device) / rows                     # (N,) 1 / N
    b = torch.full((k,), 1.0 / k, device=z.device)                # (K,) 1 / K
    for step in range(iters):
        col = _reduce(part.sum(0), "sum", group)                  # (K,) K^T u
        v = b / col.clamp_min(tiny)                               # Eq. (sinkhorn-updates)
        v = (v / v.amax()).clamp_min(tiny)                        # scale-free, as `sinkhorn`
        if step + 1 < iters:                                      # the last u is not needed
            _scaling_kernel[(p,)](scores, v, a, part, n, k, p, tiny, **launch)
    out = torch.empty(n, dtype=torch.int64, device=z.device)
    _argmax_kernel[(p,)](scores, v, out, n, k, p, **launch)
    return out


__all__ = ['MAX_FUSED_CODES', 'triton_available', 'fused_assign']
