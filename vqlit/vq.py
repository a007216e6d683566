# This file is generated from book/chapters/01b_quantizer.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01b_quantizer.md: statements
"""The quantizer skeleton that every vqlit method shares (input checks, dtype policy, flattening,
heads, straight-through output, stats), the one distance kernel, and the VQ-VAE and EMA quantizers
built on them."""
from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.distances import (compute_dtype, kmeans_centres, nearest_code,  # noqa: F401
                             sample_vectors, squared_distances)  # re-exported
from vqlit.metrics import code_histogram, codebook_stats


# %% book/chapters/01b_quantizer.md: def straight_through
def straight_through(z: Tensor, codes: Tensor) -> Tensor:
    """Eq. (1.6): the value of `codes`, the gradient of `z`. Exact: sg[e] + (z - sg[z])."""
    return codes.detach() + (z - z.detach())


# %% book/chapters/01b_quantizer.md: def vq_loss
def vq_loss(z: Tensor, codes: Tensor, *, codebook_weight: float,
            commitment_weight: float) -> Tensor:
    """Eq. (1.7): codebook_weight ||sg[z] - e||^2 + commitment_weight ||z - sg[e]||^2,
    as means over the elements: (N, d), (N, d) -> ()."""
    return (codebook_weight * F.mse_loss(codes, z.detach())            # moves the codes
            + commitment_weight * F.mse_loss(z, codes.detach()))       # moves the features


# %% book/chapters/01b_quantizer.md: class QuantizerOutput
class QuantizerOutput(NamedTuple):
    """What every vqlit quantizer returns."""

    quantized: Tensor              # (..., d): the codes forward; straight-through gradient
    indices: Tensor                # (...) or (..., H): int64 index of the code of each vector
    loss: Tensor                   # (): the quantizer's training loss
    stats: dict[str, Tensor]       # per batch: "usage", "perplexity" (0-dim tensors)


# %% book/chapters/01b_quantizer.md: def feature_limit
def feature_limit(dim: int, dtype: torch.dtype) -> float:
    """Eq. (1.8): the largest feature magnitude whose squared distances, d (2M)^2,
    stay 2^20 below the largest float of the compute dtype."""
    return 2.0 ** -10 * math.sqrt(torch.finfo(dtype).max / (4 * dim))


# %% book/chapters/01b_quantizer.md: def check_features
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
    limit = feature_limit(dim, compute_dtype(z))                          # Eq. (1.8)
    if top > limit:
        raise ValueError(f"features are too large: max |z| = {top:.3g}, expected at most "
                         f"{limit:.3g} for dim={dim} (their squared distances would overflow); "
                         "check the encoder's output and the learning rate")


# %% book/chapters/01b_quantizer.md: class Assignment
class Assignment(NamedTuple):
    """What a method's `Quantizer.assign` returns for the flattened vectors of a batch."""

    codes: Tensor                  # (N H, d/H): the decoder's input forward, before Eq. (1.6)
    indices: Tensor                # (N H,) int64: the code chosen for each vector
    loss: Tensor                   # (): the method's training loss
    surrogate: Tensor | None = None  # (N H, d/H) whose gradient the output takes; None: the input


# %% book/chapters/01b_quantizer.md: INITS, def init_codebook
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


# %% book/chapters/01b_quantizer.md: class Quantizer
class Quantizer(nn.Module):
    """The skeleton of every vqlit quantizer: K codes of dimension dim / heads, shared by the heads.

    A method sets `self.codebook` (a parameter or a buffer, (K, dim / heads)) and implements
    `assign(flat, codebook, batch_shape, **inputs) -> Assignment`; `forward` does the rest.
    """

    codebook: Tensor

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1,
                 init: str | None = None,     # one of INITS: the codebook; None: the method's own
                 learnable: bool = True,      # the codebook (with init): parameter, else buffer
                 kmeans_init: bool = False,   # the first batch's k-means sets the codebook
                 check_finite: bool = True):  # reject NaN / inf / too large inputs (one sync)
        super().__init__()
        if num_codes < 1 or dim < 1:
            raise ValueError(f"num_codes and dim must be positive, got {num_codes} and {dim}")
        if heads < 1 or dim % heads:
            raise ValueError(f"heads must divide dim, got dim={dim} and heads={heads}")
        self.num_codes, self.dim, self.heads = num_codes, dim, heads
        self.code_dim, self.check_finite, self.kmeans_init = dim // heads, check_finite, kmeans_init
        if init is not None:                     # (K, d/H), drawn by init_codebook
            codes = init_codebook(num_codes, self.code_dim, init)
            if learnable:
                self.codebook = nn.Parameter(codes)
            else:
                self.register_buffer("codebook", codes)
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
        """The shared arguments; for a method that does not override this, also its own keyword
        arguments that it stores under the same name (e.g. self.temperature)."""
        kmeans = ", kmeans_init=True" if self.kmeans_init else ""
        text = f"num_codes={self.num_codes}, dim={self.dim}, heads={self.heads}{kmeans}"
        if type(self).extra_repr is not Quantizer.extra_repr:     # the method writes its own
            return text
        shared = inspect.signature(Quantizer.__init__).parameters
        own = [name for name in inspect.signature(type(self).__init__).parameters
               if name not in shared and isinstance(getattr(self, name, None),
                                                    (bool, int, float, str, tuple))]
        return ", ".join([text] + [f"{name}={getattr(self, name)!r}" for name in own])


# %% book/chapters/01b_quantizer.md: class VectorQuantizer
class VectorQuantizer(Quantizer):
    """VQ-VAE's quantizer: the nearest code, Eq. (1.1), trained by Eq. (1.7)."""

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1,
                 codebook_weight: float = 1.0,     # the codebook term of Eq. (1.7)
                 commitment_weight: float = 0.25,  # beta, the commitment term (VQ-VAE: 0.25)
                 init: str = "normal",             # one of INITS
                 kmeans_init: bool = False,        # the first batch's k-means sets the codebook
                 check_finite: bool = True):       # reject NaN / inf inputs (one host sync)
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, init=init,
                         kmeans_init=kmeans_init, check_finite=check_finite)  # codebook (K, d/H)
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        indices = nearest_code(flat.detach(), codebook.detach())       # (N,) Eq. (1.1)
        codes = F.embedding(indices, codebook)            # (N, d) e_k*; deterministic backward
        return Assignment(codes, indices, vq_loss(flat, codes, codebook_weight=self.codebook_weight,
                                                  commitment_weight=self.commitment_weight))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, codebook_weight={self.codebook_weight}, "
                f"commitment_weight={self.commitment_weight}")


# %% book/chapters/01b_quantizer.md: def kmeans_init_
@torch.no_grad()
def kmeans_init_(quantizer: Quantizer, flat: Tensor, *, iters: int = 10) -> None:
    """Set quantizer's codebook to the k-means centres of flat (N H, d/H), kmeans_centres; under
    torch.distributed, every process takes process 0's."""
    means = kmeans_centres(flat, quantizer.num_codes, iters=iters)             # (K, d/H)
    if dist.is_available() and dist.is_initialized():
        dist.broadcast(means, src=0)                                           # one codebook
    quantizer.codebook.copy_(means)
    quantizer.initialized.fill_(True)


__all__ = ['straight_through', 'vq_loss', 'QuantizerOutput', 'feature_limit', 'check_features', 'Assignment', 'INITS', 'init_codebook', 'Quantizer', 'VectorQuantizer', 'kmeans_init_']
