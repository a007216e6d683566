# This file is generated from book/chapters/04a_sinkhorn.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/04a_sinkhorn.md: METHODS, def group_reduce, def _scalar, def total_rows
"""Entropic optimal transport for vector quantization: OptVQ's normalization and Sinkhorn solvers
(the textbook loop, the fast stabilized scaling form, the log domain), optionally distributed."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor

METHODS = ("scaling", "log", "textbook")   # the forms of SinkhornSolver, below


def group_reduce(x: Tensor, op: str, group) -> Tensor:
    """All-reduce x in place over the processes of `group`, and return it.

    Args:
        x: the tensor to reduce, any shape; overwritten by the result.
        op: "sum", "min" or "max".
        group: a torch.distributed process group; None (or none initialised): x is left alone.
    """
    if group is not None and dist.is_available() and dist.is_initialized():
        dist.all_reduce(x, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN,
                               "max": dist.ReduceOp.MAX}[op], group=group)
    return x


def _scalar(x: float | Tensor, like: Tensor) -> Tensor:
    """x as a tensor of like's dtype and device; filled on the device (no copy from the host)."""
    if isinstance(x, Tensor):
        return x.to(like.dtype)
    return torch.full((), x, dtype=like.dtype, device=like.device)


def total_rows(cost: Tensor, group) -> Tensor:
    """N, the rows of `cost`, summed over the processes of `group`: a 0-dim tensor.

    Args:
        cost: a cost matrix, (..., N, K); the result has its dtype and device.
        group: the process group whose rows count too; None: this process only.
    """
    return group_reduce(_scalar(float(cost.shape[-2]), cost), "sum", group)


# %% book/chapters/04a_sinkhorn.md: def check_cost, def sinkhorn_textbook
def check_cost(cost: Tensor) -> None:
    """Raise ValueError unless cost is a float32 or float64 tensor.

    Args:
        cost: the cost matrix to check, expected (..., N, K).
    """
    if not isinstance(cost, Tensor) or cost.dtype not in (torch.float32, torch.float64):
        got = cost.dtype if isinstance(cost, Tensor) else type(cost).__name__
        raise ValueError(f"the cost must be a float32 or float64 tensor, got {got}; upcast it "
                         "first (cost.float()): in lower precision Sinkhorn's kernel leaves the "
                         "format's range and the assignment changes")
    if cost.ndim < 2:
        raise ValueError(f"the cost must have shape (..., N, K), got {tuple(cost.shape)}")


def sinkhorn_textbook(cost: Tensor, *, epsilon: float = 10.0, iters: int = 5,
                      guard: float = 1e-8, group=None) -> Tensor:
    """OptVQ's loop on the matrix, Eq. (4.6): the plan (..., N, K), total mass 1.

    Args:
        cost: the cost matrix, (..., N, K), float32 or float64.
        epsilon: multiplies the cost in the kernel exp(-epsilon C); POT's reg is 1 / epsilon.
        iters: iterations, each normalising the columns (1/K per code), then the rows (1/N).
        guard: added to every sum it divides by, as in the official code; 0: the exact loop.
        group: the process group whose column sums and N count too (as in the official code).
    """
    check_cost(cost)
    q = torch.exp(-epsilon * cost)                                       # (..., N, K) the kernel
    n, k = total_rows(cost, group), cost.shape[-1]
    q /= group_reduce(q.sum((-2, -1), keepdim=True), "sum", group) + guard    # total mass 1
    for _ in range(iters):
        q /= group_reduce(q.sum(-2, keepdim=True), "sum", group) + guard      # (..., 1, K) columns
        q /= k                                                           # each code: 1/K
        q /= q.sum(-1, keepdim=True) + guard                             # (..., N, 1) rows
        q /= n                                                           # each feature: 1/N
    return q


# %% book/chapters/04a_sinkhorn.md: class ScaledPlan
class ScaledPlan(NamedTuple):
    """A Sinkhorn plan in factored form, Eq. (4.4): P = diag(u) kernel diag(v).

    Attributes:
        kernel: exp(-epsilon (C - f - g)), (..., N, K), entries in [0, 1], Eq. (4.9).
        u: the row scaling, (..., N).
        v: the column scaling, (..., K).
    """

    kernel: Tensor
    u: Tensor
    v: Tensor

    def dense(self) -> Tensor:
        """The plan as a matrix (..., N, K)."""
        return self.u[..., :, None] * self.kernel * self.v[..., None, :]    # diag(u) K diag(v)

    def argmax_(self) -> Tensor:
        """The largest entry of each row, (..., N) int64. Overwrites the kernel (no new N x K)."""
        return self.kernel.mul_(self.v[..., None, :]).argmax(-1)            # u_i > 0: irrelevant


