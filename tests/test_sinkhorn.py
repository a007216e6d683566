"""Sinkhorn solvers and OptVQ's normalization (vqlit.sinkhorn, from Chapter 4)."""
import itertools

import numpy as np
import ot
import pytest
import torch

from vqlit.sinkhorn import (ScaledPlan, SinkhornSolver, center_, normalize_cost, sinkhorn,
                            sinkhorn_log, sinkhorn_textbook, uniform_marginals)


@pytest.fixture(autouse=True)
def one_thread():
    """Small problems: one thread avoids thread hand-offs that dominate on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def problem(n, k, *, d=4, scale=1.0, outlier=None, seed=0, dtype=torch.float64):
    """Euclidean costs between random features and codes; an outlier 100 sd away if asked."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    e = torch.randn(k, d, generator=g, dtype=torch.float64) + 0.3
    if outlier in ("feature", "both"):
        z[0] += 100 * z.std()
    if outlier in ("code", "both"):
        e[-1] -= 100 * e.std()
    return (torch.cdist(z, e) * scale).to(dtype)


def random_marginals(n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(n, generator=g, dtype=torch.float64) + 0.1, torch.rand(k, generator=g, dtype=torch.float64) + 0.1
    return a / a.sum(), b / b.sum()


@pytest.mark.parametrize("iters", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("shape", [(30, 20), (20, 30)])
def test_fast_and_log_domain_equal_the_textbook_loop_at_every_iteration(iters, shape):
    cost = problem(*shape)
    textbook = sinkhorn_textbook(cost, epsilon=3.0, iters=iters, guard=0.0)
    fast = sinkhorn(cost, epsilon=3.0, iters=iters).dense()
    alpha, beta = sinkhorn_log(cost, epsilon=3.0, iters=iters)
    log_plan = torch.exp(alpha[:, None] + beta[None] - 3.0 * cost)
    assert torch.allclose(fast, textbook, rtol=1e-10, atol=1e-16)
    assert torch.allclose(log_plan, textbook, rtol=1e-10, atol=1e-16)


def test_textbook_loop_is_the_official_algorithm():
    """Rows end at 1/N (total mass 1) and the plan is the alternating normalization of exp(-eps C)."""
    cost = problem(12, 5)
    q = torch.exp(-2.0 * cost).T                                    # (K, N) as the official code
    q = q / q.sum()
    for _ in range(3):
        q = q / q.sum(1, keepdim=True) / 5
        q = q / q.sum(0, keepdim=True) / 12
    plan = sinkhorn_textbook(cost, epsilon=2.0, iters=3, guard=0.0)
    assert torch.allclose(plan, q.T, rtol=1e-12)
    assert torch.allclose(plan.sum(1), torch.full((12,), 1 / 12, dtype=torch.float64))


@pytest.mark.parametrize("method", ["log", "scaling"])
def test_converged_plan_equals_pot_with_general_marginals(method):
    cost = problem(25, 15)
    a, b = random_marginals(25, 15)
    plan = SinkhornSolver(epsilon=2.0, iters=3000, method=method)(cost, a, b)
    ref = ot.sinkhorn(a.numpy(), b.numpy(), cost.numpy(), 0.5, method="sinkhorn_log",
                      numItermax=20000, stopThr=1e-14)
    assert np.allclose(plan.numpy(), ref, rtol=1e-8, atol=1e-15)


def test_batch_dimensions_are_independent_problems():
    costs = torch.stack([problem(10, 6, seed=s) for s in range(3)])    # (3, N, K)
    a = torch.stack([random_marginals(10, 6, seed=s)[0] for s in range(3)])
    b = torch.stack([random_marginals(10, 6, seed=s)[1] for s in range(3)])
    for solver in (SinkhornSolver(iters=50), SinkhornSolver(iters=50, method="scaling"),
                   SinkhornSolver(iters=50, normalize=True)):
        batched = solver(costs, a, b)
        single = torch.stack([solver(costs[i], a[i], b[i]) for i in range(3)])
        assert batched.shape == costs.shape and torch.allclose(batched, single, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stabilized_kernel_has_a_one_in_every_row_and_column(scale, dtype):
    cost = problem(40, 30, scale=scale, outlier="both", dtype=dtype)
    plan = sinkhorn(cost, epsilon=10.0, iters=1)
    kernel = plan.kernel
    assert kernel.min() >= 0 and kernel.max() == 1
    assert (kernel.amax(1) == 1).all() and (kernel.amax(0) == 1).all()


def test_sinkhorn_inplace_reuses_the_cost_storage():
    cost = problem(20, 10, dtype=torch.float32)
    ptr = cost.data_ptr()
    plan = sinkhorn(cost, iters=3, inplace=True)
    assert plan.kernel.data_ptr() == ptr
    kept = problem(20, 10, dtype=torch.float32)
    before = kept.clone()
    sinkhorn(kept, iters=3)
    assert torch.equal(kept, before)


def test_argmax_is_the_row_argmax_of_the_dense_plan():
    cost = problem(50, 40)
    plan = sinkhorn(cost, epsilon=5.0, iters=5)
    dense = plan.dense()
    assert torch.equal(plan.argmax_(), dense.argmax(1))


def test_normalization_identities():
    cost = problem(60, 30)
    c = cost.clone()
    sigma = center_(c)
    assert torch.isclose(sigma.squeeze(), cost.std(), rtol=1e-12)
    assert abs(c.mean()) < 1e-12 and torch.allclose(c, cost - cost.mean())
    norm = normalize_cost(cost)
    assert norm.min() == 0
    expected = (cost - cost.min()) / (cost.std() + 1e-6)           # Eqs. (11)-(12), mean cancels
    assert torch.allclose(norm, expected, rtol=1e-12, atol=1e-12)
    batched = normalize_cost(torch.stack([cost, 3 * cost]))
    assert torch.allclose(batched[0], norm) and torch.allclose(batched[1], normalize_cost(3 * cost))


def test_normalization_is_a_temperature():
    cost = problem(30, 20)
    sigma = cost.std()
    a = sinkhorn(normalize_cost(cost), epsilon=10.0, iters=8).dense()
    b = sinkhorn(cost, epsilon=10.0 / (sigma + 1e-6), iters=8).dense()
    assert torch.allclose(a, b, rtol=1e-9, atol=1e-16)


def test_solver_contract():
    cost = problem(16, 12, dtype=torch.float32).requires_grad_(True)
    a, b = uniform_marginals(cost.detach())
    plan = SinkhornSolver(iters=200)(cost, a, b)
    assert plan.shape == cost.shape and plan.dtype == torch.float32 and not plan.requires_grad
    assert torch.allclose(plan.sum(1), a, rtol=1e-5) and torch.allclose(plan.sum(0), b, rtol=1e-4)
    assert SinkhornSolver()(cost.detach().double(), a, b).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert SinkhornSolver()(cost.detach().bfloat16(), a, b).dtype == torch.float32
    assert "epsilon=10.0" in repr(SinkhornSolver())


def test_iters_must_be_positive():
    cost = problem(5, 4)
    for fn in (sinkhorn, sinkhorn_log):
        with pytest.raises(ValueError, match="iters"):
            fn(cost, iters=0)


def test_textbook_underflows_where_the_stabilized_solver_does_not():
    cost = problem(64, 32, scale=100.0, dtype=torch.float32)       # epsilon * cost ~ 1e3
    textbook = sinkhorn_textbook(cost, epsilon=10.0, iters=5)
    assert (textbook.amax(1) == 0).all() and (textbook.argmax(1) == 0).all()   # code 0 bias
    plan = SinkhornSolver(iters=5, method="scaling")(cost, *uniform_marginals(cost))
    assert torch.isfinite(plan).all() and (plan.amax(1) > 0).all()
    assert not (plan.argmax(1) == 0).all()


GRID = list(itertools.product([1e-3, 1e-1, 1.0, 1e2, 1e4], [None, "feature", "code"],
                              [(40, 60), (60, 40)],
                              [torch.float16, torch.bfloat16, torch.float32, torch.float64]))


@pytest.mark.parametrize("scale,outlier,shape,dtype", GRID)
def test_reliability_grid(scale, outlier, shape, dtype):
    """No NaN or inf, no all-zero rows, marginals after convergence; POT agreement in float64."""
    exact = problem(*shape, scale=scale, outlier=outlier)
    cost = exact.to(dtype)
    if not torch.isfinite(cost).all():
        pytest.skip(f"{dtype} cannot hold these costs")
    a, b = uniform_marginals(exact)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    for method in ("log", "scaling"):
        plan = SinkhornSolver(iters=300, normalize=True, method=method)(cost, a, b)
        assert plan.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
        assert torch.isfinite(plan).all() and (plan.amax(1) > 0).all()
        assert torch.allclose(plan.sum(1), a.to(plan.dtype), rtol=tol, atol=0)
        assert torch.allclose(plan.sum(0), b.to(plan.dtype), rtol=10 * tol, atol=0)
    if dtype == torch.float64:
        reg = (exact.std().item() + 1e-6) / 10.0
        ref = ot.sinkhorn(a.numpy(), b.numpy(), exact.numpy(), reg, method="sinkhorn_log",
                          numItermax=5000, stopThr=1e-11)
        ours = SinkhornSolver(iters=300, normalize=True)(exact, a, b).numpy()
        assert np.abs(ours - ref).max() <= 1e-6 * ref.max()


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_raw_costs_at_any_scale_stay_finite_in_the_log_domain(scale, dtype):
    cost = problem(50, 30, scale=scale, outlier="feature", dtype=dtype)
    a, b = uniform_marginals(cost)
    plan = SinkhornSolver(epsilon=10.0, iters=100)(cost, a, b)     # no normalization
    assert torch.isfinite(plan).all() and (plan.amax(1) > 0).all()
    if dtype == torch.float64:
        assert torch.allclose(plan.sum(1), a, rtol=1e-8, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outliers_among_features_and_codes(dtype):
    """The log domain converges; the scaling form stays finite with no zero row (float32 range)."""
    cost = problem(300, 200, outlier="both", dtype=dtype)
    a, b = uniform_marginals(cost)
    log_plan = SinkhornSolver(iters=300, normalize=True)(cost, a, b)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    assert torch.allclose(log_plan.sum(0), b, rtol=10 * tol, atol=0)
    scaled = SinkhornSolver(iters=300, normalize=True, method="scaling")(cost, a, b)
    assert torch.isfinite(scaled).all() and (scaled.amax(1) > 0).all()
    if dtype == torch.float64:
        assert torch.allclose(scaled, log_plan, rtol=1e-6, atol=1e-14)


def test_scaled_plan_is_a_named_tuple():
    plan = sinkhorn(problem(6, 4), iters=2)
    assert isinstance(plan, ScaledPlan) and plan.u.shape == (6,) and plan.v.shape == (4,)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_solver_functions_refuse_a_low_precision_cost_and_solver_objects_upcast_it(dtype):
    from vqlit.sinkhorn import sinkhorn_log, sinkhorn_textbook
    cost = problem(64, 16, dtype=torch.float32)
    for solve in (sinkhorn, sinkhorn_log, sinkhorn_textbook):
        with pytest.raises(ValueError, match="float32 or float64.*upcast"):
            solve(cost.to(dtype))
    a, b = uniform_marginals(cost)
    for method in ("scaling", "log"):
        solver = SinkhornSolver(method=method)
        low = solver(cost.to(dtype), a, b)
        assert low.dtype == torch.float32
        exact = solver(cost.to(dtype).double(), a.double(), b.double())   # the same rounded cost
        assert (low.argmax(1) == exact.argmax(1)).float().mean() >= 0.99


def test_half_precision_features_are_assigned_as_in_float64():
    from vqlit.optvq import sinkhorn_assign
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(512, 8, generator=g), torch.randn(64, 8, generator=g)
    half = sinkhorn_assign(z.half(), e.half())                # the cost is built in float32
    exact = sinkhorn_assign(z.half().double(), e.half().double())
    assert half.shape == (512,) and (half == exact).float().mean() > 0.99
