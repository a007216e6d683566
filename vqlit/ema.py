# This file is generated from book/chapters/01c_ema_pitfall.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01c_ema_pitfall.md: statements
"""The EMA codebook of VQ-VAE's appendix (online k-means with Sonnet's debiasing and Laplace
smoothing) and the dead-code replacement of the practitioners' fixes."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from vqlit.metrics import code_histogram
from vqlit.vq import Assignment, Quantizer, nearest_code, sample_vectors


# %% book/chapters/01c_ema_pitfall.md: class EMAVectorQuantizer
class EMAVectorQuantizer(Quantizer):
    """Nearest-code quantizer whose codebook follows EMA k-means, Eqs. (1.10), (1.11).

    Args:
        commitment_weight: beta; the loss is beta ||z - sg[e]||^2 alone (VQ-VAE: 0.25).
        decay: gamma of Eq. (1.10), in [0, 1): one step per forward pass in training mode.
        eps: the Laplace smoothing epsilon of Eq. (1.11).
        init: the codebook's initialisation, one of INITS; the codebook is a buffer.
        dead_code_threshold: theta of Eq. (1.15), in features per batch; 0: never replace.
        common: the codebook's arguments (num_codes, dim, heads, ...; see Quantizer).
    """

    def __init__(self, *, commitment_weight: float = 0.25, decay: float = 0.99, eps: float = 1e-5,
                 init: str = "normal", dead_code_threshold: float = 0.0, **common):
        super().__init__(init=init, learnable=False, **common)          # codebook buffer (K, d/H)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if dead_code_threshold < 0:
            raise ValueError(f"dead_code_threshold must be >= 0, got {dead_code_threshold}")
        self.commitment_weight, self.decay, self.eps = commitment_weight, decay, eps
        self.dead_code_threshold = dead_code_threshold
        self.register_buffer("ema_counts", torch.zeros(self.num_codes))            # (K,)   N
        self.register_buffer("ema_sums", torch.zeros(self.num_codes, self.code_dim))  # (K, d) m
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.int64))     # t

    @torch.no_grad()
    def ema_update(self, z: Tensor, indices: Tensor) -> None:
        """One EMA k-means step, Eqs. (1.10), (1.11), and Eq. (1.15) if on.

        Args:
            z: the batch's vectors, (N, d/H).
            indices: the code chosen for each vector, (N,) int64.
        """
        z = z.to(self.ema_sums.dtype)
        n = code_histogram(indices, self.num_codes, check=False).to(z.dtype)      # (K,)   n_k
        s = torch.zeros_like(self.ema_sums).index_add_(0, indices, z)              # (K, d) s_k
        if dist.is_available() and dist.is_initialized():                   # sums over processes
            both = torch.cat([n[:, None], s], dim=1)                               # (K, 1 + d)
            dist.all_reduce(both)
            n, s = both[:, 0], both[:, 1:]
        self.ema_counts.mul_(self.decay).add_(n, alpha=1 - self.decay)          # Eq. (1.10)
        self.ema_sums.mul_(self.decay).add_(s, alpha=1 - self.decay)
        self.ema_steps += 1
        debias = 1 - self.decay ** self.ema_steps.to(z.dtype)                      # 1 - gamma^t
        counts, sums = self.ema_counts / debias, self.ema_sums / debias            # N^, m^
        total, eps = counts.sum(), self.eps
        smoothed = (counts + eps) / (total + self.num_codes * eps) * total       # Eq. (1.11)
        updated = sums / smoothed[:, None]                                         # (K, d)
        self.codebook.copy_(torch.where((counts > 0)[:, None], updated, self.codebook))
        if self.dead_code_threshold > 0:                                    # the end of the chapter
            replace_dead_codes_(self, z, counts, debias)

    def _apply(self, fn, recurse=True):
        """Keep the codebook and the EMA statistics in float32 under .half() or .to(bfloat16)."""
        kept = {name: getattr(self, name) for name in ("codebook", "ema_counts", "ema_sums")}
        super()._apply(fn, recurse)
        for name, old in kept.items():
            new = getattr(self, name)
            if new.dtype in (torch.float16, torch.bfloat16):
                setattr(self, name, old.to(new.device))                       # full precision kept
        return self

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        """The nearest codes and the commitment loss; in training mode, then one EMA step.

        Args:
            flat: the vectors, (N H, d/H), in the compute dtype.
            codebook: the codebook, (K, d/H), in the compute dtype.
            batch_shape: the input's leading shape (unused).
        """
        indices = nearest_code(flat.detach(), codebook)                           # (N,)
        codes = codebook[indices]                           # (N, d) from a buffer: no gradient
        loss = self.commitment_weight * F.mse_loss(flat, codes)                   # commitment only
        if self.training:
            self.ema_update(flat.detach(), indices)                   # after codes were copied
        return Assignment(codes, indices, loss)


# %% book/chapters/01c_ema_pitfall.md: def replace_dead_codes_
@torch.no_grad()
def replace_dead_codes_(quantizer: EMAVectorQuantizer, z: Tensor, counts: Tensor,
                        debias: Tensor) -> int:
    """Eq. (1.15): move the codes whose debiased count is below theta; returns how many.

    Args:
        quantizer: the EMA quantizer; its dead_code_threshold is theta.
        z: the batch's vectors, (N, d); every process takes the ones drawn on process 0.
        counts: the debiased counts N^, (K,).
        debias: 1 - gamma^t, which turns theta into the stored, not debiased, statistics.
    """
    dead = counts < quantizer.dead_code_threshold                              # (K,)
    moved = int(dead.sum())
    if moved == 0:
        return 0
    fresh = sample_vectors(z, moved).to(quantizer.codebook.dtype)              # (moved, d)
    if dist.is_available() and dist.is_initialized():
        dist.broadcast(fresh, src=0)                                           # process 0's
    theta = quantizer.dead_code_threshold * debias                             # before debiasing
    quantizer.codebook[dead] = fresh
    quantizer.ema_counts[dead] = theta
    quantizer.ema_sums[dead] = fresh * theta
    return moved


__all__ = ['EMAVectorQuantizer', 'replace_dead_codes_']