# %% book/chapters/04a_sinkhorn.md: def uniform_marginals, def sinkhorn
def uniform_marginals(cost: Tensor, group=None) -> tuple[Tensor, Tensor]:
    """a = 1/N over all rows of all processes, (..., N), and b = 1/K, (..., K).

    Args:
        cost: the cost matrix, (..., N, K); the marginals take its dtype and device.
        group: the process group whose rows count in N; None: this process.
    """
    n, k = total_rows(cost, group), cost.shape[-1]
    a = torch.ones(cost.shape[:-1], dtype=cost.dtype, device=cost.device) / n      # (..., N)
    b = torch.full(cost.shape[:-2] + (k,), 1.0 / k, dtype=cost.dtype, device=cost.device)
    return a, b


def sinkhorn(cost: Tensor, a: Tensor | None = None, b: Tensor | None = None, *,
             epsilon: float | Tensor = 10.0, iters: int = 5, group=None,
             inplace: bool = False) -> ScaledPlan:
    """Eq. (4.6) on a stabilized kernel: `sinkhorn_textbook` (guard 0), factored.

    Args:
        cost: the cost matrix, (..., N, K), float32 or float64.
        a: the row marginals, (..., N), summing to 1; None: uniform.
        b: the column marginals, (..., K), summing to 1; None: uniform.
        epsilon: multiplies the cost; a float or a 0-dim tensor.
        iters: Sinkhorn iterations, at least 1.
        group: the process group the rows are split over; the column sums are reduced over it.
        inplace: turn `cost` into the kernel, the only N x K tensor the plan then holds.
    """
    check_cost(cost)
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    a0, b0 = uniform_marginals(cost, group) if a is None or b is None else (a, b)
    a, b = (a0 if a is None else a), (b0 if b is None else b)
    kernel = cost if inplace else cost.clone()                             # (..., N, K)
    eps = _scalar(epsilon, cost)
    tiny = torch.finfo(cost.dtype).tiny
    # Eq. (4.9): f_i = min_k C_ik, g_k = min_i (C_ik - f_i), kernel = exp(-eps (C - f - g))
    f = kernel.amin(-1, keepdim=True)                                      # (..., N, 1)
    kernel.sub_(f)                                                         # C - f >= 0
    g = group_reduce(kernel.amin(-2, keepdim=True), "min", group)               # (..., 1, K)
    kernel.sub_(g).mul_(-eps).exp_()                                       # (..., N, K) in [0, 1]
    # Eq. (4.10): the textbook's uniform start, u0 = exp(-eps (f - min f)), in (0, 1]
    f_min = group_reduce(f.amin(-2, keepdim=True), "min", group)                # (..., 1, 1)
    u = torch.exp(-eps * (f - f_min)).squeeze(-1)                          # (..., N)
    for _ in range(iters):
        col = group_reduce((u[..., None, :] @ kernel).squeeze(-2), "sum", group)  # (..., K) K^T u
        v = b / col.clamp_min(tiny)                                        # Eq. (4.6)
        v = (v / v.amax(-1, keepdim=True)).clamp_min(tiny)                 # scale-free; max 1
        u = a / (kernel @ v[..., None]).squeeze(-1).clamp_min(tiny)        # (..., N) K v
    return ScaledPlan(kernel, u, v)


# %% book/chapters/04a_sinkhorn.md: def _logsumexp_, def sinkhorn_log
def _logsumexp_(x: Tensor, dim: int, group) -> Tensor:
    """log sum exp of x along dim (and over `group`), overwriting x; dim is dropped. Terms below
    e^8 tiny relative to the largest count as that: it changes the sum by at most (terms) x 3000
    tiny relative to it, and exponentials near the subnormal range cost a CPU many times more."""
    top = group_reduce(x.amax(dim, keepdim=True), "max", group)                     # largest term
    empty = ~torch.isfinite(top)                                                # all -inf slices
    top = torch.where(empty, torch.zeros_like(top), top)
    x.sub_(top).clamp_(min=math.log(torch.finfo(x.dtype).tiny) + 8)            # no subnormals
    total = group_reduce(x.exp_().sum(dim, keepdim=True), "sum", group)
    return torch.where(empty, -math.inf, top + total.log()).squeeze(dim)


