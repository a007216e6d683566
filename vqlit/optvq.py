# This file is generated from book/chapters/04d_quantizer.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/04d_quantizer.md: BACKENDS, def euclidean_distances
"""OptVQ's quantizer: Sinkhorn assignment on normalized distances, multi-head, distributed."""
from __future__ import annotations

import sys

from dataclasses import replace

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from vqlit.sinkhorn import OPTVQ_SOLVER, SinkhornSolver, uniform_marginals
from vqlit.vq import Assignment, Quantizer, compute_dtype, squared_distances, vq_loss
from vqlit.wasserstein import Solver

BACKENDS = ("auto", "torch", "triton")


def euclidean_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """||z_i - e_k|| for (N, d), (K, d) -> (N, K), in one N x K tensor; float32 unless float64."""
    return squared_distances(z, codebook).sqrt_()                          # (N, K) in place


# %% book/chapters/04d_quantizer.md: def _fused_backend
def _fused_backend(z: Tensor, codebook: Tensor, solver: Solver, backend: str):
    """The module vqlit.sinkhorn_triton where the assignment runs as its fused kernels, else None.

    The kernels are opt-in: they run only once `vqlit.sinkhorn_triton` has been imported."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    fused = sys.modules.get("vqlit.sinkhorn_triton")          # None unless imported
    if backend == "torch" or (backend == "auto" and (fused is None or z.device.type != "cuda")):
        return None
    if fused is None:
        raise ValueError("backend='triton' needs the fused kernels, which are opt-in: "
                         "`import vqlit.sinkhorn_triton` first")
    usable = (fused.triton_available(z.device) and compute_dtype(z) == torch.float32
              and codebook.shape[0] <= fused.MAX_FUSED_CODES
              and isinstance(solver, SinkhornSolver) and solver.method == "scaling")
    if backend == "triton" and not usable:
        raise ValueError(f"backend='triton' needs Triton on a CUDA device (or an interpreter that "
                         f"runs the kernels, TRITON_INTERPRET=1), float32 features, at most "
                         f"{fused.MAX_FUSED_CODES} codes and a SinkhornSolver of method "
                         f"'scaling'; got {z.device}, {z.dtype}, {codebook.shape[0]} codes, "
                         f"{solver!r}")
    return fused if usable else None


# %% book/chapters/04d_quantizer.md: def sinkhorn_assign
@torch.no_grad()
def sinkhorn_assign(z: Tensor, codebook: Tensor, *, solver: Solver = OPTVQ_SOLVER, group=None,
                    backend: str = "auto") -> Tensor:
    """OptVQ's assignment: (N, d), (K, d) -> (N,) int64, the largest entry of each row of the plan.

    The plan is `solver`'s between the features and the codes, on Euclidean distances with uniform
    marginals; any solver of Chapter 3's protocol, OptVQ's by default. `group`: reduce over these
    processes (a SinkhornSolver only). backend: "auto" runs the fused Triton kernels for the
    scaling form on CUDA where they apply and `vqlit.sinkhorn_triton` was imported, torch
    operations elsewhere; "torch" or "triton" choose.
    Where the kernels fail (they cannot compile here, say), one warning, then the torch path.
    """
    if group is not None:
        if not isinstance(solver, SinkhornSolver):
            raise ValueError(f"{solver!r} cannot reduce over processes; use a SinkhornSolver, or "
                             f"distributed=False")
        solver = replace(solver, group=group)
    fused = _fused_backend(z, codebook, solver, backend)                   # opt-in kernels
    if fused is not None:
        codes = fused.try_fused("sinkhorn", fused.fused_assign, z, codebook,
                                epsilon=solver.epsilon, iters=solver.iters,
                                normalize=solver.normalize, group=group,
                                silence="pass backend='torch' to the quantizer or sinkhorn_assign")
        if codes is not None:                                              # else the torch path
            return codes
    cost = euclidean_distances(z, codebook)                                # (N, K) the buffer
    a, b = uniform_marginals(cost, group)                                  # (N,), (K,)
    argmax_ = getattr(solver, "argmax_", None)                             # in the buffer
    return argmax_(cost, a, b) if argmax_ is not None else solver(cost, a, b).argmax(-1)


# %% book/chapters/04d_quantizer.md: class SinkhornQuantizer
class SinkhornQuantizer(Quantizer):
    """OptVQ: codes chosen by Sinkhorn on normalized distances; straight-through; (optvq-loss)."""

    def __init__(self, *, num_codes: int, dim: int,
                 heads: int = 1,                   # sub-vectors per feature sharing one codebook
                 solver: Solver = OPTVQ_SOLVER,    # OptVQ's: epsilon 10, 5 iterations, normalized
                 codebook_weight: float = 0.25,    # OptVQ's beta, Eq. (4.11)
                 commitment_weight: float = 1.0,   # the term that moves the features
                 backend: str = "auto",            # "auto" | "torch" | "triton" (fused kernels)
                 distributed: bool = True,         # reduce over processes if any
                 init: str = "normal",             # one of vqlit.vq.INITS
                 use_proj: bool = False,           # codes = W e + b, Eq. (4.12)
                 check_finite: bool = True):       # reject NaN / inf inputs (one host sync)
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, init=init,   # the codebook
                         check_finite=check_finite)
        if isinstance(solver, str) or not callable(solver):
            raise ValueError(f"solver must be a transport solver `solver(cost, a, b) -> plan`, "
                             f"e.g. SinkhornSolver(method='log'); got {solver!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.solver, self.backend, self.distributed = solver, backend, distributed
        self.use_proj = use_proj
        if use_proj:                       # self.codebook now reads W e~ + b, Eq. (4.12)
            proj = nn.Linear(self.code_dim, self.code_dim)
            nn.init.normal_(proj.weight, std=self.code_dim ** -0.5)
            nn.init.zeros_(proj.bias)
            parametrize.register_parametrization(self, "codebook", proj)

    def group(self):
        """The process group to reduce over, or None when running as one process."""
        if self.distributed and dist.is_available() and dist.is_initialized():
            return dist.group.WORLD
        return None

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        indices = sinkhorn_assign(flat.detach(), codebook.detach(), solver=self.solver,
                                  group=self.group(), backend=self.backend)     # (N H,)
        codes = F.embedding(indices, codebook)                                   # (N H, d/H)
        return Assignment(codes, indices, vq_loss(flat, codes,                   # (optvq-loss)
                                                  codebook_weight=self.codebook_weight,
                                                  commitment_weight=self.commitment_weight))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, solver={self.solver!r}, "
                f"codebook_weight={self.codebook_weight}, "
                f"commitment_weight={self.commitment_weight}, use_proj={self.use_proj}")


__all__ = ['BACKENDS', 'euclidean_distances', 'sinkhorn_assign', 'SinkhornQuantizer']
