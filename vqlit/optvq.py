# This file is generated from book/chapters/04_optvq.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/04_optvq.md:1090
"""OptVQ's quantizer: Sinkhorn assignment on normalized distances, multi-head, distributed."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.metrics import codebook_stats
from vqlit.sinkhorn import (center_, normalize_cost, sinkhorn, sinkhorn_log, sinkhorn_textbook)
from vqlit.vq import Quantizer, QuantizerOutput, _compute_dtype, _init_codebook, straight_through

SOLVERS = ("fast", "log", "textbook")
BACKENDS = ("auto", "torch", "triton")


def euclidean_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """||z_i - e_k|| for (N, d), (K, d) -> (N, K), in one N x K tensor; float32 unless float64."""
    return _squared_distances(z, codebook).clamp_min_(0).sqrt_()         # (N, K) in place


def _squared_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """||z_i - e_k||^2 by one matrix product, Eq. (vq-expand); may round slightly below 0."""
    with torch.autocast(z.device.type, enabled=False):
        dtype = _compute_dtype(z)
        z, codebook = z.to(dtype), codebook.to(dtype)
        n, d = z.shape
        width = -(-(d + 2) // 8) * 8          # d + 2 columns, zero-padded: faster matrix products
        z_aug = z.new_zeros(n, width)                                          # (N, d + 2 + pad)
        e_aug = z.new_zeros(codebook.shape[0], width)                          # (K, d + 2 + pad)
        z_aug[:, :d], z_aug[:, d], z_aug[:, d + 1] = z, z.square().sum(1), 1.0
        e_aug[:, :d], e_aug[:, d], e_aug[:, d + 1] = -2 * codebook, 1.0, codebook.square().sum(1)
        return z_aug @ e_aug.T                          # (N, K) |z|^2 - 2 z.e + |e|^2 (vq-expand)


def _fused_backend(z: Tensor, codebook: Tensor, backend: str) -> bool:
    """Whether the fast solver runs as the fused Triton kernels (see "Speed and memory")."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch" or (backend == "auto" and z.device.type != "cuda"):
        return False
    from vqlit import sinkhorn_triton as fused
    usable = (fused.triton_available(z.device) and _compute_dtype(z) == torch.float32
              and codebook.shape[0] <= fused.MAX_FUSED_CODES)
    if backend == "triton" and not usable:
        raise ValueError(f"backend='triton' needs Triton on a CUDA device (or TRITON_INTERPRET=1), "
                         f"float32 features and at most {fused.MAX_FUSED_CODES} codes; got "
                         f"{z.device}, {z.dtype}, {codebook.shape[0]} codes")
    return usable


@torch.no_grad()
def sinkhorn_assign(z: Tensor, codebook: Tensor, *, epsilon: float = 10.0, iters: int = 5,
                    normalize: bool = True, solver: str = "fast", group=None,
                    backend: str = "auto") -> Tensor:
    """OptVQ's assignment: (N, d), (K, d) -> (N,) int64, the largest entry of each row of the plan.

    solver "fast": one N x K buffer, Eqs. (normalize) as a temperature, (stabilized) and
    (sinkhorn-updates); "log": the log domain; "textbook": OptVQ's official loop on the matrix
    (normalization per process, as the official code). `group`: reduce over these processes.
    backend (fast solver): "auto" runs the fused Triton kernels on CUDA where they apply and torch
    operations elsewhere; "torch" or "triton" choose.
    """
    if solver == "fast" and _fused_backend(z, codebook, backend):
        from vqlit.sinkhorn_triton import fused_assign
        return fused_assign(z, codebook, epsilon=epsilon, iters=iters, normalize=normalize,
                            group=group)
    if solver == "textbook":
        cost = torch.cdist(z.to(_compute_dtype(z)), codebook.to(_compute_dtype(z)))  # (N, K)
        cost = normalize_cost(cost) if normalize else cost
        return sinkhorn_textbook(cost, epsilon=epsilon, iters=iters, group=group).argmax(-1)
    cost = euclidean_distances(z, codebook)                                # (N, K) the buffer
    eps = epsilon
    if normalize:                                                          # Eq. (normalize)
        eps = epsilon / (center_(cost, group=group) + 1e-6)
    if solver == "log":
        alpha, beta = sinkhorn_log(cost, epsilon=eps, iters=iters, group=group)
        return cost.mul_(-eps).add_(beta).argmax(-1)                       # alpha_i: irrelevant
    return sinkhorn(cost, epsilon=eps, iters=iters, group=group, inplace=True).argmax_()


