# This file is generated from book/chapters/03c_wasserstein_quantizer.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/03c_wasserstein_quantizer.md: class Solver
"""Optimal transport as a quantizer loss (VQ-WAE): an exact solver, the transport cost with its
(sub)gradients, and the Wasserstein quantizer, whose solver is a parameter."""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.vq import Assignment, Quantizer, nearest_code, squared_distances



class Solver(Protocol):
    """A transport solver: `solver(cost, a, b) -> plan` (..., N, K), with no autograd history.

    Optional: `potentials(cost, a, b) -> (plan, f, g)`, Eq. (3.2); `argmax_(cost, a, b)`, the
    largest entry of each row of the plan, (..., N), allowed to overwrite cost.
    """

    def __call__(self, cost: Tensor, a: Tensor, b: Tensor) -> Tensor: ...


# %% book/chapters/03c_wasserstein_quantizer.md: def _broadcast_marginals
def _broadcast_marginals(cost: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Check the shapes of an OT problem; a, b broadcast to (..., N) and (..., K)."""
    if not isinstance(cost, Tensor) or not cost.is_floating_point() or cost.ndim < 2:
        what = f"{cost.dtype} tensor of shape {tuple(cost.shape)}" if isinstance(cost, Tensor) \
            else type(cost).__name__
        raise ValueError(f"expected a floating-point cost of shape (..., N, K), got a {what}")
    n, k = cost.shape[-2:]
    if n == 0 or k == 0:
        raise ValueError(f"expected a non-empty cost, got shape {tuple(cost.shape)}")
    try:
        return a.expand(*cost.shape[:-1]), b.expand(*cost.shape[:-2], k)
    except RuntimeError:
        raise ValueError(f"marginals of shapes {tuple(a.shape)} and {tuple(b.shape)} do not fit "
                         f"a cost of shape {tuple(cost.shape)}: expected (..., {n}) and "
                         f"(..., {k})") from None


# %% book/chapters/03c_wasserstein_quantizer.md: class ExactOT
class ExactOT:
    """Exact optimal transport, Eq. (3.1), by POT's network simplex (ot.emd).

    `solver(cost, a, b) -> plan`: cost (..., N, K), a (..., N), b (..., K) non-negative, each
    summing to 1; the plan (..., N, K) has cost's device and dtype and no autograd history.
    Solved on the CPU in float64, `threads` problems at a time (None: one per CPU core).
    """

    def __init__(self, *, max_iter: int = 100_000,     # network simplex iterations per problem
                 threads: int | None = None):           # problems solved at once
        self.max_iter, self.threads = max_iter, threads

    def __call__(self, cost: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return self.potentials(cost, a, b)[0]

    def potentials(self, cost: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The plan and the dual potentials f (..., N), g (..., K) of Eq. (3.2)."""
        import ot

        a, b = _broadcast_marginals(cost, a, b)
        n, k = cost.shape[-2:]
        host = lambda t, *shape: t.detach().to("cpu", torch.float64).reshape(*shape).numpy()
        costs, rows, cols = host(cost, -1, n, k), host(a, -1, n), host(b, -1, k)   # (G, N, K) ...
        if not np.isfinite(costs).all():
            raise ValueError("the cost contains NaN or infinity")
        for name, m in (("a", rows), ("b", cols)):
            if not np.isfinite(m).all() or (m < 0).any() or np.abs(m.sum(1) - 1).max() > 1e-4:
                raise ValueError(f"marginal {name} must be non-negative and sum to 1 along its "
                                 f"last dimension; its sums lie in [{m.sum(1).min():.6g}, "
                                 f"{m.sum(1).max():.6g}]")
        rows, cols = rows / rows.sum(1, keepdims=True), cols / cols.sum(1, keepdims=True)

        def solve(i: int):
            plan, log = ot.emd(rows[i], cols[i], costs[i], numItermax=self.max_iter, log=True)
            if log["result_code"] not in (1, 3):          # 1: optimal; 3: POT warns (max_iter)
                raise RuntimeError(f"ot.emd failed on problem {i}: {log['warning']}")
            return plan, log["u"], log["v"]

        threads = min(len(costs), self.threads or os.cpu_count() or 1)
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                out = list(pool.map(solve, range(len(costs))))
        else:
            out = [solve(i) for i in range(len(costs))]
        back = lambda j, shape: (torch.from_numpy(np.stack([o[j] for o in out])).reshape(shape)
                                 .to(cost.device, cost.dtype))
        return back(0, cost.shape), back(1, a.shape), back(2, b.shape)

    def __repr__(self) -> str:
        return f"ExactOT(max_iter={self.max_iter}, threads={self.threads})"


# %% book/chapters/03c_wasserstein_quantizer.md: def transport_cost
def transport_cost(cost: Tensor, a: Tensor, b: Tensor,
                   solver: Solver | None = None) -> tuple[Tensor, Tensor]:
    """W = <P*, C> per problem, Eq. (3.1), and the plan P*: (..., N, K) -> (...), (..., N, K).

    Differentiable as Eq. (3.9): dW/dcost = P*; and dW/da = f*, dW/db = g* (the potentials of
    Eq. (3.2)) when a or b requires grad, which needs a solver with a `potentials` method.
    """
    solver = solver if solver is not None else ExactOT()
    duals = (a.requires_grad or b.requires_grad) and torch.is_grad_enabled()
    with torch.no_grad():
        if duals:
            potentials = getattr(solver, "potentials", None)
            if potentials is None:
                raise ValueError(f"gradients with respect to the marginals need the dual "
                                 f"potentials, and {solver!r} has no `potentials(cost, a, b) -> "
                                 "(plan, f, g)`; use ExactOT or fixed marginals")
            plan, f, g = potentials(cost, a, b)
        else:
            plan = solver(cost, a, b)                                       # (..., N, K)
    value = (plan.detach() * cost).sum((-2, -1))                           # (...) <sg[P*], C>
    if duals:
        value = value + (f * (a - a.detach())).sum(-1) + (g * (b - b.detach())).sum(-1)
    return value, plan


# %% book/chapters/03c_wasserstein_quantizer.md: def home_logits
def home_logits(positions: int, num_codes: int) -> Tensor:
    """Initial logits of learned codeword weights: (S, K), 1 on the floor(K/S) home codewords of
    each position (the official code's 8 for K=512, S=64), 0 elsewhere."""
    logits = torch.zeros(positions, num_codes)                                   # (S, K)
    home = num_codes // positions
    for s in range(positions if home else 0):
        logits[s, s * home:(s + 1) * home] = 1.0
    return logits


# %% book/chapters/03c_wasserstein_quantizer.md: class WassersteinQuantizer
class WassersteinQuantizer(Quantizer):
    """VQ-WAE's quantizer: nearest codeword forward, straight-through backward, and the loss of
    Eq. (3.10), lambda * the Wasserstein distance between the batch's latents and the codeword
    measure (one transport problem per latent position, or one for all latents), plus a KL pull of
    learned codeword weights towards uniform. The OT solver is a parameter (default: ExactOT)."""

    def __init__(self, *,
                 solver: Solver | None = None,   # solver(cost, a, b) -> plan; None: ExactOT()
                 ws_weight: float = 1e-3,        # lambda, Eq. (3.10): code 1e-3, paper 1
                 per_position: bool = True,      # one problem per position (code) or one for all
                 learned_weights: bool = False,  # pi = softmax(logits) (code) or uniform (paper)
                 positions: int = 1,             # latent positions S with learned weights
                 kl_weight: float = 1.0,         # kappa: pull of learned weights to uniform
                 init: str = "normal",           # one of vqlit.vq.INITS; N(0, 1) as the code
                 **common):                      # num_codes, dim, heads, kmeans_init, check_finite
        super().__init__(init=init, **common)                     # the codebook (K, d/H) from init
        if positions < 1:
            raise ValueError(f"positions must be at least 1, got {positions}")
        self.solver = solver if solver is not None else ExactOT()
        self.ws_weight, self.kl_weight, self.per_position = ws_weight, kl_weight, per_position
        self.register_parameter("logits", None)
        if learned_weights:
            if not callable(getattr(self.solver, "potentials", None)):
                raise ValueError(f"learned codeword weights get their gradient from the dual "
                                 f"potentials, and {self.solver!r} has no `potentials` method")
            rows = positions if per_position else 1
            k = self.num_codes
            logits = home_logits(rows, k) if per_position else torch.zeros(1, k)
            self.logits = nn.Parameter(logits)                                   # (S, K)

    def groups(self, flat: Tensor, batch_shape: torch.Size) -> Tensor:
        """The latents transported together: (B S H, d/H) for inputs (B, h, w, d) ->
        (S H, B, d/H), one problem per position; or (1, N, d/H), one for all."""
        if self.per_position and len(batch_shape) > 1:
            return flat.view(batch_shape[0], -1, self.code_dim).transpose(0, 1)  # (S H, B, d/H)
        return flat.view(1, -1, self.code_dim)                                   # (1, N, d/H)

    def code_weights(self, groups: int, dtype: torch.dtype) -> Tensor:
        """pi for each group: (S, K); uniform, or softmax of the learned logits."""
        if self.logits is None:
            return torch.full((groups, self.num_codes), 1 / self.num_codes, dtype=dtype,
                              device=self.codebook.device)
        if self.logits.shape[0] not in (1, groups):
            raise ValueError(f"learned weights were made for {self.logits.shape[0]} latent "
                             f"positions, but the input has {groups}")
        return self.logits.to(dtype).softmax(-1).expand(groups, -1)              # (S, K)

    def transport_loss(self, z: Tensor, codebook: Tensor) -> Tensor:
        """Eq. (3.10) for groups of latents z (S, n, d) and the codebook (K, d)."""
        s, n, _ = z.shape
        cost = squared_distances(z, codebook)                               # (S, n, K) D_ik
        a = z.new_full((s, n), 1 / n)                                             # (S, n) 1/B
        pi = self.code_weights(s, z.dtype)                                        # (S, K)
        w, _ = transport_cost(cost, a, pi, self.solver)                           # (S,)
        loss = self.ws_weight * w.sum()
        if self.logits is not None:                                  # (1/K) KL(pi || U) each
            p = self.logits.to(z.dtype).softmax(-1)                                # (S, K)
            kl = (torch.special.xlogy(p, p) + p * math.log(self.num_codes)).sum(-1)
            loss = loss + self.kl_weight * (kl / self.num_codes).sum()
        return loss

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        indices = nearest_code(flat.detach(), codebook.detach())       # (N,) Eq. (1.1)
        codes = F.embedding(indices, codebook.detach())                           # (N, d)
        if not self.training:                                     # evaluation: nothing solved
            return Assignment(codes, indices, flat.new_zeros(()))
        loss = self.transport_loss(self.groups(flat, batch_shape), codebook)  # Eq. (3.10)
        return Assignment(codes, indices, loss)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, ws_weight={self.ws_weight}, "
                f"per_position={self.per_position}, learned_weights={self.logits is not None}, "
                f"solver={self.solver!r}")


__all__ = ['Solver', 'ExactOT', 'transport_cost', 'home_logits', 'WassersteinQuantizer']
