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
    """Exact optimal transport, Eq. (3.1), by POT's network simplex (`ot.emd`), the solver that
    the official VQ-WAE code calls (`ot.emd2`) for every latent position.

    `solver(cost, a, b) -> plan`: cost (..., N, K), a (..., N), b (..., K) non-negative, each
    summing to 1; the plan (..., N, K) has cost's device and dtype and no autograd history.
    Solved on the CPU in float64.

    Args:
        max_iter: network-simplex iterations per problem (POT's `numItermax`, its default).
        threads: problems solved at once in a pool of threads; None: one per CPU core.
    """

    def __init__(self, *, max_iter: int = 100_000, threads: int | None = None):
        self.max_iter, self.threads = max_iter, threads

    def __call__(self, cost: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return self.potentials(cost, a, b)[0]

    def potentials(self, cost: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The optimal plan (..., N, K) and the dual potentials f (..., N), g (..., K) of
        Eq. (3.2), on cost's device.

        Args:
            cost: the cost, (..., N, K); the leading dimensions are independent problems.
            a: the row masses, (..., N) or broadcastable to it; non-negative, summing to 1.
            b: the column masses, (..., K) or broadcastable to it; non-negative, summing to 1.
        """
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
    """W = <P*, C> per problem, (...), Eq. (3.1), and the plan P*, (..., N, K), detached.

    Differentiable as Eq. (3.9): dW/dcost = P*; and dW/da = f*, dW/db = g* (the potentials of
    Eq. (3.2)) when a or b requires grad, which needs a solver with a `potentials` method.

    Args:
        cost: the cost C, (..., N, K); the leading dimensions are independent problems.
        a: the row masses, (..., N) or broadcastable to it; a gradient needs the potentials.
        b: the column masses (codeword weights), (..., K) or broadcastable; likewise.
        solver: `solver(cost, a, b) -> plan`; None: `ExactOT()`, exact as the official code.
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


# %% book/chapters/03c_wasserstein_quantizer.md: def home_logits, def kl_to_uniform
def home_logits(positions: int, num_codes: int) -> Tensor:
    """Initial logits of learned codeword weights: (S, K), 1 on each position's home codewords.

    Args:
        positions: the latent positions S, one row of logits each.
        num_codes: the codebook size K; position s's floor(K/S) home codewords follow those of
            position s - 1 (the official code's 8 for K = 512, S = 64; none when K < S).
    """
    logits = torch.zeros(positions, num_codes)                                   # (S, K)
    home = num_codes // positions
    for s in range(positions if home else 0):
        logits[s, s * home:(s + 1) * home] = 1.0
    return logits


def kl_to_uniform(logits: Tensor) -> Tensor:
    """(1/K) KL(pi || U) in nats, (S,), for each row's pi = softmax(logits): the code's
    `KLDivLoss` term of Eq. (3.10).

    Args:
        logits: the logits of the codeword weights, (S, K).
    """
    p, k = logits.softmax(-1), logits.shape[-1]                                  # (S, K)
    return (torch.special.xlogy(p, p) + p * math.log(k)).sum(-1) / k


# %% book/chapters/03c_wasserstein_quantizer.md: class WassersteinQuantizer
class WassersteinQuantizer(Quantizer):
    """VQ-WAE's quantizer: nearest codeword forward, straight-through backward, and the loss of
    Eq. (3.10), lambda times the Wasserstein distance between the batch's latents and the
    codeword measure, plus a KL pull of learned codeword weights towards uniform.

    Args:
        solver: `solver(cost, a, b) -> plan`; None: `ExactOT()`, exact OT per problem as the
            official code's `ot.emd2`. An entropic solver is this book's faster substitute.
        ws_weight: lambda of Eq. (3.10); the official configurations' 1e-3 (the ICLR text: 1).
        per_position: one problem per latent position, as the code; False: one for all latents.
        learned_weights: pi = softmax of learned logits, as the code; False: uniform, as the
            ICLR text. True needs a solver with `potentials`.
        positions: the latent positions S that learned weights are made for (64 for 8 x 8).
        kl_weight: kappa of Eq. (3.10), the pull of learned weights towards uniform.
        init: the codebook's start, one of vqlit.vq.INITS; "normal" is the code's N(0, 1).
        common: num_codes (K), dim (d), heads, kmeans_init and check_finite of the base class.
    """

    def __init__(self, *, solver: Solver | None = None, ws_weight: float = 1e-3,
                 per_position: bool = True, learned_weights: bool = False, positions: int = 1,
                 kl_weight: float = 1.0, init: str = "normal", **common):
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
            self.logits = nn.Parameter(home_logits(positions, self.num_codes) if per_position
                                       else torch.zeros(1, self.num_codes))      # (S, K)

    def _groups(self, flat: Tensor, batch_shape: torch.Size) -> Tensor:
        """The latents transported together: (B S H, d/H) for inputs (B, h, w, d) ->
        (S H, B, d/H), one problem per position; or (1, N, d/H), one for all."""
        if self.per_position and len(batch_shape) > 1:
            return flat.view(batch_shape[0], -1, self.code_dim).transpose(0, 1)  # (S H, B, d/H)
        return flat.view(1, -1, self.code_dim)                                   # (1, N, d/H)

    def _code_weights(self, groups: int, dtype: torch.dtype) -> Tensor:
        """pi for each of the S problems, (S, K): uniform, or softmax of the learned logits."""
        if self.logits is None:
            return torch.full((groups, self.num_codes), 1 / self.num_codes, dtype=dtype,
                              device=self.codebook.device)
        if self.logits.shape[0] not in (1, groups):
            raise ValueError(f"learned weights were made for {self.logits.shape[0]} latent "
                             f"positions, but the input has {groups}")
        return self.logits.to(dtype).softmax(-1).expand(groups, -1)              # (S, K)

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        """The nearest codewords, and in training mode the loss of Eq. (3.10).

        Args:
            flat: the latents, (N, d/H).
            codebook: the codewords, (K, d/H); they receive the gradient of Eq. (3.9).
            batch_shape: the input's leading shape: (B, h, w) gives one problem per cell.
        """
        indices = nearest_code(flat.detach(), codebook.detach())       # (N,) Eq. (1.1)
        codes = F.embedding(indices, codebook.detach())                           # (N, d)
        if not self.training:                                     # evaluation: nothing solved
            return Assignment(codes, indices, flat.new_zeros(()))
        z = self._groups(flat, batch_shape)                                # (S, n, d) problems
        s, n, _ = z.shape
        a, pi = z.new_full((s, n), 1 / n), self._code_weights(s, z.dtype)       # (S, n), (S, K)
        w, _ = transport_cost(squared_distances(z, codebook), a, pi, self.solver)   # (S,)
        loss = self.ws_weight * w.sum()                                          # Eq. (3.10)
        if self.logits is not None:                                  # (1/K) KL(pi || U) each
            loss = loss + self.kl_weight * kl_to_uniform(self.logits.to(z.dtype)).sum()
        return Assignment(codes, indices, loss)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, ws_weight={self.ws_weight}, "
                f"per_position={self.per_position}, learned_weights={self.logits is not None}, "
                f"solver={self.solver!r}")


__all__ = ['Solver', 'ExactOT', 'transport_cost', 'home_logits', 'kl_to_uniform', 'WassersteinQuantizer']
