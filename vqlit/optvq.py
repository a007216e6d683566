# This file is generated from book/chapters/04d_quantizer.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/04d_quantizer.md: BACKENDS, LOSSES, def euclidean_distances
"""OptVQ's quantizer: Sinkhorn assignment on normalized distances, multi-head, distributed."""
from __future__ import annotations

import sys

from dataclasses import dataclass, replace

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from vqlit.sinkhorn import OPTVQ_SOLVER, SinkhornSolver, uniform_marginals
from vqlit.vq import Assignment, Quantizer, compute_dtype, squared_distances, vq_loss
from vqlit.wasserstein import Solver

BACKENDS = ("auto", "torch", "triton")
LOSSES = ("l2", "ce")   # the official loss_q_type values: Eqs. (4.11) and (4.12)


def euclidean_distances(z: Tensor, codebook: Tensor) -> Tensor:
    """The distances ||z_i - e_k|| in one N x K tensor, float32 unless the inputs are float64.

    Args:
        z: the features, (N, d).
        codebook: the codes, (K, d).

    Returns:
        The distances, (N, K).
    """
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
    """OptVQ's assignment: the largest entry of each row of the plan between features and codes.

    Where the fused kernels fail (they cannot compile here, say), one warning, then the torch path.

    Args:
        z: the features, (N, d).
        codebook: the codes, (K, d).
        solver: a transport solver of Chapter 3's protocol, run on the Euclidean distances with
            uniform marginals; OptVQ's by default; `NearestSolver()` gives the nearest codes.
        group: the process group to reduce over (a SinkhornSolver only); None: this process.
        backend: "auto" runs the fused Triton kernels of the scaling form on CUDA where they
            apply and `vqlit.sinkhorn_triton` was imported, torch operations elsewhere;
            "torch" or "triton" choose.

    Returns:
        The code of each feature, (N,) int64.
    """
    if group is not None and isinstance(solver, NearestSolver):
        group = None                                                       # rows only: nothing
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


# %% book/chapters/04d_quantizer.md: def ce_loss, class NearestSolver
def ce_loss(z: Tensor, codebook: Tensor, indices: Tensor) -> Tensor:
    """The official code's `ce` loss, Eq. (4.12): cross-entropy of -||z - e_k|| and the code.

    Args:
        z: the features, (N, d); the loss's gradient reaches them (no stop-gradient).
        codebook: the codes, (K, d); the gradient reaches every code.
        indices: the target of each feature, (N,) int64: its chosen code.

    Returns:
        The mean over the N features, 0-dim.
    """
    return F.cross_entropy(-torch.cdist(z, codebook), indices)                   # (N, K) logits


@dataclass(frozen=True)
class NearestSolver:
    """The rows-only relaxation, Eq. (4.2), as a transport solver: each feature's mass
    on its nearest code; the column marginals play no part, and nothing is reduced over processes.
    """

    @torch.no_grad()
    def __call__(self, cost: Tensor, a: Tensor, b: Tensor) -> Tensor:
        nearest = cost.argmin(-1, keepdim=True)                                    # (..., N, 1)
        return torch.zeros_like(cost).scatter_(-1, nearest, a[..., None].to(cost.dtype))

    def argmax_(self, cost: Tensor, a: Tensor, b: Tensor) -> Tensor:
        """The nearest code of each row, (..., N) int64: the largest entry of the plan's row.

        Args:
            cost: the costs, (..., N, K).
            a: the row marginals, (..., N); positive, so they do not change the code.
            b: the column marginals, (..., K); unused.
        """
        return cost.argmin(-1)


# %% book/chapters/04d_quantizer.md: class SinkhornQuantizer
class SinkhornQuantizer(Quantizer):
    """OptVQ: codes chosen by Sinkhorn on normalized distances; straight-through; (optvq-loss).

    Args:
        num_codes: the codebook size K.
        dim: the dimension d of a feature; each head quantizes d / heads of it.
        heads: sub-vectors per feature, sharing one codebook and one joint plan; divides dim.
        solver: the transport solver of the assignment; OptVQ's by default (epsilon 10, 5
            iterations, normalized); `NearestSolver()` for nearest neighbour.
        codebook_weight: OptVQ's beta, on the term that moves the codes, Eq. (4.11).
        commitment_weight: the weight of the term that moves the features, Eq. (4.11).
        loss: "l2", Eq. (4.11), or "ce", Eq. (4.12), which uses neither weight.
        backend: "auto", "torch" or "triton": where the assignment runs (see sinkhorn_assign).
        distributed: reduce over all processes when torch.distributed is initialised.
        init: how the codebook is drawn, one of vqlit.vq.INITS.
        use_proj: the codes are W e + b, a shared affine map of the stored ones, Eq. (4.13).
        check_finite: reject NaN, infinite or too large inputs (one host sync per call).
    """

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1,
                 solver: Solver = OPTVQ_SOLVER, codebook_weight: float = 0.25,
                 commitment_weight: float = 1.0, loss: str = "l2", backend: str = "auto",
                 distributed: bool = True, init: str = "normal", use_proj: bool = False,
                 check_finite: bool = True):
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, init=init,   # the codebook
                         check_finite=check_finite)
        if isinstance(solver, str) or not callable(solver):
            raise ValueError(f"solver must be a transport solver `solver(cost, a, b) -> plan`, "
                             f"e.g. SinkhornSolver(method='log'); got {solver!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.loss = loss
        self.solver, self.backend, self.distributed = solver, backend, distributed
        self.use_proj = use_proj
        if use_proj:                       # self.codebook now reads W e~ + b, Eq. (4.13)
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
        """The codes of a batch by the solver's plan, and the loss.

        Args:
            flat: the (sub-)vectors, (N H, d/H), in the compute dtype.
            codebook: the codes, (K, d/H), in the same dtype.
            batch_shape: the input's leading shape; unused (one plan spans the batch).
        """
        indices = sinkhorn_assign(flat.detach(), codebook.detach(), solver=self.solver,
                                  group=self.group(), backend=self.backend)     # (N H,)
        codes = F.embedding(indices, codebook)                                   # (N H, d/H)
        if self.loss == "ce":                                                    # (optvq-ce)
            return Assignment(codes, indices, ce_loss(flat, codebook, indices))
        return Assignment(codes, indices, vq_loss(flat, codes,                   # (optvq-loss)
                                                  codebook_weight=self.codebook_weight,
                                                  commitment_weight=self.commitment_weight))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, solver={self.solver!r}, "
                f"codebook_weight={self.codebook_weight}, "
                f"commitment_weight={self.commitment_weight}, loss={self.loss!r}, "
                f"use_proj={self.use_proj}")


__all__ = ['BACKENDS', 'LOSSES', 'euclidean_distances', 'sinkhorn_assign', 'ce_loss', 'NearestSolver', 'SinkhornQuantizer']
