# This file is generated from book/chapters/01_vq_preliminaries.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01_vq_preliminaries.md:177
"""The quantizer skeleton that every vqlit method shares (input checks, dtype policy, flattening,
heads, straight-through output, stats), the one distance kernel, and the VQ-VAE and EMA quantizers
built on them."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.metrics import code_histogram, codebook_stats


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype of distances, assignments and plans: float64 stays float64, and every other
    floating type (bfloat16, float16, float32) is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


# %% book/chapters/01_vq_preliminaries.md:215
def squared_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """All squared distances ||z_i - e_k||^2, Eq. (vq-expand): (..., N, d), (K, d) -> (..., N, K).

    One matrix product, one N x K result, clamped at 0 in place; in float32 (float64 stays
    float64) whatever the autocast state.
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


# %% book/chapters/01_vq_preliminaries.md:242
def nearest_code(z: Tensor, codebook: Tensor, *, max_elements: int = 2**24) -> Tensor:
    """argmin_k ||z_i - e_k||^2, Eq. (vq-nearest): (N, d), (K, d) -> (N,) int64.

    Computed in float32 (float64 stays float64) whatever the autocast state, over blocks of rows
    so that no more than `max_elements` scores exist at once. On CUDA, float32 may run the fused
    kernel of vqlit.nearest_triton instead (where its `fused_wanted` says so: where measured
    faster, or forced by nearest_triton.ENABLED); if that kernel fails, one warning, then this path.
    """
    with torch.autocast(z.device.type, enabled=False):
        dtype = compute_dtype(z)
        z, codebook = z.to(dtype), codebook.to(dtype)
        if dtype == torch.float32 and len(codebook):
            from vqlit import nearest_triton as fused                # layer 1, Chapter 4's kernel
            if fused.fused_wanted(z.device, z.shape[-1]):
                codes = fused.try_fused("nearest", fused.fused_nearest, z, codebook,
                                        silence="set vqlit.nearest_triton.ENABLED = False")
                if codes is not None:
                    return codes                                     # (N,) no N x K scores
        e2 = codebook.square().sum(1)                                    # (K,)
        rows = max(1, max_elements // codebook.shape[0])
        # |z|^2 is constant along a row: argmin_k |e_k|^2 - 2 z.e_k, Eq. (vq-expand)
        return torch.cat([torch.addmm(e2, b, codebook.T, alpha=-2.0).argmin(1)  # (n, K) -> (n,)
                          for b in z.split(rows)])                             # (N,)


# %% book/chapters/01_vq_preliminaries.md:443
def straight_through(z: Tensor, codes: Tensor) -> Tensor:
    """Eq. (ste): the value of `codes`, the gradient of `z`. Exact: sg[e] + (z - sg[z])."""
    return codes.detach() + (z - z.detach())


# %% book/chapters/01_vq_preliminaries.md:497
def vq_loss(z: Tensor, codes: Tensor, *, codebook_weight: float,
            commitment_weight: float) -> Tensor:
    """Eq. (vqvae-loss): codebook_weight ||sg[z] - e||^2 + commitment_weight ||z - sg[e]||^2,
    as means over the elements: (N, d), (N, d) -> ()."""
    return (codebook_weight * F.mse_loss(codes, z.detach())            # moves the codes
            + commitment_weight * F.mse_loss(z, codes.detach()))       # moves the features


# %% book/chapters/01_vq_preliminaries.md:554
class QuantizerOutput(NamedTuple):
    """What every vqlit quantizer returns."""

    quantized: Tensor              # (..., d): the codes forward; straight-through gradient
    indices: Tensor                # (...) or (..., H): int64 index of the code of each vector
    loss: Tensor                   # (): the quantizer's training loss
    stats: dict[str, Tensor]       # per batch: "usage", "perplexity" (0-dim tensors)


# %% book/chapters/01_vq_preliminaries.md:584
def feature_limit(dim: int, dtype: torch.dtype) -> float:
    """Eq. (feature-limit): the largest feature magnitude whose squared distances, d (2M)^2,
    stay 2^20 below the largest float of the compute dtype."""
    return 2.0 ** -10 * math.sqrt(torch.finfo(dtype).max / (4 * dim))


# %% book/chapters/01_vq_preliminaries.md:608
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
    if not finite:
        return
    low, high = torch.aminmax(z.detach())                      # NaN propagates through both
    top = float(torch.maximum(-low, high))                     # one host sync: max |z|
    if not math.isfinite(top):
        bad = int((~torch.isfinite(z)).sum())
        raise ValueError(f"features contain NaN or infinity ({bad} of {z.numel()} entries); "
                         "check the encoder's output and the learning rate")
    limit = feature_limit(dim, compute_dtype(z))                          # Eq. (feature-limit)
    if top > limit:
        raise ValueError(f"features are too large: max |z| = {top:.3g}, expected at most "
                         f"{limit:.3g} for dim={dim} (their squared distances would overflow); "
                         "check the encoder's output and the learning rate")


# %% book/chapters/01_vq_preliminaries.md:666
class Assignment(NamedTuple):
    """What a method's `Quantizer.assign` returns for the flattened vectors of a batch."""

    codes: Tensor                  # (N H, d/H): the decoder's input forward, before Eq. (ste)
    indices: Tensor                # (N H,) int64: the code chosen for each vector
    loss: Tensor                   # (): the method's training loss
    surrogate: Tensor | None = None  # (N H, d/H) whose gradient the output takes; None: the input


# %% book/chapters/01_vq_preliminaries.md:683
class Quantizer(nn.Module):
    """The skeleton of every vqlit quantizer: K codes of dimension dim / heads, shared by the heads.

    A method sets `self.codebook` (a parameter or a buffer, (K, dim / heads)) and implements
    `assign(flat, codebook, batch_shape, **inputs) -> Assignment`; `forward` does the rest.
    """

    codebook: Tensor

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1, check_finite: bool = True,
                 kmeans_init: bool = False):
        super().__init__()
        if num_codes < 1 or dim < 1:
            raise ValueError(f"num_codes and dim must be positive, got {num_codes} and {dim}")
        if heads < 1 or dim % heads:
            raise ValueError(f"heads must divide dim, got dim={dim} and heads={heads}")
        self.num_codes, self.dim, self.heads = num_codes, dim, heads
        self.code_dim, self.check_finite, self.kmeans_init = dim // heads, check_finite, kmeans_init
        if kmeans_init:                          # saved with the model: a resumed run keeps it
            self.register_buffer("initialized", torch.tensor(False))

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size,
               **inputs) -> Assignment:
        """The method: flat (N H, dim / H), codebook (K, dim / H), in the compute dtype; the
        input's leading shape, for methods that group vectors; extra inputs of `forward`."""
        raise NotImplementedError(f"{type(self).__name__} must implement assign()")

    def forward(self, z: Tensor, **inputs) -> QuantizerOutput:
        """z (..., dim) -> quantized (..., dim), indices (..., [H]), loss (), stats."""
        check_features(z, self.dim, finite=self.check_finite)
        with torch.autocast(z.device.type, enabled=False):
            flat = z.reshape(-1, self.code_dim).to(compute_dtype(z))               # (N H, d/H)
            if self.kmeans_init and self.training and not self.initialized:
                kmeans_init_(self, flat.detach())                                  # first batch
            codebook = self.codebook.to(flat.dtype)                                # (K, d/H)
            codes, indices, loss, surrogate = self.assign(flat, codebook, z.shape[:-1], **inputs)
            quantized = straight_through(flat if surrogate is None else surrogate, codes)  # (ste)
        shape = z.shape[:-1] + ((self.heads,) if self.heads > 1 else ())           # (..., [H])
        return QuantizerOutput(quantized.view(z.shape).to(z.dtype), indices.view(shape), loss,
                               codebook_stats(indices, self.num_codes))

    def lookup(self, indices: Tensor) -> Tensor:
        """The quantized features for indices (...) or (..., H) -> (..., dim)."""
        codes = F.embedding(indices, self.codebook)                        # (..., [H,] dim / H)
        return codes.flatten(-2) if self.heads > 1 else codes

    def extra_repr(self) -> str:
        kmeans = ", kmeans_init=True" if self.kmeans_init else ""
        return f"num_codes={self.num_codes}, dim={self.dim}, heads={self.heads}{kmeans}"


