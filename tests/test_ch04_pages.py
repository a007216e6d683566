"""Checks moved off Chapter 4's pages (04a_sinkhorn ... 04d_quantizer), each against an
independent computation as the page did: the helpers of vqlit.sinkhorn, the textbook loop against
POT, the factored plan, the dual ascent, the log domain, the quantizer's dtype policy and errors,
and the opt-in lookup of the fused kernels."""
import math
import sys

import numpy as np
import ot
import pytest
import torch

from vqlit.optvq import SinkhornQuantizer, sinkhorn_assign
from vqlit.sinkhorn import (ScaledPlan, _logsumexp_, check_cost, group_reduce, sinkhorn,
                            sinkhorn_log, sinkhorn_textbook, total_rows, uniform_marginals)


def test_the_helpers_do_nothing_in_one_process():
    x = torch.tensor([3.0, -1.0])
    assert group_reduce(x.clone(), "min", None).equal(x)                  # one process: x itself
    assert total_rows(torch.zeros(2, 7, 5), None) == 7                    # (G, N, K) -> N


@pytest.mark.parametrize("bad", [torch.zeros(3, 4, dtype=torch.float16),
                                 torch.zeros(3, 4, dtype=torch.bfloat16), torch.zeros(4), [[0.0]]],
                         ids=["float16", "bfloat16", "1-d", "list"])
def test_check_cost_refuses_what_the_solvers_cannot_use(bad):
    check_cost(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="cost must"):
        check_cost(bad)


def test_the_textbook_loop_ends_with_the_rows_and_converges_to_pot():
    g = torch.Generator().manual_seed(4)
    cost = torch.rand(30, 20, generator=g, dtype=torch.float64)            # (N, K)
    plan = sinkhorn_textbook(cost, epsilon=3.0, iters=3)
    assert torch.allclose(plan.sum(1), torch.full((30,), 1 / 30, dtype=torch.float64))
    plan = sinkhorn_textbook(cost, epsilon=3.0, iters=500, guard=0.0)
    pot = ot.sinkhorn(np.full(30, 1 / 30), np.full(20, 1 / 20), cost.numpy(), 1 / 3.0,
                      numItermax=5000, stopThr=1e-13)
    assert np.allclose(plan.numpy(), pot, rtol=1e-8, atol=1e-14)


def test_the_factored_plan_and_the_marginals():
    g = torch.Generator().manual_seed(5)
    kernel = torch.rand(6, 5, generator=g, dtype=torch.float64)           # (N, K)
    u = torch.rand(6, generator=g, dtype=torch.float64) + 0.1             # (N,)
    v = torch.rand(5, generator=g, dtype=torch.float64) + 0.1             # (K,)
    explicit = torch.diag(u) @ kernel @ torch.diag(v)
    assert torch.allclose(ScaledPlan(kernel, u, v).dense(), explicit)
    assert torch.equal(ScaledPlan(kernel.clone(), u, v).argmax_(), explicit.argmax(1))
    a, b = uniform_marginals(torch.zeros(3, 4, 5))                         # (G, N, K)
    assert a.shape == (3, 4) and b.shape == (3, 5)
    assert torch.allclose(a.sum(-1), torch.ones(3)) and torch.allclose(b.sum(-1), torch.ones(3))


def _problem():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(120, 8, generator=g, dtype=torch.float64)
    e = torch.randn(80, 8, generator=g, dtype=torch.float64) + 0.5
    return torch.cdist(z, e)                                                # (N, K)


def test_the_dual_never_decreases():
    cost, eps = _problem(), 2.0
    a, b = uniform_marginals(cost)
    kern = torch.exp(-eps * cost)

    def dual(u, v):                                    # Eq. (dual), f = log(u) / eps
        plan = u[:, None] * kern * v[None, :]
        return (a @ u.log() + b @ v.log()) / eps - plan.sum() / eps

    u, duals = torch.ones(len(a), dtype=torch.float64), []
    for _ in range(30):
        v = b / (kern.T @ u)
        duals.append(dual(u, v))
        u = a / (kern @ v)
        duals.append(dual(u, v))
    assert (torch.stack(duals).diff() >= -1e-12).all()


def test_logsumexp_in_place_where_the_plain_exponentials_overflow():
    g = torch.Generator().manual_seed(1)
    x = 1e3 * torch.randn(3, 40, 30, generator=g, dtype=torch.float64)
    x[1, :, 2] = -math.inf                                                  # a slice with no mass
    assert torch.isinf(x.exp().sum(-1)).any()
    for dim in (-1, -2):
        buf = x.clone()
        got = _logsumexp_(buf, dim, None)
        assert torch.allclose(got, torch.logsumexp(x, dim), rtol=1e-12)
        assert buf.max() == 1 and buf.min() >= 0                            # overwritten
    assert _logsumexp_(x.clone(), -2, None)[1, 2] == -math.inf


@pytest.mark.parametrize("iters", [1, 2, 5, 50])
def test_the_log_domain_and_the_fast_form_are_the_textbook_loop(iters):
    cost, eps = _problem(), 2.0
    textbook = sinkhorn_textbook(cost, epsilon=eps, iters=iters, guard=0.0)
    alpha, beta = sinkhorn_log(cost, epsilon=eps, iters=iters)
    plan = torch.exp(alpha[:, None] + beta[None, :] - eps * cost)
    assert torch.allclose(plan, textbook, rtol=1e-10, atol=1e-15)
    assert torch.allclose(sinkhorn(cost, epsilon=eps, iters=iters).dense(), textbook,
                          rtol=1e-10, atol=1e-15)


def test_the_quantizer_keeps_float32_under_autocast_and_names_bad_input():
    torch.manual_seed(0)
    q = SinkhornQuantizer(num_codes=64, dim=8)
    z = torch.randn(4, 8, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = q(z.bfloat16())
    assert half.quantized.dtype == torch.bfloat16 and half.loss.dtype == torch.float32
    for bad in (torch.randn(8), torch.randn(4, 3), torch.ones(4, 8, dtype=torch.int64),
                torch.full((4, 8), float("nan")), torch.randn(0, 8)):
        with pytest.raises(ValueError):
            q(bad)


def test_the_fused_kernels_are_opt_in(monkeypatch):
    monkeypatch.delitem(sys.modules, "vqlit.sinkhorn_triton", raising=False)
    z, e = torch.randn(16, 3), torch.randn(8, 3)
    with pytest.raises(ValueError, match="import vqlit.sinkhorn_triton"):
        sinkhorn_assign(z, e, backend="triton")
    with pytest.raises(ValueError, match="import vqlit.sinkhorn_triton"):
        SinkhornQuantizer(num_codes=8, dim=3, backend="triton")(z)
    codes = sinkhorn_assign(z, e)                                          # auto: the torch path
    assert torch.equal(codes, sinkhorn_assign(z, e, backend="torch"))
    assert "vqlit.sinkhorn_triton" not in sys.modules                      # never imported


def test_optvq_imports_no_kernel_module():
    import vqlit.optvq
    source = open(vqlit.optvq.__file__).read()
    assert "nearest_triton" not in source.replace("vqlit.sinkhorn_triton", "")
    quoted = "`import vqlit.sinkhorn_triton`"                               # in the error message
    assert "import vqlit.sinkhorn_triton" not in source.replace(quoted, "")
