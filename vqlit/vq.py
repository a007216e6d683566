# This file is generated from book/chapters/01b_quantizer.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01b_quantizer.md: statements
"""The quantizer skeleton that every vqlit method shares (input checks, dtype policy, flattening,
heads, straight-through output, stats) and the VQ-VAE quantizer built on it."""
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
    """Eq. (1.6): the value of `codes`, the gradient of `z`. Exact: sg[e] + (z - sg[z]).

    Args:
        z: the features, any shape; the output's gradient reaches them unchanged.
        codes: the output's value, the shape of z: each feature's code.
    """
    return codes.detach() + (z - z.detach())


# %% book/chapters/01b_quantizer.md: def vq_loss
def vq_loss(z: Tensor, codes: Tensor, *, codebook_weight: float,
            commitment_weight: float) -> Tensor:
    """Eq. (1.7), its two terms as means over the elements: (N, d), (N, d) -> ().

    Args:
        z: the features, (N, d); the commitment term moves them.
        codes: each feature's code e, (N, d); the codebook term moves them.
        codebook_weight: the weight of the codebook term ||sg[z] - e||^2.
        commitment_weight: beta, the weight of the commitment term ||z - sg[e]||^2.
    """
    return (codebook_weight * F.mse_loss(codes, z.detach())            # moves the codes
            + commitment_weight * F.mse_loss(z, codes.detach()))       # moves the features


# %% book/chapters/01b_quantizer.md: class QuantizerOutput
class QuantizerOutput(NamedTuple):
    """What every vqlit quantizer returns.

    Attributes:
        quantized: (..., d): the codes forward; the gradient of the input backward, Eq. (1.6).
        indices: (...) or (..., H): int64 index of the code of each vector.
        loss: (): the quantizer's training loss.
        stats: per batch: "usage" and "perplexity", Eq. (1.3), as 0-dim tensors.
    """

    quantized: Tensor
    indices: Tensor
    loss: Tensor
    stats: dict[str, Tensor]


# %% book/chapters/01b_quantizer.md: def feature_limit
def feature_limit(dim: int, dtype: torch.dtype) -> float:
    """Eq. (1.8): the largest feature magnitude M for which d (2M)^2 <= float_max / 2^20.

    Args:
        dim: the dimension d of the vectors compared.
        dtype: the compute dtype, as compute_dtype gives it.
    """
    return 2.0 ** -10 * math.sqrt(torch.finfo(dtype).max / (4 * dim))


# %% book/chapters/01b_quantizer.md: def check_features
def check_features(z: Tensor, dim: int, *, finite: bool = True) -> None:
    """Raise ValueError (TypeError for a non-tensor) unless z is a finite float (..., dim) batch.

    Args:
        z: the quantizer's input, (..., dim) with at least one leading dimension.
        dim: the expected last dimension.
        finite: also refuse NaN, infinity and entries beyond Eq. (1.8) (one host sync).
    """
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
    """What a method's `Quantizer.assign` returns for the flattened vectors of a batch.

    Attributes:
        codes: (N H, d/H): the decoder's input forward, before Eq. (1.6).
        indices: (N H,) int64: the code chosen for each vector.
        loss: (): the method's training loss.
        surrogate: (N H, d/H) whose gradient the output takes; None (default): the input.
    """

    codes: Tensor
    indices: Tensor
    loss: Tensor
    surrogate: Tensor | None = None


# %% book/chapters/01b_quantizer.md: INITS, def init_codebook
INITS = ("normal", "uniform", "unit_scaling")


