# This file is generated from book/chapters/a6b_sinkhorn_kernels.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a6b_sinkhorn_kernels.md: MAX_FUSED_CODES, _TILE, _COLUMNS
"""OptVQ's assignment fused into Triton kernels: eight passes over the N x K matrix, one buffer.

`vqlit.optvq.sinkhorn_assign` uses it, once imported (it is opt-in), on CUDA for float32 features
and up to MAX_FUSED_CODES codes, and its torch path, after one warning, where a kernel fails
(vqlit.nearest_triton's `try_fused`). Under Triton's interpreter (TRITON_INTERPRET=1, set before
the kernels are defined) the kernels also run on CPU tensors where vqlit.nearest_triton's
`interpreter_works()`: that is how the book and the tests check them without a GPU.
"""
from __future__ import annotations

import torch
from torch import Tensor

from vqlit.nearest_triton import jit, tl, triton, triton_available, try_fused
from vqlit.sinkhorn import group_reduce, total_rows
from vqlit.vq import squared_distances

MAX_FUSED_CODES = 32768   # a row of the matrix (K float32 values) is held in a program's registers
_TILE = 16384             # entries a program holds at once: BLOCK_M rows x BLOCK_K >= K columns
_COLUMNS = 1024           # columns per program where the programs' column vectors are combined


