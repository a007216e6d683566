# This file is generated from book/chapters/04_optvq.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/04_optvq.md:1865
"""Nearest codes in one Triton kernel: a distance tile and a running argmin, no N x K matrix.

`vqlit.vq.nearest_code` uses it on CUDA for float32 features (unless ENABLED is set to False).
Under Triton's interpreter (TRITON_INTERPRET=1, set before the kernels are defined) the kernels
of this module and of vqlit.sinkhorn_triton also run on CPU tensors.
"""
from __future__ import annotations

import os

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
    jit = triton.jit
except ImportError:                  # CPU-only PyTorch: the callers keep their torch paths
    triton = tl = None

    def jit(fn):
        return fn

ENABLED = True            # False: nearest_code keeps its torch path on CUDA too


def triton_available(device: torch.device | str) -> bool:
    """Whether the kernels can run on `device`: CUDA with Triton, or anywhere when interpreted."""
    if triton is None:
        return False
    return torch.device(device).type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


# %% book/chapters/04_optvq.md:1912
@jit
def _nearest_kernel(Z, E, OUT, N, K, D: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """OUT_i = argmin_k sum_j (Z_ij - E_kj)^2 for this program's BLOCK_M rows, Eq. (vq-nearest)."""
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < N
    best = tl.full([BLOCK_M], float("inf"), tl.float32)                    # (BLOCK_M,)
    arg = tl.zeros([BLOCK_M], tl.int64)                                    # (BLOCK_M,)
    for k0 in range(0, K, BLOCK_K):
        cols = k0 + tl.arange(0, BLOCK_K)
        cmask = cols < K
        dist = tl.zeros([BLOCK_M, BLOCK_K], tl.float32)                    # (BLOCK_M, BLOCK_K)
        for j in tl.static_range(D):                                       # exact, no expansion
            zj = tl.load(Z + rows.to(tl.int64) * D + j, mask=rmask, other=0.0)   # (BLOCK_M,)
            ej = tl.load(E + cols.to(tl.int64) * D + j, mask=cmask, other=0.0)   # (BLOCK_K,)
            diff = zj[:, None] - ej[None, :]
            dist += diff * diff
        dist = tl.where(cmask[None, :], dist, float("inf"))
        tile_best = tl.min(dist, axis=1)                                   # (BLOCK_M,)
        tile_arg = tl.argmin(dist, axis=1).to(tl.int64) + k0               # lowest index on ties
        better = tile_best < best                                          # earlier tiles win ties
        best = tl.where(better, tile_best, best)
        arg = tl.where(better, tile_arg, arg)
    tl.store(OUT + rows, arg, mask=rmask)


# %% book/chapters/04_optvq.md:1942
def fused_nearest(z: Tensor, codebook: Tensor, *, block_m: int = 64,
                  block_k: int = 64) -> Tensor:
    """argmin_k ||z_i - e_k||^2 for float32 (N, d), (K, d) -> (N,) int64, in one kernel."""
    if not triton_available(z.device):
        raise RuntimeError(f"the fused nearest-code kernel needs Triton and a CUDA device (or "
                           f"TRITON_INTERPRET=1); got {z.device} with Triton "
                           f"{'installed' if triton else 'missing'}")
    if z.dtype != torch.float32 or codebook.dtype != torch.float32:
        raise ValueError(f"expected float32 features and codes, got {z.dtype} and {codebook.dtype}")
    if z.ndim != 2 or codebook.ndim != 2 or z.shape[1] != codebook.shape[1] or not len(codebook):
        raise ValueError(f"expected (N, d) features and a non-empty (K, d) codebook, got "
                         f"{tuple(z.shape)} and {tuple(codebook.shape)}")
    z, codebook = z.contiguous(), codebook.contiguous()
    out = torch.empty(z.shape[0], dtype=torch.int64, device=z.device)             # (N,)
    grid = (triton.cdiv(z.shape[0], block_m),)
    _nearest_kernel[grid](z, codebook, out, z.shape[0], codebook.shape[0], D=z.shape[1],
                          BLOCK_M=block_m, BLOCK_K=block_k)
    return out


__all__ = ['ENABLED', 'triton_available', 'fused_nearest']
