# This file is generated from book/chapters/01_vq_preliminaries.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01_vq_preliminaries.md:152
"""Nearest-neighbour vector quantization: the distance kernel, the VQ-VAE and EMA quantizers,
and the output type and input checks that every vqlit quantizer shares."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.metrics import code_histogram, codebook_stats


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float64 stays float64; every other float type is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def squared_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """All squared distances ||z_i - e_k||^2, Eq. (vq-expand): (N, d), (K, d) -> (N, K).

    In float32 (float64 stays float64) whatever the autocast state.
    """
    with torch.autocast(z.device.type, enabled=False):
        dtype = _compute_dtype(z)
        z, codebook = z.to(dtype), codebook.to(dtype)
        z2 = z.square().sum(1, keepdim=True)                    # (N, 1)
        e2 = codebook.square().sum(1)                           # (K,)
        d = torch.addmm(z2 + e2, z, codebook.T, alpha=-2.0)     # (N, K) = |z|^2 + |e|^2 - 2 z e^T
        return d.clamp_min_(0.0)


def nearest_code(z: Tensor, codebook: Tensor, *, max_elements: int = 2**24) -> Tensor:
    """argmin_k ||z_i - e_k||^2, Eq. (vq-nearest): (N, d), (K, d) -> (N,) int64.

    Computed in float32 (float64 stays float64) whatever the autocast state, over blocks of rows
    so that no more than `max_elements` scores exist at once.
    """
    with torch.autocast(z.device.type, enabled=False):
        dtype = _compute_dtype(z)
        z, codebook = z.to(dtype), codebook.to(dtype)
        e2 = codebook.square().sum(1)                                    # (K,)
        rows = max(1, max_elements // codebook.shape[0])
        # |z|^2 is constant along a row: argmin_k |e_k|^2 - 2 z.e_k, Eq. (vq-expand)
        return torch.cat([torch.addmm(e2, b, codebook.T, alpha=-2.0).argmin(1)  # (n, K) -> (n,)
                          for b in z.split(rows)])                             # (N,)


# %% book/chapters/01_vq_preliminaries.md:366
def straight_through(z: Tensor, codes: Tensor) -> Tensor:
    """Eq. (ste): the value of `codes`, the gradient of `z`. Exact: sg[e] + (z - sg[z])."""
    return codes.detach() + (z - z.detach())


# %% book/chapters/01_vq_preliminaries.md:450
class QuantizerOutput(NamedTuple):
    """What every vqlit quantizer returns."""

    quantized: Tensor              # (..., d): the codes forward; straight-through gradient
    indices: Tensor                # (...): int64 index of the code chosen for each vector
    loss: Tensor                   # (): the quantizer's training loss
    stats: dict[str, Tensor]       # per batch: "usage", "perplexity" (0-dim tensors)


def check_features(z: Tensor, dim: int, *, finite: bool = True) -> None:
    """Raise ValueError (TypeError for a non-tensor) unless z is a finite float (..., dim) batch."""
    if not isinstance(z, Tensor):
        raise TypeError(f"expected a torch.Tensor of shape (..., {dim}), got {type(z).__name__}")
    shape = tuple(z.shape)
    if z.ndim < 2:
        raise ValueError(f"expected features of shape (..., {dim}) with at least one batch "
                         f"dimension, got shape {shape}")
    if shape[-1] != dim:
        channels_first = z.ndim >= 3 and shape[1] == dim
        hint = "; it looks channels-first: pass z.movedim(1, -1)" if channels_first else ""
        raise ValueError(f"expected the last dimension to be dim={dim}, got shape {shape}{hint}")
    if not z.is_floating_point():
        raise ValueError(f"expected a floating-point tensor, got {z.dtype}")
    if z.numel() == 0:
        raise ValueError(f"expected a non-empty batch, got shape {shape}")
    if finite and not torch.isfinite(z).all():
        bad = int((~torch.isfinite(z)).sum())
        raise ValueError(f"features contain NaN or infinity ({bad} of {z.numel()} entries); "
                         "check the encoder's output and the learning rate")


class Quantizer(nn.Module):
    """Base of the vqlit quantizers: `num_codes` codes of dimension `dim`, input checks, lookup."""

    codebook: Tensor  # (K, d): a parameter or a buffer, set by the subclass

    def __init__(self, *, num_codes: int, dim: int, check_finite: bool = True):
        super().__init__()
        if num_codes < 1 or dim < 1:
            raise ValueError(f"num_codes and dim must be positive, got {num_codes} and {dim}")
        self.num_codes, self.dim, self.check_finite = num_codes, dim, check_finite

    def check(self, z: Tensor) -> None:
        check_features(z, self.dim, finite=self.check_finite)

    def lookup(self, indices: Tensor) -> Tensor:
        """The codes for given indices: (...) int64 -> (..., d)."""
        return F.embedding(indices, self.codebook)

    def extra_repr(self) -> str:
        return f"num_codes={self.num_codes}, dim={self.dim}"


def _init_codebook(num_codes: int, dim: int, init: str) -> Tensor:
    if init == "normal":       # N(0, 1): torch.nn.Embedding's default, as in OptVQ's baseline
        return torch.randn(num_codes, dim)
    if init == "uniform":      # U(-1/K, 1/K), common in VQ-VAE implementations
        return torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes)
    raise ValueError(f"init must be 'normal' or 'uniform', got {init!r}")


class VectorQuantizer(Quantizer):
    """VQ-VAE's quantizer: nearest code, straight-through gradient, codebook + beta * commitment."""

    def __init__(self, *, num_codes: int, dim: int,
                 beta: float = 0.25,           # commitment weight, Eq. (vqvae-loss)
                 init: str = "normal",         # codebook initialisation: "normal" | "uniform"
                 check_finite: bool = True):   # reject NaN / inf inputs (one host sync per call)
        super().__init__(num_codes=num_codes, dim=dim, check_finite=check_finite)
        self.beta = beta
        self.codebook = nn.Parameter(_init_codebook(num_codes, dim, init))   # (K, d)

    def forward(self, z: Tensor) -> QuantizerOutput:
        self.check(z)
        with torch.autocast(z.device.type, enabled=False):
            flat = z.reshape(-1, self.dim).to(_compute_dtype(z))              # (N, d)
            codebook = self.codebook.to(flat.dtype)                           # (K, d)
            indices = nearest_code(flat.detach(), codebook.detach())     # (N,)   Eq. (vq-nearest)
            codes = F.embedding(indices, codebook)       # (N, d) e_k*; deterministic backward
            loss = (F.mse_loss(codes, flat.detach())                     # codebook term
                    + self.beta * F.mse_loss(flat, codes.detach()))      # commitment (vqvae-loss)
            quantized = straight_through(flat, codes)                        # Eq. (ste)
        return QuantizerOutput(quantized.view(z.shape).to(z.dtype), indices.view(z.shape[:-1]),
                               loss, codebook_stats(indices, self.num_codes))


