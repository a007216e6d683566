# This file is generated from book/chapters/04_optvq.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/04_optvq.md:1138
"""OptVQ's quantizer: Sinkhorn assignment on normalized distances, multi-head, distributed."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.sinkhorn import (center_, normalize_cost, sinkhorn, sinkhorn_log, sinkhorn_textbook)
from vqlit.vq import (Assignment, Quantizer, compute_dtype, init_codebook, squared_distances,
                      vq_loss)

SOLVERS = ("fast", "log", "textbook")
BACKENDS = ("auto", "torch", "triton")


def euclidean_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """||z_i - e_k|| for (N, d), (K, d) -> (N, K), in one N x K tensor; float32 unless float64."""
    return squared_distances(z, codebook).sqrt_()                          # (N, K) in place


# %% book/chapters/04_optvq.md:1164
def _fused_backend(z: Tensor, codebook: Tensor, backend: str) -> bool:
    """Whether the fast solver runs as the fused Triton kernels (see "Speed and memory")."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch" or (backend == "auto" and z.device.type != "cuda"):
        return False
    from vqlit import sinkhorn_triton as fused
    usable = (fused.triton_available(z.device) and compute_dtype(z) == torch.float32
              and codebook.shape[0] <= fused.MAX_FUSED_CODES)
    if backend == "triton" and not usable:
        raise ValueError(f"backend='triton' needs Triton on a CUDA device (or TRITON_INTERPRET=1), "
                         f"float32 features and at most {fused.MAX_FUSED_CODES} codes; got "
                         f"{z.device}, {z.dtype}, {codebook.shape[0]} codes")
    return usable


# %% book/chapters/04_optvq.md:1184
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
        cost = torch.cdist(z.to(compute_dtype(z)), codebook.to(compute_dtype(z)))   # (N, K)
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


# %% book/chapters/04_optvq.md:1221
class SinkhornQuantizer(Quantizer):
    """OptVQ: codes chosen by Sinkhorn on normalized distances; straight-through; (optvq-loss)."""

    def __init__(self, *, num_codes: int, dim: int,
                 heads: int = 1,                   # sub-vectors per feature sharing one codebook
                 epsilon: float = 10.0,            # multiplies the normalized cost (OptVQ: 10)
                 iters: int = 5,                   # Sinkhorn iterations (OptVQ: 5)
                 codebook_weight: float = 0.25,    # OptVQ's beta, Eq. (optvq-loss)
                 commitment_weight: float = 1.0,   # the term that moves the features
                 normalize: bool = True,           # Eq. (normalize)
                 solver: str = "fast",             # one of SOLVERS: "fast" | "log" | "textbook"
                 backend: str = "auto",            # fast solver: "auto" | "torch" | "triton"
                 distributed: bool = True,         # reduce over processes if any
                 init: str = "normal",             # one of vqlit.vq.INITS
                 check_finite: bool = True):       # reject NaN / inf inputs (one host sync)
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, check_finite=check_finite)
        for name, value, allowed in (("solver", solver, SOLVERS), ("backend", backend, BACKENDS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if iters < 1:
            raise ValueError(f"iters must be at least 1, got {iters}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive (it multiplies the cost), got {epsilon}")
        self.epsilon, self.iters, self.normalize = epsilon, iters, normalize
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.solver, self.backend, self.distributed = solver, backend, distributed
        self.codebook = nn.Parameter(init_codebook(num_codes, self.code_dim, init))  # (K, d/H)

    def group(self):
        """The process group to reduce over, or None when running as one process."""
        if self.distributed and dist.is_available() and dist.is_initialized():
            return dist.group.WORLD
        return None

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        indices = sinkhorn_assign(flat.detach(), codebook.detach(), epsilon=self.epsilon,
                                  iters=self.iters, normalize=self.normalize, solver=self.solver,
                                  group=self.group(), backend=self.backend)     # (N H,)
        codes = F.embedding(indices, codebook)                                   # (N H, d/H)
        return Assignment(codes, indices, vq_loss(flat, codes,                   # (optvq-loss)
                                                  codebook_weight=self.codebook_weight,
                                                  commitment_weight=self.commitment_weight))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, epsilon={self.epsilon}, iters={self.iters}, "
                f"normalize={self.normalize}, solver={self.solver!r}, "
                f"codebook_weight={self.codebook_weight}, "
                f"commitment_weight={self.commitment_weight}")


__all__ = ['SOLVERS', 'BACKENDS', 'euclidean_distances', 'sinkhorn_assign', 'SinkhornQuantizer']