# %% book/chapters/01_vq_preliminaries.md:782
INITS = ("normal", "uniform", "unit_scaling")


def init_codebook(num_codes: int, dim: int, init: str = "normal", *,
                  generator: torch.Generator | None = None) -> Tensor:
    """A (K, d) codebook drawn by one of INITS: "normal" N(0, 1); "uniform" U(-1/K, 1/K);
    "unit_scaling" U(-sqrt(3/d), sqrt(3/d)), so that E||e||^2 = 1."""
    if init == "normal":
        return torch.randn(num_codes, dim, generator=generator)
    if init == "uniform":
        bound = 1 / num_codes
        return torch.empty(num_codes, dim).uniform_(-bound, bound, generator=generator)
    if init == "unit_scaling":
        bound = math.sqrt(3.0 / dim)
        return (torch.rand(num_codes, dim, generator=generator) * 2 - 1) * bound
    raise ValueError(f"init must be one of {INITS}, got {init!r}")


# %% book/chapters/01_vq_preliminaries.md:819
class VectorQuantizer(Quantizer):
    """VQ-VAE's quantizer: the nearest code, Eq. (vq-nearest), trained by Eq. (vqvae-loss)."""

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1,
                 codebook_weight: float = 1.0,     # the codebook term of Eq. (vqvae-loss)
                 commitment_weight: float = 0.25,  # beta, the commitment term (VQ-VAE: 0.25)
                 init: str = "normal",             # one of INITS
                 kmeans_init: bool = False,        # the first batch's k-means sets the codebook
                 check_finite: bool = True):       # reject NaN / inf inputs (one host sync)
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, check_finite=check_finite,
                         kmeans_init=kmeans_init)
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.codebook = nn.Parameter(init_codebook(num_codes, self.code_dim, init))  # (K, d/H)

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        indices = nearest_code(flat.detach(), codebook.detach())       # (N,) Eq. (vq-nearest)
        codes = F.embedding(indices, codebook)            # (N, d) e_k*; deterministic backward
        return Assignment(codes, indices, vq_loss(flat, codes, codebook_weight=self.codebook_weight,
                                                  commitment_weight=self.commitment_weight))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, codebook_weight={self.codebook_weight}, "
                f"commitment_weight={self.commitment_weight}")


