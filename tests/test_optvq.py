"""OptVQ's quantizer (vqlit.optvq, from Chapter 4)."""
import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from vqlit.optvq import (NearestSolver, SinkhornQuantizer, ce_loss, euclidean_distances,
                         sinkhorn_assign)
from vqlit.sinkhorn import (METHODS, OPTVQ_SOLVER, SinkhornSolver, normalize_cost,
                            sinkhorn_textbook)
from vqlit.vq import QuantizerOutput


@pytest.fixture(autouse=True)
def one_thread():
    """Small problems: one thread avoids thread hand-offs that dominate on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class CountLarge(TorchDispatchMode):
    """Distinct tensors of at least `size` elements created by the operations run inside."""

    def __init__(self, size):
        super().__init__()
        self.size, self.seen = size, set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for t in result if isinstance(result, (tuple, list)) else [result]:
            if isinstance(t, torch.Tensor) and t.numel() >= self.size:
                self.seen.add(t.untyped_storage().data_ptr())
        return result


def test_euclidean_distances_match_cdist_in_float32_under_autocast():
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(300, 16, generator=g, dtype=torch.float64), torch.randn(200, 16, generator=g, dtype=torch.float64)
    assert torch.allclose(euclidean_distances(z, e), torch.cdist(z, e), atol=1e-10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d32 = euclidean_distances(z.float(), e.float())
    assert d32.dtype == torch.float32 and (d32 >= 0).all()
    assert torch.allclose(d32.double(), torch.cdist(z, e), atol=1e-4)
    assert euclidean_distances(z[:3], z[:3]).diagonal().max() < 1e-6     # cancellation, then sqrt


def test_fast_log_and_textbook_assignments_agree():
    g = torch.Generator().manual_seed(1)
    z, e = torch.randn(500, 8, generator=g, dtype=torch.float64), torch.randn(300, 8, generator=g, dtype=torch.float64)
    fast = sinkhorn_assign(z, e)
    assert torch.equal(fast, sinkhorn_assign(z, e, solver=replace(OPTVQ_SOLVER, method="log")))
    ref = sinkhorn_textbook(normalize_cost(torch.cdist(z, e)), epsilon=10.0, iters=5, guard=0.0)
    assert torch.equal(fast, ref.argmax(1))                                  # same plan, float64
    official = sinkhorn_assign(z, e, solver=replace(OPTVQ_SOLVER, method="textbook"))                      # with OptVQ's guard
    assert (official == fast).double().mean() > 0.9


def test_fast_path_holds_one_n_by_k_tensor():
    g = torch.Generator().manual_seed(2)
    z, e = torch.randn(1024, 16, generator=g), torch.randn(512, 16, generator=g)
    counts = {}
    for method in METHODS:
        with CountLarge(1024 * 512) as counter:
            sinkhorn_assign(z, e, solver=replace(OPTVQ_SOLVER, method=method))
        counts[method] = len(counter.seen)
    assert counts["scaling"] == 1 and counts["log"] >= 2 and counts["textbook"] >= 2
    q = SinkhornQuantizer(num_codes=512, dim=16)
    zq = z.clone().requires_grad_(True)
    with CountLarge(1024 * 512) as counter:
        out = q(zq)
        (out.quantized.square().mean() + out.loss).backward()
    assert len(counter.seen) == 1                                            # forward + backward


def test_loss_and_gradients_match_the_closed_form():
    torch.manual_seed(0)
    beta, n, d, k = 0.25, 40, 3, 7
    q = SinkhornQuantizer(num_codes=k, dim=d, codebook_weight=beta)
    z = torch.randn(n, d, requires_grad=True)
    out = q(z)
    e = q.codebook.detach()[out.indices]
    diff = (e - z.detach()).double()                                         # (n, d)
    assert torch.isclose(out.loss.double(), (1 + beta) * diff.square().mean(), rtol=1e-6)
    out.loss.backward()
    # Eq. (optvq-loss): d/dz mean((z - sg e)^2) = -2/(nd)(e - z); d/de beta mean((e - sg z)^2)
    assert torch.allclose(z.grad.double(), -2 / (n * d) * diff, atol=1e-7)
    expected = torch.zeros(k, d, dtype=torch.float64).index_add_(0, out.indices, diff)
    assert torch.allclose(q.codebook.grad.double(), beta * 2 / (n * d) * expected, atol=1e-7)
    unused = torch.ones(k, dtype=torch.bool)
    unused[out.indices] = False
    assert q.codebook.grad[unused].abs().sum() == 0


def ce_reference(z, codebook, target):
    """Eq. (optvq-ce) by brute force in float64: loops over the features and the codes."""
    import math
    z, codebook = z.double().tolist(), codebook.double().tolist()
    total = 0.0
    for zi, ti in zip(z, target.tolist()):
        dist = [math.dist(zi, ek) for ek in codebook]
        top = max(-x for x in dist)
        total += dist[ti] + top + math.log(sum(math.exp(-x - top) for x in dist))
    return total / len(z)


def test_ce_loss_is_the_cross_entropy_of_negative_distances():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(30, 5, generator=g, dtype=torch.float64)
    e = torch.randn(11, 5, generator=g, dtype=torch.float64)
    target = torch.randint(0, 11, (30,), generator=g)                      # any target
    assert math_isclose(ce_loss(z, e, target).item(), ce_reference(z, e, target))
    far = torch.cat([z[:1] + 0.0, z[:1] + 1e3])                            # (2, d) one near, one far
    assert ce_loss(z[:1], far, torch.tensor([0])).item() < 1e-12           # limit: no loss
    same = z[:1].expand(11, 5)                                             # K equal codes
    assert math_isclose(ce_loss(z[:1], same, torch.tensor([4])).item(), np.log(11))


def test_ce_loss_gradients_are_finite_differences():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    e = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.cdist(z, e).argmin(1).detach()
    assert torch.autograd.gradcheck(lambda a, b: ce_loss(a, b, target), (z, e))
    grad_z, grad_e = torch.autograd.grad(ce_loss(z, e, target), (z, e))
    assert (grad_e.abs().sum(1) > 0).all()                                 # every code moves


def test_nearest_solver_is_the_rows_only_relaxation():
    g = torch.Generator().manual_seed(5)
    cost = torch.rand(2, 50, 9, generator=g, dtype=torch.float64)          # two problems
    a = torch.rand(2, 50, generator=g, dtype=torch.float64)
    a /= a.sum(-1, keepdim=True)
    b = torch.full((2, 9), 1 / 9, dtype=torch.float64)
    plan = NearestSolver()(cost, a, b)
    for p_, c_, a_ in zip(plan, cost, a):                                  # brute force per row
        for i in range(50):
            k = min(range(9), key=lambda j: c_[i, j].item())
            assert p_[i, k] == a_[i] and p_[i].sum() == a_[i]
    assert torch.equal(NearestSolver().argmax_(cost.clone(), a, b), plan.argmax(-1))
    z, codes = torch.randn(40, 4, generator=g), torch.randn(7, 4, generator=g)
    nearest = torch.cdist(z.double(), codes.double()).argmin(1)
    assert torch.equal(sinkhorn_assign(z, codes, solver=NearestSolver(), group=object()), nearest)


def test_the_ce_quantizer_is_the_official_baseline():
    torch.manual_seed(0)
    q = SinkhornQuantizer(num_codes=16, dim=4, solver=NearestSolver(), loss="ce").double()
    z = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    out = q(z)
    flat = z.detach().reshape(-1, 4)
    nearest = torch.cdist(flat, q.codebook.detach()).argmin(1)
    assert torch.equal(out.indices.flatten(), nearest)
    assert math_isclose(out.loss.item(), ce_reference(flat, q.codebook.detach(), nearest))
    assert torch.equal(out.quantized, q.codebook.detach()[out.indices])
    out.loss.backward()
    assert z.grad is not None and (q.codebook.grad.abs().sum(1) > 0).all()   # every code
    assert "loss='ce'" in repr(q) and "NearestSolver()" in repr(q)
    with pytest.raises(ValueError, match="loss must be one of"):
        SinkhornQuantizer(num_codes=16, dim=4, loss="l1")


def math_isclose(a, b):
    return abs(a - b) <= 1e-10 * max(1.0, abs(b))


def test_straight_through_gradient_reaches_the_input():
    q = SinkhornQuantizer(num_codes=32, dim=4)
    z = torch.randn(50, 4, requires_grad=True)
    w = torch.randn(50, 4)
    (q(z).quantized * w).sum().backward()
    assert torch.equal(z.grad, w)


def test_heads_share_one_codebook_and_one_joint_sinkhorn():
    torch.manual_seed(0)
    q = SinkhornQuantizer(num_codes=128, dim=8, heads=4)
    assert q.codebook.shape == (128, 2)
    z = torch.randn(3, 4, 4, 8)
    out = q(z)
    joint = sinkhorn_assign(z.reshape(-1, 2), q.codebook.detach())
    assert torch.equal(out.indices.flatten(), joint)
    assert torch.equal(out.quantized, q.codebook.detach()[out.indices].flatten(-2))


def test_textbook_variant_constructs_with_defaults():
    q = SinkhornQuantizer(num_codes=16, dim=4, solver=replace(OPTVQ_SOLVER, method="textbook"))
    assert q.solver.method == "textbook"
    z = torch.randn(30, 4, dtype=torch.float64)
    q.double()
    fast = SinkhornQuantizer(num_codes=16, dim=4).double()
    fast.load_state_dict(q.state_dict())
    assert (q(z).indices == fast(z).indices).double().mean() > 0.9
    assert "method='textbook'" in repr(q)


@pytest.mark.parametrize("kwargs", [dict(heads=3), dict(solver="exact"), dict(solver="textbook"),
                                    dict(solver=None), dict(heads=0), dict(backend="cuda")])
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        SinkhornQuantizer(num_codes=16, dim=8, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(iters=0), dict(epsilon=0.0), dict(epsilon=-1.0),
                                    dict(method="fast")])
def test_bad_solver_settings_raise(kwargs):
    with pytest.raises(ValueError):
        SinkhornSolver(**kwargs)


def test_textbook_method_refuses_marginals_it_cannot_honour():
    cost = torch.rand(6, 4, dtype=torch.float64)
    a = torch.tensor([0.3, 0.1, 0.1, 0.1, 0.2, 0.2], dtype=torch.float64)
    with pytest.raises(ValueError, match="uniform marginals"):
        SinkhornSolver(method="textbook")(cost, a, torch.full((4,), 0.25, dtype=torch.float64))


def test_a_solver_that_cannot_reduce_over_processes_is_a_clear_error():
    from vqlit.wasserstein import ExactOT
    with pytest.raises(ValueError, match="cannot reduce over processes"):
        sinkhorn_assign(torch.randn(8, 2), torch.randn(4, 2), solver=ExactOT(), group=object())


def reference_assign(z, codebook, epsilon=10.0, iters=5):
    """OptVQ's assignment in float64 with SciPy's logsumexp: normalized cost, log-domain Sinkhorn."""
    from scipy.special import logsumexp
    cost = torch.cdist(z.double(), codebook.double()).numpy()
    cost = (cost - cost.min()) / (cost.std(ddof=1) + 1e-6)                  # Eqs. (11)-(12)
    n, k = cost.shape
    alpha = np.zeros(n)
    for _ in range(iters):
        beta = -np.log(k) - logsumexp(alpha[:, None] - epsilon * cost, axis=0)
        alpha = -np.log(n) - logsumexp(beta[None, :] - epsilon * cost, axis=1)
    return torch.from_numpy((beta[None, :] - epsilon * cost).argmax(1))


QUANTIZER_GRID = list(itertools.product([1e-3, 1.0, 1e2, 1e4], [None, "feature", "code"],
                                        [(40, 64), (200, 64)],
                                        [torch.float16, torch.bfloat16, torch.float32, torch.float64]))


@pytest.mark.parametrize("scale,outlier,shape,dtype", QUANTIZER_GRID)
def test_quantizer_reliability_grid(scale, outlier, shape, dtype):
    """Any scale, outliers, half to double precision, N < K and N > K: valid, finite, and the
    assignment of a float64 log-domain reference (the outlying feature included)."""
    n, k = shape
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 4, generator=g, dtype=torch.float64) * scale
    q = SinkhornQuantizer(num_codes=k, dim=4)
    with torch.no_grad():
        q.codebook.copy_(torch.randn(k, 4, generator=g) * scale + 0.3 * scale)
        if outlier == "code":
            q.codebook[-1] -= 100 * scale
    if outlier == "feature":
        z[0] += 100 * scale
    z = z.to(dtype)
    limit = torch.finfo(dtype).max
    if not torch.isfinite(z).all() or q.codebook.abs().max() > limit:
        pytest.skip(f"{dtype} cannot hold these features and codes")
    out = q(z)
    assert torch.isfinite(out.quantized).all() and torch.isfinite(out.loss)
    assert 0 <= int(out.indices.min()) and int(out.indices.max()) < k
    ref = reference_assign(z, q.codebook.detach())
    assert (out.indices == ref).double().mean() >= 0.95
    if outlier == "feature":                      # the outlier is not silently sent to code 0
        assert out.indices[0] == ref[0]


def test_usage_beats_nearest_neighbour_when_codes_start_off_the_data():
    from vqlit.vq import VectorQuantizer
    torch.manual_seed(0)
    z = torch.randn(2000, 2)
    nn_q, ot_q = VectorQuantizer(num_codes=64, dim=2), SinkhornQuantizer(num_codes=64, dim=2)
    start = torch.randn(64, 2) * 0.3 + 4.0
    with torch.no_grad():
        nn_q.codebook.copy_(start)
        ot_q.codebook.copy_(start)
    assert ot_q(z).stats["usage"] > 2 * nn_q(z).stats["usage"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_without_host_syncs():
    torch.manual_seed(0)
    cpu = SinkhornQuantizer(num_codes=512, dim=8, heads=2, check_finite=False)
    gpu = SinkhornQuantizer(num_codes=512, dim=8, heads=2, check_finite=False).cuda()
    gpu.load_state_dict(cpu.state_dict())
    z = torch.randn(16, 8, 8, 8)
    a = cpu(z)
    zc = z.cuda().requires_grad_(True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        b = gpu(zc)
        (b.quantized.square().mean() + b.loss).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert (a.indices == b.indices.cpu()).double().mean() > 0.99
    assert torch.allclose(a.loss, b.loss.cpu(), rtol=1e-3)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert gpu(z.cuda().bfloat16()).loss.dtype == torch.float32