# %% book/chapters/a6b_sinkhorn_kernels.md: def _moments_kernel
@jit
def _moments_kernel(S, F, MEAN, M2, GPART, N, K, P,
                    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """Pass 2 (reads S = C^2): per row f_i = min_k C_ik (Eq. stabilized), the mean m_i and M_i
    (Eq. pooled-variance); per program the column minima of C_ik - f_i over its rows."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    g = tl.full([BLOCK_K], float("inf"), tl.float32)                       # (BLOCK_K,)
    for r0 in range(0, N, P * BLOCK_M):                                    # this program's rows
        rows = r0 + pid * BLOCK_M + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        s = tl.load(S + rows[:, None].to(tl.int64) * K + cols[None, :], mask=mask, other=0.0)
        c = tl.sqrt(tl.maximum(s, 0.0, propagate_nan=tl.PropagateNan.ALL))  # NaN stays, as torch
        f = tl.min(tl.where(mask, c, float("inf")), 1)                      # (BLOCK_M,)
        mean = tl.sum(tl.where(mask, c, 0.0), 1) / K
        dev = tl.where(mask, c - mean[:, None], 0.0)                        # exact two-pass
        tl.store(F + rows, f, mask=rmask)
        tl.store(MEAN + rows, mean, mask=rmask)
        tl.store(M2 + rows, tl.sum(dev * dev, 1), mask=rmask)
        g = tl.minimum(g, tl.min(tl.where(mask, c - f[:, None], float("inf")), 0))
    tl.store(GPART + pid * K + cols, g, mask=cmask)


# %% book/chapters/a6b_sinkhorn_kernels.md: def _columns_kernel
@jit
def _columns_kernel(PART, B, OUT, OUT_MAX, P, K, tiny,
                    SCALE: tl.constexpr, BLOCK: tl.constexpr):
    """Combine the programs' column vectors PART (P, K): their minimum (g, Eq. stabilized) or,
    with SCALE, their sum K^T u, v = b / K^T u (Eq. sinkhorn-updates) and each block's max v."""
    pid = tl.program_id(0)
    cols = pid * BLOCK + tl.arange(0, BLOCK)
    cmask = cols < K
    if SCALE:
        acc = tl.zeros([BLOCK], tl.float32)
        for q in range(0, P):
            acc += tl.load(PART + q * K + cols, mask=cmask, other=0.0)
        v = tl.load(B + cols, mask=cmask, other=0.0) / tl.maximum(acc, tiny)
        tl.store(OUT + cols, v, mask=cmask)
        tl.store(OUT_MAX + pid, tl.max(tl.where(cmask, v, 0.0), 0))
    else:
        acc = tl.full([BLOCK], float("inf"), tl.float32)
        for q in range(0, P):
            acc = tl.minimum(acc, tl.load(PART + q * K + cols, mask=cmask, other=float("inf")))
        tl.store(OUT + cols, acc, mask=cmask)


# %% book/chapters/a6b_sinkhorn_kernels.md: def _start_kernel
@jit
def _start_kernel(F, MEAN, M2, STATE, N, K, epsilon,
                  NORMALIZE: tl.constexpr, BLOCK: tl.constexpr):
    """One program: STATE = [eps, min_i f_i], eps = epsilon / (sigma + 1e-6) with sigma from the
    row moments by Eq. (6) (Eq. normalize), or epsilon itself."""
    offs = tl.arange(0, BLOCK)
    total = tl.zeros([BLOCK], tl.float32)
    low = tl.full([BLOCK], float("inf"), tl.float32)
    for r0 in range(0, N, BLOCK):
        rmask = r0 + offs < N
        total += tl.load(MEAN + r0 + offs, mask=rmask, other=0.0)
        low = tl.minimum(low, tl.load(F + r0 + offs, mask=rmask, other=float("inf")))
    eps = epsilon + tl.zeros([BLOCK], tl.float32)
    if NORMALIZE:
        grand = tl.sum(total, 0) / N                                       # mean of all C_ik
        spread = tl.zeros([BLOCK], tl.float32)
        for r0 in range(0, N, BLOCK):
            rmask = r0 + offs < N
            between = tl.load(MEAN + r0 + offs, mask=rmask, other=0.0) - grand
            within = tl.load(M2 + r0 + offs, mask=rmask, other=0.0)
            spread += tl.where(rmask, within + K * between * between, 0.0)
        count = tl.maximum((N * 1.0) * K - 1.0, 1.0)
        eps = eps / (tl.sqrt(tl.sum(spread, 0) / count) + 1e-6)
    tl.store(STATE + offs, eps, mask=offs == 0)
    tl.store(STATE + 1 + offs, tl.min(low, 0) + tl.zeros([BLOCK], tl.float32), mask=offs == 0)


# %% book/chapters/a6b_sinkhorn_kernels.md: def _load_v
@jit
def _load_v(V, VMAX, NV, cols, cmask, tiny, BLOCK_V: tl.constexpr):
    """v / max(v), clamped at the smallest normal number, as `sinkhorn` (scale-free)."""
    parts = tl.arange(0, BLOCK_V)
    vmax = tl.max(tl.load(VMAX + parts, mask=parts < NV, other=0.0), 0)
    v = tl.maximum(tl.load(V + cols, mask=cmask, other=0.0) / vmax, tiny)
    return tl.where(cmask, v, 0.0)


# %% book/chapters/a6b_sinkhorn_kernels.md: def _kernel_kernel
@jit
def _kernel_kernel(S, F, G, STATE, CPART, N, K, P,
                   BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """Pass 3 (reads and writes S): S <- exp(-eps (C - f - g)), Eq. (4.9), and per program
    the column sums of diag(u) kernel with u = exp(-eps (f - min f)), Eq. (4.10): the first
    half-step of Eq. (4.6)."""
    pid = tl.program_id(0)
    eps = tl.load(STATE)
    f_min = tl.load(STATE + 1)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    g = tl.load(G + cols, mask=cmask, other=0.0)
    acc = tl.zeros([BLOCK_K], tl.float32)                                  # sum_i u_i K_ik
    for r0 in range(0, N, P * BLOCK_M):
        rows = r0 + pid * BLOCK_M + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        ptr = S + rows[:, None].to(tl.int64) * K + cols[None, :]
        f = tl.load(F + rows, mask=rmask, other=0.0)
        u = tl.where(rmask, tl.exp(-eps * (f - f_min)), 0.0)               # (BLOCK_M,)
        c = tl.sqrt(tl.maximum(tl.load(ptr, mask=mask, other=0.0), 0.0,
                               propagate_nan=tl.PropagateNan.ALL))               # NaN stays
        shifted = tl.where(mask, c - f[:, None] - g[None, :], float("inf"))  # >= 0
        kern = tl.exp(-eps * shifted)                                       # 0 off the matrix
        tl.store(ptr, kern, mask=mask)
        acc += tl.sum(u[:, None] * kern, 0)
    tl.store(CPART + pid * K + cols, acc, mask=cmask)


# %% book/chapters/a6b_sinkhorn_kernels.md: def _scaling_kernel
@jit
def _scaling_kernel(Q, V, VMAX, NV, A, CPART, N, K, P, tiny,
                    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_V: tl.constexpr):
    """Passes 4 to 7 (read Q, the kernel): u_i = a / (K v)_i for a tile of whole rows, then the
    column sums of diag(u) K for the next v: both halves of Eq. (4.6) in one read."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    v = _load_v(V, VMAX, NV, cols, cmask, tiny, BLOCK_V)
    a = tl.load(A)                                                         # 1 / N
    acc = tl.zeros([BLOCK_K], tl.float32)
    for r0 in range(0, N, P * BLOCK_M):
        rows = r0 + pid * BLOCK_M + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        q = tl.load(Q + rows[:, None].to(tl.int64) * K + cols[None, :], mask=mask, other=0.0)
        u = a / tl.maximum(tl.sum(q * v[None, :], 1), tiny)                # (BLOCK_M,)
        acc += tl.sum(u[:, None] * q, 0)
    tl.store(CPART + pid * K + cols, acc, mask=cmask)


# %% book/chapters/a6b_sinkhorn_kernels.md: def _argmax_kernel
@jit
def _argmax_kernel(Q, V, VMAX, NV, OUT, N, K, P, tiny,
                   BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_V: tl.constexpr):
    """Pass 8 (read Q, the kernel): argmax_k K_ik v_k, the first index on ties, as torch.argmax."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_K)
    cmask = cols < K
    v = _load_v(V, VMAX, NV, cols, cmask, tiny, BLOCK_V)
    for r0 in range(0, N, P * BLOCK_M):
        rows = r0 + pid * BLOCK_M + tl.arange(0, BLOCK_M)
        rmask = rows < N
        mask = rmask[:, None] & cmask[None, :]
        q = tl.load(Q + rows[:, None].to(tl.int64) * K + cols[None, :], mask=mask, other=0.0)
        val = q * v[None, :]                                               # entries are >= 0
        val = tl.where(mask, tl.where(val == val, val, float("inf")), -1.0)  # NaN first, as torch
        best = tl.max(val, 1)
        first = tl.min(tl.where(val == best[:, None], cols[None, :], BLOCK_K), 1)
        tl.store(OUT + rows, tl.minimum(first, K - 1).to(tl.int64), mask=rmask)  # in the codebook


# %% book/chapters/a6b_sinkhorn_kernels.md: def _launch
def _launch(n: int, k: int, device: torch.device, programs: int | None) -> tuple[int, int, dict]:
    """(P programs, column blocks, the row kernels' sizes) for an N x K matrix on `device`."""
    block_k = max(16, triton.next_power_of_2(k))
    block_m = max(1, _TILE // block_k)
    if programs is None:        # one persistent program per multiprocessor
        programs = (torch.cuda.get_device_properties(device).multi_processor_count
                    if device.type == "cuda" else 4)
    p = max(1, min(programs, triton.cdiv(n, block_m)))
    blocks = triton.cdiv(k, _COLUMNS)                             # column blocks, for v's maxima
    rows_launch = dict(BLOCK_M=block_m, BLOCK_K=block_k, num_warps=16 if block_k <= _TILE else 32)
    return p, blocks, rows_launch


# %% book/chapters/a6b_sinkhorn_kernels.md: def _start_in_group
def _start_in_group(scores: Tensor, f: Tensor, mean: Tensor, m2: Tensor, g: Tensor,
                    state: Tensor, epsilon: float, normalize: bool, group) -> Tensor:
    """`_start_kernel` over the processes of `group`: reduces g in place, writes STATE = [eps,
    min f] (Eq. pooled-variance over all rows) and returns a = 1 / N over all processes."""
    k = scores.shape[1]
    group_reduce(g, "min", group)
    rows = total_rows(scores, group)                         # N over all processes
    eps = torch.full((), float(epsilon), device=scores.device)
    if normalize:                                             # Eq. (6)
        grand = group_reduce(mean.sum(), "sum", group) / rows
        m2_all = group_reduce(m2.sum() + k * (mean - grand).square().sum(), "sum", group)
        eps = eps / ((m2_all / (rows * k - 1).clamp_min(1)).sqrt() + 1e-6)
    state[0], state[1] = eps, group_reduce(f.amin(), "min", group)
    return 1.0 / rows


# %% book/chapters/a6b_sinkhorn_kernels.md: def _check_fused
def _check_fused(z: Tensor, codebook: Tensor, iters: int, epsilon: float) -> None:
    """Raise unless the kernels can run on z's device for this codebook, iters and epsilon."""
    if not triton_available(z.device):
        raise RuntimeError(f"the fused Sinkhorn kernels need Triton and a CUDA device (or "
                           f"an interpreter that runs them, TRITON_INTERPRET=1); got {z.device} "
                           f"with Triton {'installed' if triton else 'missing'}")
    if codebook.shape[0] > MAX_FUSED_CODES:
        raise ValueError(f"the fused kernels hold a row of K codes in registers: "
                         f"K <= {MAX_FUSED_CODES}, got {codebook.shape[0]}")
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive (it multiplies the cost), got {epsilon}")


# %% book/chapters/a6b_sinkhorn_kernels.md: def fused_assign
@torch.no_grad()
def fused_assign(z: Tensor, codebook: Tensor, *, epsilon: float = 10.0, iters: int = 5,
                 normalize: bool = True, group=None, programs: int | None = None) -> Tensor:
    """`sinkhorn_assign` with OptVQ's scaling form in eight passes: (N, d), (K, d) -> (N,) int64.

    The same steps as the torch path, Eqs. (4.7), (4.9), (4.6), in
    float32. Reductions over rows (column minima and sums, the normalization's moments) are
    combined across programs by small kernels, or, with `group`, by torch operations with
    all-reduces over its processes in between.

    Args:
        z: the features, (N, d), on a CUDA device (or the CPU under Triton's interpreter).
        codebook: the codes, (K, d), K at most MAX_FUSED_CODES.
        epsilon: the factor that multiplies the (normalized) cost, as in `SinkhornSolver`; larger
            is closer to the nearest code; positive.
        iters: Sinkhorn iterations, Eq. (4.6); at least 1 (OptVQ runs 5).
        normalize: standardise the cost first, Eq. (4.7), as OptVQ does.
        group: a torch.distributed process group whose rows join the plan; None: this process's
            rows alone.
        programs: P, the persistent programs that split the rows; None: one per multiprocessor
            on CUDA, 4 on the CPU.
    """
    _check_fused(z, codebook, iters, epsilon)
    n, k, dev = z.shape[0], codebook.shape[0], z.device
    p, blocks, rows_launch = _launch(n, k, dev, programs)
    tiny = torch.finfo(torch.float32).tiny
    scores = squared_distances(z.float(), codebook.float())       # (N, K) pass 1: the one buffer
    f, mean, m2 = torch.empty(3, n, device=dev).unbind(0)         # (N,) each
    part = torch.empty(p, k, device=dev)                          # (P, K) per-program columns
    g, v = torch.empty(2, k, device=dev).unbind(0)                # (K,) each
    vmax, state = torch.empty(blocks, device=dev), torch.empty(2, device=dev)
    _moments_kernel[(p,)](scores, f, mean, m2, part, n, k, p, **rows_launch)          # pass 2
    _columns_kernel[(blocks,)](part, part, g, vmax, p, k, tiny, SCALE=False, BLOCK=_COLUMNS)
    b = torch.full((k,), 1.0 / k, device=dev)                     # (K,) 1 / K
    if group is None:
        _start_kernel[(1,)](f, mean, m2, state, n, k, float(epsilon), NORMALIZE=normalize,
                            BLOCK=1024)
        inv_n = torch.full((), 1.0 / n, device=dev)
    else:                       # the same statistics over all processes' rows
        inv_n = _start_in_group(scores, f, mean, m2, g, state, epsilon, normalize, group)
    _kernel_kernel[(p,)](scores, f, g, state, part, n, k, p, **rows_launch)           # pass 3
    for step in range(iters):
        if group is None:
            _columns_kernel[(blocks,)](part, b, v, vmax, p, k, tiny, SCALE=True, BLOCK=_COLUMNS)
        else:
            torch.div(b, group_reduce(part.sum(0), "sum", group).clamp_min_(tiny), out=v)
            vmax = v.amax().reshape(1)
        v_launch = dict(BLOCK_V=max(2, triton.next_power_of_2(vmax.numel())), **rows_launch)
        if step + 1 < iters:                                      # the last u is not needed
            _scaling_kernel[(p,)](scores, v, vmax, vmax.numel(), inv_n, part, n, k, p, tiny,
                                  **v_launch)                     # passes 4 to 7
    out = torch.empty(n, dtype=torch.int64, device=dev)
    _argmax_kernel[(p,)](scores, v, vmax, vmax.numel(), out, n, k, p, tiny, **v_launch)  # pass 8
    return out


__all__ = ['MAX_FUSED_CODES', 'fused_assign']