def init_codebook(num_codes: int, dim: int, init: str = "normal", *,
                  generator: torch.Generator | None = None) -> Tensor:
    """A (K, d) codebook drawn by one of INITS.

    Args:
        num_codes: the number of codes K.
        dim: the code dimension d.
        init: "normal" N(0, 1), "uniform" U(-1/K, 1/K) or "unit_scaling" U(-sqrt(3/d), sqrt(3/d)).
        generator: the random generator (a CPU one); None: torch's global generator.
    """
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
    """The skeleton of every vqlit quantizer: a method sets `self.codebook` and writes `assign`.

    Args:
        num_codes: the codebook size K.
        dim: the feature dimension d, the input's last axis.
        heads: H, sub-vectors of dimension d/H per feature, sharing the codebook; must divide dim.
        init: the codebook's initialisation, one of INITS; None: the method sets its own.
        learnable: with init, the codebook is a parameter; False: a buffer.
        kmeans_init: the first training batch's k-means centres set the codebook.
        check_finite: refuse NaN, infinite or too large inputs, Eq. (1.8) (one sync).
    """

    codebook: Tensor

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1, init: str | None = None,
                 learnable: bool = True, kmeans_init: bool = False, check_finite: bool = True):
        super().__init__()
        if num_codes < 1 or dim < 1 or heads < 1 or dim % heads:
            raise ValueError(f"num_codes, dim and heads must be positive and heads must divide "
                             f"dim; got num_codes={num_codes}, dim={dim}, heads={heads}")
        self.num_codes, self.dim, self.heads = num_codes, dim, heads
        self.code_dim, self.check_finite, self.kmeans_init = dim // heads, check_finite, kmeans_init
        if init is not None and learnable:       # (K, d/H), drawn by init_codebook
            self.codebook = nn.Parameter(init_codebook(num_codes, self.code_dim, init))
        elif init is not None:                   # a buffer, e.g. a codebook updated by EMA
            self.register_buffer("codebook", init_codebook(num_codes, self.code_dim, init))
        if kmeans_init:                          # saved with the model: a resumed run keeps it
            self.register_buffer("initialized", torch.tensor(False))

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size,
               **inputs) -> Assignment:
        """The method: the codes, indices and loss of the flattened vectors.

        Args:
            flat: the vectors, (N H, dim / H), in the compute dtype.
            codebook: the codebook, (K, dim / H), in the compute dtype.
            batch_shape: the input's leading shape, for methods that group vectors.
            inputs: the extra keyword inputs of `forward`.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement assign()")

    def forward(self, z: Tensor, **inputs) -> QuantizerOutput:
        """z (..., dim) -> quantized (..., dim), indices (..., [H]), loss (), stats.

        Args:
            z: the features, (..., dim), channels last.
            inputs: extra keyword inputs, passed on to the method's `assign`.
        """
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
        """The quantized features for indices (...) or (..., H) -> (..., dim).

        Args:
            indices: int64 code indices, as `forward` returns them.
        """
        codes = F.embedding(indices, self.codebook)                        # (..., [H,] dim / H)
        return codes.flatten(-2) if self.heads > 1 else codes

    def extra_repr(self) -> str:
        """The shared arguments and, unless overridden, a method's own ones stored by name."""
        kmeans = ", kmeans_init=True" if self.kmeans_init else ""
        text = f"num_codes={self.num_codes}, dim={self.dim}, heads={self.heads}{kmeans}"
        if type(self).extra_repr is not Quantizer.extra_repr:     # the method writes its own
            return text
        shared = inspect.signature(Quantizer.__init__).parameters
        own = [name for name in inspect.signature(type(self).__init__).parameters if name not in
               shared and isinstance(getattr(self, name, None), (bool, int, float, str, tuple))]
        return ", ".join([text] + [f"{name}={getattr(self, name)!r}" for name in own])


# %% book/chapters/01b_quantizer.md: class VectorQuantizer
class VectorQuantizer(Quantizer):
    """VQ-VAE's quantizer: the nearest code, Eq. (1.1), trained by Eq. (1.7).

    Args:
        codebook_weight: the weight of the codebook term of Eq. (1.7).
        commitment_weight: beta, the weight of the commitment term (VQ-VAE: 0.25).
        init: the codebook's initialisation, one of INITS.
        common: the codebook's arguments (num_codes, dim, heads, ...; see Quantizer).
    """

    def __init__(self, *, codebook_weight: float = 1.0, commitment_weight: float = 0.25,
                 init: str = "normal", **common):
        super().__init__(init=init, **common)                                  # codebook (K, d/H)
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        """The nearest codes, Eq. (1.1), and the loss, Eq. (1.7).

        Args:
            flat: the vectors, (N H, d/H), in the compute dtype.
            codebook: the codebook, (K, d/H), in the compute dtype.
            batch_shape: the input's leading shape (unused).
        """
        indices = nearest_code(flat.detach(), codebook.detach())       # (N,) Eq. (1.1)
        codes = F.embedding(indices, codebook)            # (N, d) e_k*; deterministic backward
        return Assignment(codes, indices, vq_loss(flat, codes, codebook_weight=self.codebook_weight,
                                                  commitment_weight=self.commitment_weight))


# %% book/chapters/01b_quantizer.md: def kmeans_init_
@torch.no_grad()
def kmeans_init_(quantizer: Quantizer, flat: Tensor, *, iters: int = 10) -> None:
    """Set the codebook to the k-means centres of flat; under torch.distributed, process 0's.

    Args:
        quantizer: a quantizer built with kmeans_init=True (it holds the `initialized` flag).
        flat: the first training batch's vectors, (N H, d/H).
        iters: Lloyd iterations.
    """
    means = kmeans_centres(flat, quantizer.num_codes, iters=iters)             # (K, d/H)
    if dist.is_available() and dist.is_initialized():
        dist.broadcast(means, src=0)                                           # one codebook
    quantizer.codebook.copy_(means)
    quantizer.initialized.fill_(True)


__all__ = ['straight_through', 'vq_loss', 'QuantizerOutput', 'feature_limit', 'check_features', 'Assignment', 'INITS', 'init_codebook', 'Quantizer', 'VectorQuantizer', 'kmeans_init_']