# %% book/chapters/01_vq_preliminaries.md:926
class EMAVectorQuantizer(Quantizer):
    """Nearest-code quantizer whose codebook follows EMA k-means, Eqs. (ema-update), (ema-laplace).

    The codebook is a buffer, updated in training mode by every forward pass; the loss is the
    commitment term commitment_weight * ||z - sg[e]||^2 alone.
    """

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1,
                 commitment_weight: float = 0.25,  # beta (VQ-VAE: 0.25)
                 decay: float = 0.99,              # gamma in Eq. (ema-update)
                 eps: float = 1e-5,                # Laplace smoothing, Eq. (ema-laplace)
                 init: str = "normal",             # one of INITS
                 kmeans_init: bool = False,        # the first batch's k-means sets the codebook
                 dead_code_threshold: float = 0.0,  # Eq. (dead-code); 0: never reset
                 check_finite: bool = True):
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, check_finite=check_finite,
                         kmeans_init=kmeans_init)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if dead_code_threshold < 0:
            raise ValueError(f"dead_code_threshold must be >= 0, got {dead_code_threshold}")
        self.commitment_weight, self.decay, self.eps = commitment_weight, decay, eps
        self.dead_code_threshold = dead_code_threshold
        d = self.code_dim
        self.register_buffer("codebook", init_codebook(num_codes, d, init))        # (K, d)
        self.register_buffer("ema_counts", torch.zeros(num_codes))                 # (K,)   N
        self.register_buffer("ema_sums", torch.zeros(num_codes, d))                # (K, d) m
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
        indices = nearest_code(flat.detach(), codebook)                           # (N,)
        codes = codebook[indices]                           # (N, d) from a buffer: no gradient
        loss = self.commitment_weight * F.mse_loss(flat, codes)                   # commitment only
        if self.training:
            self.ema_update(flat.detach(), indices)                   # after codes were copied
        return Assignment(codes, indices, loss)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, commitment_weight={self.commitment_weight}, "
                f"decay={self.decay}, eps={self.eps}, "
                f"dead_code_threshold={self.dead_code_threshold}")