def sinkhorn_log(cost: Tensor, a: Tensor | None = None, b: Tensor | None = None, *,
                 epsilon: float | Tensor = 10.0, iters: int = 5,
                 group=None) -> tuple[Tensor, Tensor]:
    """Eq. (4.6) on potentials: alpha (..., N), beta (..., K) with log P_ik = alpha_i
    + beta_k - epsilon C_ik; no under- or overflow at any scale; two N x K buffers.

    Args:
        cost, a, b, epsilon, iters, group: as in `sinkhorn`.
    """
    check_cost(cost)
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    a0, b0 = uniform_marginals(cost, group) if a is None or b is None else (a, b)
    a, b = (a0 if a is None else a), (b0 if b is None else b)
    scaled = cost * -_scalar(epsilon, cost)                                         # -eps C
    work = torch.empty_like(scaled)                                                  # (..., N, K)
    log_a, log_b = a.log(), b.log()
    alpha = torch.zeros_like(log_a)                                                  # (..., N)
    for _ in range(iters):
        torch.add(scaled, alpha[..., :, None], out=work)                   # alpha_i - eps C_ik
        beta = log_b - _logsumexp_(work, -2, group)                        # (..., K) columns
        torch.add(scaled, beta[..., None, :], out=work)                    # beta_k - eps C_ik
        alpha = log_a - _logsumexp_(work, -1, None)                        # (..., N) rows
    return alpha, beta


# %% book/chapters/04a_sinkhorn.md: def center_, def normalize_cost, def _prepare
def center_(cost: Tensor, *, group=None) -> Tensor:
    """Eq. (4.7), first part, in place: cost -= its mean; returns its (unbiased) standard
    deviation, (..., 1, 1), in two exact passes and no N x K temporary.

    Args:
        cost: the cost matrix, (..., N, K); centred in place over its last two dimensions.
        group: the process group whose entries count too; None: this process.
    """
    count = total_rows(cost, group) * cost.shape[-1]                          # N K, all processes
    mean = group_reduce(cost.sum((-2, -1), keepdim=True), "sum", group) / count     # (..., 1, 1)
    cost.sub_(mean)                                                            # C - mu
    squares = torch.linalg.vector_norm(cost, dim=(-2, -1), keepdim=True).square()
    return (group_reduce(squares, "sum", group) / (count - 1).clamp_min(1)).sqrt()  # sigma


def normalize_cost(cost: Tensor, *, delta: float = 1e-6, group=None) -> Tensor:
    """OptVQ's normalization, Eq. (4.7): standardise, then shift to a minimum of 0.

    Args:
        cost: the cost matrix, (..., N, K); left unchanged (the result is a new tensor).
        delta: added to the standard deviation, as the official code does.
        group: the process group whose entries count in the statistics; None: this process.
    """
    centred = cost.clone()                                                     # (..., N, K)
    centred /= center_(centred, group=group) + delta                           # C^ (Eq. 11)
    return centred.sub_(group_reduce(centred.amin((-2, -1), keepdim=True), "min", group))  # C~


def _prepare(solver, cost: Tensor, a: Tensor, b: Tensor, *, inplace: bool):
    """A SinkhornSolver's problem, detached, in float32 or float64; solver.normalize: Eq.
    (4.7) as the temperature epsilon / (sigma + delta), or as written (textbook loop)."""
    dtype = torch.float64 if cost.dtype == torch.float64 else torch.float32
    c = cost.detach().to(dtype, copy=not inplace)                        # (..., N, K)
    a, b, eps = a.detach().to(dtype), b.detach().to(dtype), _scalar(solver.epsilon, c)
    if solver.method == "textbook":
        if not (torch.all(a == a.flatten()[0]) and torch.all(b == b.flatten()[0])):
            raise ValueError("method='textbook' is OptVQ's loop for uniform marginals; use "
                             "method='scaling' or 'log' for other marginals")
        return (normalize_cost(c) if solver.normalize else c), a, b, eps   # per process
    if solver.normalize:                                                 # Eq. (4.7)
        eps = eps / (center_(c if inplace else c.clone(), group=solver.group) + 1e-6)
    return c, a, b, eps


