# This file is generated from book/chapters/05f_fsq.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/05f_fsq.md: class FSQuantizer
"""Finite scalar quantization (FSQ): a fixed grid of levels per coordinate, Eq. (5.4)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from vqlit.vq import Assignment, Quantizer


class FSQuantizer(Quantizer):
    """FSQ, Eq. (5.4): each coordinate of a head bounded and rounded to its levels; no loss.

    dim = heads * len(levels); the implicit codebook (prod(levels), len(levels)) is a buffer.

    Args:
        levels: L_j, the number of grid levels of each coordinate of a head, each at least 2;
            the default (8, 5, 5, 5) is the paper's 1,000 codes of dimension 4.
        heads: H, the heads each feature is split into; each head is quantized on the same grid.
        check_finite: reject NaN / inf inputs with a ValueError (one host sync per call).
    """

    def __init__(self, *, levels: tuple[int, ...] = (8, 5, 5, 5), heads: int = 1,
                 check_finite: bool = True):
        levels = tuple(int(n) for n in levels)
        if not levels or min(levels) < 2:
            raise ValueError(f"levels must be integers >= 2, one per coordinate, got {levels}")
        super().__init__(num_codes=math.prod(levels), dim=heads * len(levels), heads=heads,
                         check_finite=check_finite)
        self.levels = levels
        n = torch.tensor(levels, dtype=torch.float32)
        self.register_buffer("half_l", (n - 1) * (1 - 1e-3) / 2, persistent=False)   # h_j
        self.register_buffer("offset", (1 - n % 2) / 2, persistent=False)            # o_j
        self.register_buffer("half_width", torch.floor(n / 2), persistent=False)     # L_j // 2
        basis = torch.cumprod(torch.tensor((1,) + levels[:-1]), 0)                   # prod_{i<j}
        self.register_buffer("basis", basis, persistent=False)
        digits = torch.arange(self.num_codes)[:, None] // basis % torch.tensor(levels)  # (K, d)
        self.register_buffer("codebook", (digits - self.half_width) / self.half_width,
                             persistent=False)                                        # the grid

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        """Round each coordinate of the bounded features to its grid, Eq. (5.4).

        Args:
            flat: the features, (N H, d/H), one row per head.
            codebook: the grid, (prod(levels), d/H); unused, the grid is computed coordinatewise.
            batch_shape: the input's leading shape; unused (FSQ quantizes every row alone).

        Returns:
            The grid points (N H, d/H), their mixed-radix indices (N H,), a zero loss, and the
            bounded features as the straight-through surrogate.
        """
        half_l, offset, width = (t.to(flat.dtype) for t in (self.half_l, self.offset,
                                                           self.half_width))
        bounded = half_l * torch.tanh(flat + torch.tan(offset / half_l)) - offset  # (N H, d) b(z)
        steps = torch.round(bounded).detach()                                    # Eq. (5.4)
        digits = (steps.nan_to_num() + width).long()        # NaN (unchecked input): step 0
        indices = (digits * self.basis).sum(-1)                                  # (N H,) radix
        return Assignment(steps / width, indices, flat.new_zeros(()), surrogate=bounded / width)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, heads={self.heads}"


__all__ = ['FSQuantizer']