# %% book/chapters/01_vq_preliminaries.md:619
class EMAVectorQuantizer(Quantizer):
    """Nearest-code quantizer whose codebook follows EMA k-means, Eqs. (ema-update), (ema-laplace).

    The codebook is a buffer, updated in training mode by every forward pass; the loss is the
    commitment term beta * ||z - sg[e]||^2 alone.
    """

    def __init__(self, *, num_codes: int, dim: int,
                 beta: float = 0.25,          # commitment weight
                 decay: float = 0.99,         # gamma in Eq. (ema-update)
                 eps: float = 1e-5,           # Laplace smoothing, Eq. (ema-laplace)
                 init: str = "normal",
                 check_finite: bool = True):
        super().__init__(num_codes=num_codes, dim=dim, check_finite=check_finite)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.beta, self.decay, self.eps = beta, decay, eps
        self.register_buffer("codebook", _init_codebook(num_codes, dim, init))     # (K, d)
        self.register_buffer("ema_counts", torch.zeros(num_codes))                 # (K,)   N
        self.register_buffer("ema_sums", torch.zeros(num_codes, dim))              # (K, d) m
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.int64))     # t

    @torch.no_grad()
    def ema_update(self, z: Tensor, indices: Tensor) -> None:
        """One EMA k-means step from features z (N, d) and their code indices (N,)."""
        z = z.to(self.ema_sums.dtype)
        n = code_histogram(indices, self.num_codes, check=False).to(z.dtype)      # (K,)   n_k
        s = torch.zeros_like(self.ema_sums).index_add_(0, indices, z)              # (K, d) s_k
        if dist.is_available() and dist.is_initialized():                   # sums over processes
            both = torch.cat([n[:, None], s], dim=1)                               # (K, 1 + d)
            dist.all_reduce(both)
            n, s = both[:, 0], both[:, 1:]
        self.ema_counts.mul_(self.decay).add_(n, alpha=1 - self.decay)          # Eq. (ema-update)
        self.ema_sums.mul_(self.decay).add_(s, alpha=1 - self.decay)
        self.ema_steps += 1
        debias = 1 - self.decay ** self.ema_steps.to(z.dtype)                      # 1 - gamma^t
        counts, sums = self.ema_counts / debias, self.ema_sums / debias            # N^, m^
        total = counts.sum()
        smoothed = (counts + self.eps) / (total + self.num_codes * self.eps) * total
        # ^ Eq. (ema-laplace)
        updated = sums / smoothed[:, None]                                         # (K, d)
        self.codebook.copy_(torch.where((counts > 0)[:, None], updated, self.codebook))

    def _apply(self, fn, recurse=True):
        """Keep the codebook and the EMA statistics in float32 under .half() or .to(bfloat16)."""
        kept = {name: getattr(self, name) for name in ("codebook", "ema_counts", "ema_sums")}
        super()._apply(fn, recurse)
        for name, old in kept.items():
            new = getattr(self, name)
            if new.dtype in (torch.float16, torch.bfloat16):
                setattr(self, name, old.to(new.device))                       # full precision kept
        return self

    def forward(self, z: Tensor) -> QuantizerOutput:
        self.check(z)
        with torch.autocast(z.device.type, enabled=False):
            flat = z.reshape(-1, self.dim).to(_compute_dtype(z))                  # (N, d)
            codes_all = self.codebook.to(flat.dtype)                              # (K, d)
            indices = nearest_code(flat.detach(), codes_all)                      # (N,)
            codes = codes_all[indices]                          # (N, d) from a buffer: no gradient
            loss = self.beta * F.mse_loss(flat, codes)                            # commitment only
            quantized = straight_through(flat, codes)                            # Eq. (ste)
        if self.training:
            self.ema_update(flat.detach(), indices)
        return QuantizerOutput(quantized.view(z.shape).to(z.dtype), indices.view(z.shape[:-1]),
                               loss, codebook_stats(indices, self.num_codes))


__all__ = ['squared_distances', 'nearest_code', 'straight_through', 'QuantizerOutput', 'check_features', 'Quantizer', 'VectorQuantizer', 'EMAVectorQuantizer']