# %% book/chapters/01_vq_preliminaries.md:1396
def sample_vectors(z: Tensor, num: int, *, generator: torch.Generator | None = None) -> Tensor:
    """num rows of z (N, d): distinct rows if N >= num, else drawn with replacement."""
    n = z.shape[0]
    rows = (torch.randperm(n, generator=generator)[:num] if n >= num
            else torch.randint(n, (num,), generator=generator))                # (num,) on the CPU
    return z[rows.to(z.device)]                                                 # (num, d)


# %% book/chapters/01_vq_preliminaries.md:1416
@torch.no_grad()
def kmeans_centres(z: Tensor, num_codes: int, *, iters: int = 10,
                   generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means, Eqs. (vq-nearest), (kmeans-step), from num_codes features of z (N, d)
    drawn by sample_vectors: -> centres (K, d)."""
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    z = z.to(compute_dtype(z))
    means = sample_vectors(z, num_codes, generator=generator).clone()          # (K, d)
    for _ in range(iters):
        nearest = nearest_code(z, means)                                       # (N,)
        counts = torch.bincount(nearest, minlength=num_codes).to(z.dtype)      # (K,)
        sums = torch.zeros_like(means).index_add_(0, nearest, z)               # (K, d)
        means = torch.where((counts > 0)[:, None], sums / counts.clamp_min(1)[:, None],
                            means)                                     # Eq. (kmeans-step)
    return means


# %% book/chapters/01_vq_preliminaries.md:1464
@torch.no_grad()
def kmeans_init_(quantizer: Quantizer, flat: Tensor, *, iters: int = 10) -> None:
    """Set quantizer's codebook to the k-means centres of flat (N H, d/H), kmeans_centres; under
    torch.distributed, every process takes process 0's."""
    means = kmeans_centres(flat, quantizer.num_codes, iters=iters)             # (K, d/H)
    if dist.is_available() and dist.is_initialized():
        dist.broadcast(means, src=0)                                           # one codebook
    quantizer.codebook.copy_(means)
    quantizer.initialized.fill_(True)


# %% book/chapters/01_vq_preliminaries.md:1508
@torch.no_grad()
def replace_dead_codes_(quantizer: EMAVectorQuantizer, z: Tensor, counts: Tensor,
                        debias: Tensor) -> int:
    """Eq. (dead-code) for the debiased counts (K,) and the batch z (N, d); returns how many codes
    were moved. The same codes and features on every process (process 0's features)."""
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


__all__ = ['compute_dtype', 'squared_distances', 'nearest_code', 'straight_through', 'vq_loss', 'QuantizerOutput', 'feature_limit', 'check_features', 'Assignment', 'Quantizer', 'INITS', 'init_codebook', 'VectorQuantizer', 'EMAVectorQuantizer', 'sample_vectors', 'kmeans_centres', 'kmeans_init_', 'replace_dead_codes_']
