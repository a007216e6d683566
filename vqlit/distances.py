# This file is generated from book/chapters/01a_nearest_code.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01a_nearest_code.md: def compute_dtype
"""The one distance kernel of vqlit: all squared distances between features and codes, and the
nearest code, in float32 (float64 stays float64) whatever the autocast state."""
from __future__ import annotations

import sys

import torch
from torch import Tensor


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype of distances, assignments and plans: float64 stays float64, and every other
    floating type (bfloat16, float16, float32) is computed in float32.

    Args:
        x: a tensor of features or codes; only its dtype is read.
    """
    return torch.float64 if x.dtype == torch.float64 else torch.float32


# %% book/chapters/01a_nearest_code.md: def squared_distances
def squared_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """All squared distances ||z_i - e_k||^2, Eq. (1.2): (..., N, d), (K, d) -> (..., N, K).

    One matrix product, one N x K result, clamped at 0 in place; in float32 (float64 stays
    float64) whatever the autocast state.

    Args:
        z: the features, (..., N, d): one point set, or a stack of them.
        codebook: the codes, (K, d).
    """
    with torch.autocast(z.device.type, enabled=False):
        dtype = compute_dtype(z)
        z, codebook = z.to(dtype), codebook.to(dtype)
        d = z.shape[-1]
        width = -(-(d + 2) // 8) * 8                  # d + 2 columns, zero-padded to 8k
        z_aug = z.new_zeros(*z.shape[:-1], width)                      # (..., N, d + 2 + pad)
        e_aug = z.new_zeros(codebook.shape[0], width)                  # (K, d + 2 + pad)
        z_aug[..., :d], z_aug[..., d], z_aug[..., d + 1] = z, z.square().sum(-1), 1.0
        e_aug[:, :d], e_aug[:, d], e_aug[:, d + 1] = -2 * codebook, 1.0, codebook.square().sum(1)
        return (z_aug @ e_aug.T).clamp_min_(0.0)      # (..., N, K) |z|^2 - 2 z.e + |e|^2


# %% book/chapters/01a_nearest_code.md: def fused_nearest_or_none
def fused_nearest_or_none(z: Tensor, codebook: Tensor) -> Tensor | None:
    """The nearest codes (N,) from vqlit.nearest_triton's fused kernel, or None: None unless that
    module was imported (sys.modules; never imported here), the input is float32 and its
    `fused_wanted(device, dim)` says so, or when the kernel failed (one warning).

    Args:
        z: the features, (N, d), in the compute dtype.
        codebook: the codes, (K, d), in the same dtype.
    """
    fused = sys.modules.get("vqlit.nearest_triton")                # None unless imported
    if fused is None or z.dtype != torch.float32 or not len(codebook):
        return None
    if not fused.fused_wanted(z.device, z.shape[-1]):
        return None
    return fused.try_fused("nearest", fused.fused_nearest, z, codebook,
                           silence="set vqlit.nearest_triton.ENABLED = False")


# %% book/chapters/01a_nearest_code.md: def nearest_code
def nearest_code(z: Tensor, codebook: Tensor, *, max_elements: int = 2**24) -> Tensor:
    """argmin_k ||z_i - e_k||^2, Eq. (1.1): (N, d), (K, d) -> (N,) int64.

    Computed in float32 (float64 stays float64) whatever the autocast state, over blocks of rows.
    The fused kernel of vqlit.nearest_triton (an appendix page, after the chapters) is an opt-in
    accelerator: this module never imports it; once something has imported vqlit.nearest_triton,
    float32 on CUDA runs it where its `fused_wanted(device, dim)` says so (measured faster, or
    forced by nearest_triton.ENABLED); if that kernel fails, one warning, then this path.

    Args:
        z: the features, (N, d).
        codebook: the codes, (K, d).
        max_elements: the most scores that exist at once: blocks of max_elements // K rows.
    """
    with torch.autocast(z.device.type, enabled=False):
        dtype = compute_dtype(z)
        z, codebook = z.to(dtype), codebook.to(dtype)
        codes = fused_nearest_or_none(z, codebook)                   # (N,) or None
        if codes is not None:
            return codes
        e2 = codebook.square().sum(1)                                    # (K,)
        rows = max(1, max_elements // codebook.shape[0])
        # |z|^2 is constant along a row: argmin_k |e_k|^2 - 2 z.e_k, Eq. (1.2)
        return torch.cat([torch.addmm(e2, b, codebook.T, alpha=-2.0).argmin(1)  # (n, K) -> (n,)
                          for b in z.split(rows)])                             # (N,)


# %% book/chapters/01a_nearest_code.md: def sample_vectors
def sample_vectors(z: Tensor, num: int, *, generator: torch.Generator | None = None) -> Tensor:
    """num rows of z: distinct rows if N >= num, else drawn with replacement: -> (num, d).

    Args:
        z: the vectors to draw from, (N, d).
        num: how many rows to draw.
        generator: the random generator (a CPU one); None: torch's global generator.
    """
    n = z.shape[0]
    rows = (torch.randperm(n, generator=generator)[:num] if n >= num
            else torch.randint(n, (num,), generator=generator))                # (num,) on the CPU
    return z[rows.to(z.device)]                                                 # (num, d)


# %% book/chapters/01a_nearest_code.md: def kmeans_centres
@torch.no_grad()
def kmeans_centres(z: Tensor, num_codes: int, *, iters: int = 10,
                   generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means, Eqs. (1.1), (1.9), started from num_codes features of z
    drawn by sample_vectors: -> centres (K, d); a centre that receives no feature stays put.

    Args:
        z: the features to cluster, (N, d).
        num_codes: the number of centres K.
        iters: Lloyd iterations (an assignment and a centroid step each); 0: the drawn start.
        generator: draws the starting features (a CPU one); None: torch's global generator.
    """
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    z = z.to(compute_dtype(z))
    means = sample_vectors(z, num_codes, generator=generator).clone()          # (K, d)
    for _ in range(iters):
        nearest = nearest_code(z, means)                                       # (N,)
        counts = torch.bincount(nearest, minlength=num_codes).to(z.dtype)      # (K,)
        sums = torch.zeros_like(means).index_add_(0, nearest, z)               # (K, d)
        means = torch.where((counts > 0)[:, None], sums / counts.clamp_min(1)[:, None],
                            means)                                     # Eq. (1.9)
    return means


__all__ = ['compute_dtype', 'squared_distances', 'fused_nearest_or_none', 'nearest_code', 'sample_vectors', 'kmeans_centres']
