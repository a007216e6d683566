# This file is generated from book/chapters/01a_nearest_code.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01a_nearest_code.md: statements
"""Codebook statistics (usage, perplexity) and reconstruction quality (PSNR)."""
from __future__ import annotations

import torch
from torch import Tensor


# %% book/chapters/01a_nearest_code.md: def code_histogram, def usage, def perplexity, def codebook_stats, ...
def code_histogram(indices: Tensor, num_codes: int, *, check: bool = True) -> Tensor:
    """How often each code was chosen: integer indices of any shape -> (K,) int64.

    Args:
        indices: code indices, int64 or int32, of any shape.
        num_codes: the codebook size K; the indices must lie in 0..K-1.
        check: check that range, which reads the indices on the host; False skips it (the
            quantizers' own indices come from an argmin and need no check).
    """
    if indices.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"expected integer code indices, got {indices.dtype}")
    flat = indices.reshape(-1).long()                                    # (N,)
    if check and flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= num_codes):
        raise ValueError(f"code indices must lie in 0..{num_codes - 1}, got "
                         f"{int(flat.min())}..{int(flat.max())}")
    counts = torch.zeros(num_codes, dtype=torch.int64, device=flat.device)
    return counts.index_add_(0, flat, torch.ones_like(flat))             # (K,); bincount would sync


def usage(counts: Tensor) -> Tensor:
    """Fraction of codes chosen at least once, Eq. (1.3): (K,) -> ().

    Args:
        counts: the code histogram, (K,), as code_histogram returns it.
    """
    return (counts > 0).float().mean()


def perplexity(counts: Tensor) -> Tensor:
    """exp(entropy) of a code histogram, Eq. (1.3): (K,) -> (); NaN for an empty histogram.

    Args:
        counts: the code histogram, (K,), as code_histogram returns it.
    """
    exact = torch.float32 if counts.device.type == "mps" else torch.float64  # so it never tops K
    p = counts.to(exact) / counts.sum()                                    # (K,)
    return torch.exp(-torch.special.xlogy(p, p).sum()).float()              # xlogy(0, 0) = 0


def codebook_stats(indices: Tensor, num_codes: int) -> dict[str, Tensor]:
    """Usage and perplexity of one batch, as 0-dim tensors (no host synchronisation).

    Args:
        indices: the batch's code indices, any shape, in 0..K-1 (not checked).
        num_codes: the codebook size K.
    """
    counts = code_histogram(indices, num_codes, check=False)
    return {"usage": usage(counts), "perplexity": perplexity(counts)}


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR of each image, Eq. (1.4): (B, ...), (B, ...) -> (B,) in dB; inf where y equals x.

    Args:
        x: the images, (B, ...).
        y: their reconstructions, the same shape.
        data_range: R, the span of the pixel values: 1 for [0, 1], 255 for uint8 values.
    """
    if x.shape != y.shape:
        raise ValueError(f"PSNR needs two batches of the same shape, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    mse = (x.float() - y.float()).square().flatten(1).mean(1)   # (B,)
    return 10 * torch.log10(data_range**2 / mse)


__all__ = ['code_histogram', 'usage', 'perplexity', 'codebook_stats', 'psnr']