# %% book/chapters/04a_sinkhorn.md: class SinkhornSolver, OPTVQ_SOLVER
@dataclass(frozen=True, kw_only=True)
class SinkhornSolver:
    """Chapter 3's transport solver protocol: `solver(cost, a, b) -> plan`, ``argmax_``, potentials.

    cost (..., N, K), a (..., N), b (..., K) marginals summing to 1; leading dimensions are
    independent problems. The plan is detached, float64 for float64 costs and float32 otherwise.

    Attributes:
        epsilon: multiplies the (normalized) cost; POT's reg is 1 / epsilon.
        iters: Sinkhorn iterations, Eq. (4.6).
        normalize: apply OptVQ's Eq. (4.7) to each problem first.
        method: one of METHODS: "scaling", Eqs. (4.9), (4.6) in one buffer;
            "log", potentials, safe at any scale; "textbook", OptVQ's loop (uniform marginals).
        group: the process group whose rows are reduced over; None: this process.
    """

    epsilon: float = 10.0
    iters: int = 100
    normalize: bool = False
    method: str = "log"
    group: object = field(default=None, repr=False)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.iters < 1:
            raise ValueError(f"iters must be at least 1, got {self.iters}")
        if not self.epsilon > 0:
            raise ValueError(f"epsilon must be positive (it multiplies the cost): {self.epsilon}")

    def __call__(self, cost: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return self._solve(cost, a, b, dense=True)

    def argmax_(self, cost: Tensor, a: Tensor, b: Tensor) -> Tensor:
        """The largest entry of each row of the plan, (..., N) int64; may overwrite cost.

        Args:
            cost: the cost matrix, (..., N, K).
            a: the row marginals, (..., N).
            b: the column marginals, (..., K).
        """
        return self._solve(cost, a, b, dense=False)

    @torch.no_grad()
    def _solve(self, cost: Tensor, a: Tensor, b: Tensor, *, dense: bool) -> Tensor:
        with torch.autocast(cost.device.type, enabled=False):
            c, a, b, eps = _prepare(self, cost, a, b, inplace=not dense)
            kw = dict(epsilon=eps, iters=self.iters, group=self.group)
            if self.method == "textbook":
                plan = sinkhorn_textbook(c, **kw)                              # (..., N, K)
                return plan if dense else plan.argmax(-1)
            if self.method == "log":
                alpha, beta = sinkhorn_log(c, a, b, **kw)                      # (..., N), (..., K)
                if not dense:                                                  # alpha_i: irrelevant
                    return c.mul_(-eps).add_(beta[..., None, :]).argmax(-1)
                return c.mul_(-eps).add_(alpha[..., :, None]).add_(beta[..., None, :]).exp_()
            plan = sinkhorn(c, a, b, **kw, inplace=True)                       # in c's buffer
            return plan.dense() if dense else plan.argmax_()

    @torch.no_grad()
    def potentials(self, cost: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The plan and the dual potentials f (..., N), g (..., K) in the cost's units, Eq. (4.4):
        P = exp(eps (f_i + g_k - C_ik)), with eps the (normalized) temperature. Log domain.

        Args:
            cost: the cost matrix, (..., N, K); left unchanged.
            a: the row marginals, (..., N).
            b: the column marginals, (..., K).
        """
        with torch.autocast(cost.device.type, enabled=False):
            c, a, b, eps = _prepare(self, cost, a, b, inplace=False)
            alpha, beta = sinkhorn_log(c, a, b, epsilon=eps, iters=self.iters, group=self.group)
            plan = torch.exp(alpha[..., :, None] + beta[..., None, :] - eps * c)   # (..., N, K)
            scale = eps.reshape(eps.shape[:-1]) if eps.ndim else eps                # (..., 1)
            return plan, alpha / scale, beta / scale


OPTVQ_SOLVER = SinkhornSolver(epsilon=10.0, iters=5, normalize=True, method="scaling")  # released


__all__ = ['METHODS', 'group_reduce', 'total_rows', 'check_cost', 'sinkhorn_textbook', 'ScaledPlan', 'uniform_marginals', 'sinkhorn', 'sinkhorn_log', 'center_', 'normalize_cost', 'SinkhornSolver', 'OPTVQ_SOLVER']