class SinkhornQuantizer(Quantizer):
    """OptVQ: codes chosen by Sinkhorn on normalized distances; straight-through; (optvq-loss)."""

    def __init__(self, *, num_codes: int, dim: int,
                 heads: int = 1,               # sub-vectors per feature sharing one codebook
                 epsilon: float = 10.0,        # multiplies the normalized cost (OptVQ: 10)
                 iters: int = 5,               # Sinkhorn iterations (OptVQ: 5)
                 beta: float = 0.25,           # weight of the codebook term, Eq. (optvq-loss)
                 normalize: bool = True,       # Eq. (normalize)
                 solver: str = "fast",         # "fast" | "log" | "textbook"
                 backend: str = "auto",        # fast solver: "auto" | "torch" | "triton"
                 distributed: bool = True,     # reduce over processes if torch.distributed is up
                 init: str = "normal",         # codebook initialisation: "normal" | "uniform"
                 check_finite: bool = True):   # reject NaN / inf inputs (one host sync per call)
        super().__init__(num_codes=num_codes, dim=dim, check_finite=check_finite)
        if heads < 1 or dim % heads:
            raise ValueError(f"heads must divide dim, got dim={dim} and heads={heads}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if iters < 1:
            raise ValueError(f"iters must be at least 1, got {iters}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive (it multiplies the cost), got {epsilon}")
        self.heads, self.code_dim = heads, dim // heads
        self.epsilon, self.iters, self.beta = epsilon, iters, beta
        self.normalize, self.solver, self.distributed = normalize, solver, distributed
        self.backend = backend
        self.codebook = nn.Parameter(_init_codebook(num_codes, self.code_dim, init))  # (K, d/H)

    def group(self):
        """The process group to reduce over, or None when running as one process."""
        if self.distributed and dist.is_available() and dist.is_initialized():
            return dist.group.WORLD
        return None

    def lookup(self, indices: Tensor) -> Tensor:
        """The quantized features for indices (...) or (..., H) -> (..., d)."""
        codes = F.embedding(indices, self.codebook)                          # (..., [H,] d/H)
        return codes.flatten(-2) if self.heads > 1 else codes

    def forward(self, z: Tensor) -> QuantizerOutput:
        self.check(z)
        with torch.autocast(z.device.type, enabled=False):
            flat = z.reshape(-1, self.code_dim).to(_compute_dtype(z))            # (N H, d/H)
            codebook = self.codebook.to(flat.dtype)                              # (K, d/H)
            indices = sinkhorn_assign(flat.detach(), codebook.detach(), epsilon=self.epsilon,
                                      iters=self.iters, normalize=self.normalize,
                                      solver=self.solver, group=self.group(),
                                      backend=self.backend)                      # (N H,)
            codes = F.embedding(indices, codebook)                               # (N H, d/H)
            loss = (F.mse_loss(flat, codes.detach())                             # moves features
                    + self.beta * F.mse_loss(codes, flat.detach()))  # moves codes, (optvq-loss)
            quantized = straight_through(flat, codes)                            # Eq. (ste)
        shape = z.shape[:-1] + ((self.heads,) if self.heads > 1 else ())
        return QuantizerOutput(quantized.view(z.shape).to(z.dtype), indices.view(shape), loss,
                               codebook_stats(indices, self.num_codes))

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, dim={self.dim}, heads={self.heads}, "
                f"epsilon={self.epsilon}, iters={self.iters}, solver={self.solver!r}")


class TextbookSinkhornQuantizer(SinkhornQuantizer):
    """SinkhornQuantizer with OptVQ's official loop on the matrix: the baseline for benchmarks."""

    def __init__(self, *, num_codes: int, dim: int, **kwargs):
        kwargs.setdefault("solver", "textbook")
        super().__init__(num_codes=num_codes, dim=dim, **kwargs)


__all__ = ['SOLVERS', 'BACKENDS', 'euclidean_distances', 'sinkhorn_assign', 'SinkhornQuantizer', 'TextbookSinkhornQuantizer']
