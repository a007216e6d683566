"""vqlit.wasserstein (Chapter 3): the exact solver, the transport cost and its gradients, and the
Wasserstein quantizer, each against an independent reference (brute force, SciPy's LP solver, POT,
finite differences, the official formula rebuilt from POT and KLDivLoss)."""
import itertools
import math
import warnings

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from vqlit.vq import VectorQuantizer, nearest_code, squared_distances
from vqlit.sinkhorn import SinkhornSolver
from vqlit.wasserstein import ExactOT, WassersteinQuantizer, kl_to_uniform, transport_cost


def simplex(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(*shape, generator=g, dtype=torch.float64) + 0.05
    return w / w.sum(-1, keepdim=True)


def lp_value(cost, a, b):
    """The transport LP solved by SciPy's HiGHS, which knows nothing about transport."""
    n, k = cost.shape
    a_eq = np.vstack([np.kron(np.eye(n), np.ones((1, k))), np.kron(np.ones((1, n)), np.eye(k))])
    res = linprog(cost.ravel(), A_eq=a_eq, b_eq=np.concatenate([a, b]), bounds=(0, None),
                  method="highs")
    assert res.status == 0
    return res.fun


class PlanOnly:
    """A solver without potentials, as a plug-in solver may be; counts its calls and shapes."""

    def __init__(self):
        self.calls = []

    def __call__(self, cost, a, b):
        self.calls.append((tuple(cost.shape), tuple(a.shape), tuple(b.shape)))
        return ExactOT()(cost, a, b)


# ---------------------------------------------------------------- the exact solver

def test_exact_matches_brute_force_over_matchings():
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        cost = torch.rand(5, 5, generator=g, dtype=torch.float64)
        u = torch.full((5,), 0.2, dtype=torch.float64)
        plan = ExactOT()(cost, u, u)
        best = min(cost[range(5), list(p)].mean() for p in itertools.permutations(range(5)))
        assert torch.isclose((plan * cost).sum(), best, rtol=1e-12)
        assert torch.allclose(5 * plan, (5 * plan).round(), atol=1e-12)     # a permutation / N


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_exact_matches_scipy_lp_and_is_a_feasible_plan(n, k, seed):
    g = torch.Generator().manual_seed(seed)
    cost = torch.rand(n, k, generator=g, dtype=torch.float64) * 10
    a, b = simplex(n, seed=seed), simplex(k, seed=seed + 1)
    plan, f, gg = ExactOT().potentials(cost, a, b)
    ref = lp_value(cost.numpy(), a.numpy(), b.numpy())
    assert math.isclose((plan * cost).sum().item(), ref, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose((f @ a + gg @ b).item(), ref, rel_tol=1e-9, abs_tol=1e-12)  # no gap
    assert (f[:, None] + gg[None, :] <= cost + 1e-9).all()                        # feasible
    assert (plan >= 0).all()
    assert torch.allclose(plan.sum(1), a) and torch.allclose(plan.sum(0), b)


def test_plan_contract_batch_dtype_device_and_no_history():
    g = torch.Generator().manual_seed(2)
    cost = torch.rand(2, 3, 6, 4, generator=g, requires_grad=True)          # float32, a batch
    a = torch.full((6,), 1 / 6)                                              # broadcast
    b = simplex(2, 3, 4).float()
    plan = ExactOT(threads=3)(cost, a, b)
    assert plan.shape == cost.shape and plan.dtype == torch.float32
    assert plan.device == cost.device and not plan.requires_grad
    assert torch.allclose(plan.sum(-1), a.expand(2, 3, 6), atol=1e-6)
    assert torch.allclose(plan.sum(-2), b, atol=1e-6)
    for i, j in itertools.product(range(2), range(3)):                      # independent problems
        assert torch.allclose(plan[i, j], ExactOT(threads=1)(cost[i, j].detach(), a, b[i, j]))
    assert ExactOT()(cost.double(), a.double(), b.double()).dtype == torch.float64


@pytest.mark.parametrize("what, args", [
    ("integer cost", (torch.ones(3, 4, dtype=torch.int64), torch.ones(3) / 3, torch.ones(4) / 4)),
    ("a vector cost", (torch.rand(4), torch.ones(4) / 4, torch.ones(4) / 4)),
    ("empty cost", (torch.rand(0, 4), torch.ones(0), torch.ones(4) / 4)),
    ("wrong a", (torch.rand(3, 4), torch.ones(5) / 5, torch.ones(4) / 4)),
    ("wrong b", (torch.rand(3, 4), torch.ones(3) / 3, torch.ones(2) / 2)),
    ("negative mass", (torch.rand(3, 4), torch.tensor([0.5, 0.7, -0.2]), torch.ones(4) / 4)),
    ("a not summing to 1", (torch.rand(3, 4), torch.ones(3) / 2, torch.ones(4) / 4)),
    ("NaN cost", (torch.full((3, 4), float("nan")), torch.ones(3) / 3, torch.ones(4) / 4)),
    ("infinite cost", (torch.full((3, 4), float("inf")), torch.ones(3) / 3, torch.ones(4) / 4)),
])
def test_exact_rejects_bad_problems(what, args):
    with pytest.raises(ValueError):
        ExactOT()(*args)


# ---------------------------------------------------------------- the transport cost and gradients

def exact_value(z, c, a, b):
    m = ((z[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    return ot.emd2(a.numpy(), b.numpy(), m.numpy(), numItermax=1_000_000)


def test_transport_cost_value_and_gradients_against_finite_differences():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(6, 2, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(4, 2, generator=g, dtype=torch.float64, requires_grad=True)
    a = simplex(6, seed=4).requires_grad_(True)
    b = simplex(4, seed=5).requires_grad_(True)
    value, plan = transport_cost(squared_distances(z, c), a, b)
    assert math.isclose(value.item(), exact_value(z.detach(), c.detach(), a.detach(), b.detach()),
                        rel_tol=1e-12)
    value.backward()
    h = 1e-6
    for param in (z, c):
        for idx in itertools.product(*map(range, param.shape)):
            with torch.no_grad():
                param[idx] += h
                up = exact_value(z.detach(), c.detach(), a.detach(), b.detach())
                param[idx] -= 2 * h
                down = exact_value(z.detach(), c.detach(), a.detach(), b.detach())
                param[idx] += h
            assert abs((up - down) / (2 * h) - param.grad[idx].item()) < 1e-6
    rng = torch.Generator().manual_seed(6)
    for name in ("a", "b"):
        for _ in range(4):
            w = a if name == "a" else b
            step = torch.randn(len(w), generator=rng, dtype=torch.float64)
            step -= step.mean()                                                # on the simplex
            args = {"a": a.detach(), "b": b.detach()}
            up = exact_value(z.detach(), c.detach(), **{**args, name: args[name] + h * step})
            down = exact_value(z.detach(), c.detach(), **{**args, name: args[name] - h * step})
            assert abs((up - down) / (2 * h) - (w.grad @ step).item()) < 1e-6


def test_transport_cost_gradients_equal_pots_own():
    g = torch.Generator().manual_seed(7)
    z = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = simplex(7, seed=8).requires_grad_(True)
    a = torch.full((5,), 0.2, dtype=torch.float64)
    transport_cost(squared_distances(z, c), a, b)[0].backward()
    z2, c2 = z.detach().clone().requires_grad_(True), c.detach().clone().requires_grad_(True)
    b2 = b.detach().clone().requires_grad_(True)
    ot.emd2(a, b2, ((z2[:, None] - c2[None]) ** 2).sum(-1)).backward()
    assert torch.allclose(z.grad, z2.grad) and torch.allclose(c.grad, c2.grad)
    assert torch.allclose(b.grad - b.grad.mean(), b2.grad - b2.grad.mean())


def test_marginal_gradients_need_potentials():
    cost = torch.rand(4, 6, dtype=torch.float64)
    a = torch.full((4,), 0.25, dtype=torch.float64)
    b = simplex(6).requires_grad_(True)
    with pytest.raises(ValueError, match="potentials"):
        transport_cost(cost, a, b, PlanOnly())
    value, _ = transport_cost(cost, a, b.detach(), PlanOnly())                # fixed weights: fine
    with torch.no_grad():                                                      # no gradient asked
        assert torch.isclose(transport_cost(cost, a, b, PlanOnly())[0], value)


# ---------------------------------------------------------------- the quantizer

def official_loss(z, codebook, logits, ws_weight=1e-3, kl_weight=1.0):
    """The official WSVectorQuantizer term, Eq. (wae-code), from POT and KLDivLoss, as the code
    calls them: codewords as the first marginal, one problem per latent position."""
    b, k = z.shape[0], codebook.shape[0]
    loss = 0.0
    for s, cell in enumerate(z.reshape(b, -1, z.shape[-1]).unbind(1)):         # (B, d) each
        pi = logits[s].softmax(-1) if logits is not None else torch.full((k,), 1 / k)
        m = ((codebook[:, None] - cell[None]) ** 2).sum(-1)                     # (K, B)
        loss = loss + ws_weight * ot.emd2(pi, torch.full((b,), 1 / b), m)
        if logits is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loss = loss + kl_weight * torch.nn.KLDivLoss()(
                    torch.full((k,), math.log(1 / k)), pi)
    return loss


@pytest.mark.parametrize("learned", [False, True])
def test_quantizer_loss_and_gradients_equal_the_official_formula(learned):
    torch.manual_seed(0)
    q = WassersteinQuantizer(num_codes=24, dim=3, learned_weights=learned, positions=4,
                             ws_weight=0.5, kl_weight=2.0)
    if learned:
        with torch.no_grad():
            q.logits.add_(torch.randn_like(q.logits) * 0.3)
    z = torch.randn(5, 2, 2, 3, requires_grad=True)
    out = q(z)
    out.loss.backward()
    cb = q.codebook.detach().clone().requires_grad_(True)
    lg = q.logits.detach().clone().requires_grad_(True) if learned else None
    zr = z.detach().clone().requires_grad_(True)
    ref = official_loss(zr, cb, lg, ws_weight=0.5, kl_weight=2.0)
    ref.backward()
    assert torch.isclose(out.loss, ref.float(), rtol=1e-5)
    assert torch.allclose(z.grad, zr.grad, atol=1e-6)
    assert torch.allclose(q.codebook.grad, cb.grad, atol=1e-6)
    if learned:
        assert torch.allclose(q.logits.grad, lg.grad, atol=1e-6)


def test_kl_to_uniform_equals_kldivloss_as_the_code_calls_it():
    logits = torch.randn(5, 12, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    log_u = torch.full((12,), math.log(1 / 12), dtype=torch.float64)
    with warnings.catch_warnings():                                  # KLDivLoss's "mean" notice
        warnings.simplefilter("ignore")
        ref = torch.stack([torch.nn.KLDivLoss()(log_u, p) for p in logits.softmax(-1)])
    assert torch.allclose(kl_to_uniform(logits), ref, rtol=1e-12, atol=0)


def test_default_solver_is_exact_and_the_entropic_substitute_only_close():
    """The official code solves exact EMD; the quantizer does so by default. This book's entropic
    substitute (epsilon 100 on normalized costs, 300 iterations) is close, and above it."""
    torch.manual_seed(4)
    q = WassersteinQuantizer(num_codes=64, dim=8)
    assert isinstance(q.solver, ExactOT)
    sub = WassersteinQuantizer(num_codes=64, dim=8,
                               solver=SinkhornSolver(epsilon=100.0, iters=300, normalize=True))
    sub.load_state_dict(q.state_dict())
    z = torch.randn(16, 2, 2, 8, generator=torch.Generator().manual_seed(5))   # 4 problems
    exact_loss, sub_loss = q(z).loss.item(), sub(z).loss.item()
    assert exact_loss < sub_loss < exact_loss * 1.01


def test_learned_weights_start_with_home_codewords():
    q = WassersteinQuantizer(num_codes=512, dim=4, learned_weights=True, positions=64)
    assert q.logits.shape == (64, 512)
    assert torch.equal(q.logits[3, 24:32], torch.ones(8)) and q.logits[3].sum() == 8
    assert torch.equal(q.logits.sum(0), torch.ones(512))                     # each code: one home
    glob = WassersteinQuantizer(num_codes=16, dim=4, learned_weights=True, per_position=False)
    assert glob.logits.shape == (1, 16) and glob.logits.abs().sum() == 0


def test_global_variant_is_one_problem_over_all_latents():
    torch.manual_seed(1)
    q = WassersteinQuantizer(num_codes=10, dim=2, per_position=False, ws_weight=1.0)
    z = torch.randn(3, 4, 2)                                                   # 12 latents
    flat = z.reshape(-1, 2).double()
    ref = ot.emd2(np.full(12, 1 / 12), np.full(10, 0.1),
                  squared_distances(flat, q.codebook.detach().double()).numpy())
    assert math.isclose(q(z).loss.item(), ref, rel_tol=1e-5)


def test_plugged_solver_gets_one_problem_per_position():
    solver = PlanOnly()
    q = WassersteinQuantizer(num_codes=12, dim=3, solver=solver)
    ref = WassersteinQuantizer(num_codes=12, dim=3)
    ref.load_state_dict(q.state_dict())
    z = torch.randn(6, 2, 5, 3)
    assert torch.isclose(q(z).loss, ref(z).loss)
    assert solver.calls == [((10, 6, 12), (10, 6), (10, 12))]                 # (S, B, K)


def test_quantizer_output_contract():
    torch.manual_seed(2)
    q = WassersteinQuantizer(num_codes=32, dim=8)
    z = torch.randn(4, 3, 3, 8, requires_grad=True)
    out = q(z)
    assert out.quantized.shape == z.shape and out.quantized.dtype == z.dtype
    assert out.indices.shape == (4, 3, 3) and out.indices.dtype == torch.int64
    assert torch.equal(out.quantized, q.lookup(out.indices))
    assert torch.equal(out.indices.flatten(), nearest_code(z.detach().reshape(-1, 8),
                                                           q.codebook.detach()))
    assert set(out.stats) == {"usage", "perplexity"} and out.loss.ndim == 0
    assert 1 <= out.stats["perplexity"] <= 32 and 0 < out.stats["usage"] <= 1
    out.quantized.sum().backward()                                            # straight-through
    assert torch.equal(z.grad, torch.ones_like(z))
    assert WassersteinQuantizer(num_codes=8, dim=2)(torch.randn(5, 2)).indices.shape == (5,)


def test_eval_mode_solves_nothing():
    class Refuses:
        def __call__(self, cost, a, b):
            raise AssertionError("solved in eval mode")

    q = WassersteinQuantizer(num_codes=8, dim=2, solver=Refuses()).eval()
    out = q(torch.randn(6, 2))
    assert out.loss.item() == 0.0 and out.indices.shape == (6,)


def test_every_codeword_gets_a_gradient_unlike_vq_vae():
    torch.manual_seed(3)
    wq = WassersteinQuantizer(num_codes=40, dim=4)
    vq = VectorQuantizer(num_codes=40, dim=4)
    vq.codebook.data.copy_(wq.codebook.data)
    far = torch.randn(20, 4) * 0.1 + 25.0                                      # one code wins all
    for q in (wq, vq):
        q(far).loss.backward()
    assert (wq.codebook.grad.abs().sum(1) > 0).all()
    assert int((vq.codebook.grad.abs().sum(1) > 0).sum()) == 1


def test_quantizer_rejects_bad_configurations():
    with pytest.raises(ValueError, match="potentials"):
        WassersteinQuantizer(num_codes=8, dim=2, learned_weights=True, solver=PlanOnly())
    with pytest.raises(ValueError):
        WassersteinQuantizer(num_codes=8, dim=2, positions=0)
    with pytest.raises(ValueError):
        WassersteinQuantizer(num_codes=0, dim=2)
    q = WassersteinQuantizer(num_codes=8, dim=2, learned_weights=True, positions=4)
    with pytest.raises(ValueError, match="positions"):
        q(torch.randn(3, 3, 3, 2))                                             # 9 positions, not 4
    q(torch.randn(3, 2, 2, 2))                                                 # 4 positions: fine


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_plans_come_back_to_the_device():
    q = WassersteinQuantizer(num_codes=32, dim=8, learned_weights=True, positions=4).cuda()
    z = torch.randn(6, 2, 2, 8, device="cuda", requires_grad=True)
    out = q(z)
    out.loss.backward()
    assert out.quantized.device.type == "cuda" and q.codebook.grad.device.type == "cuda"
    ref = WassersteinQuantizer(num_codes=32, dim=8, learned_weights=True, positions=4)
    ref.load_state_dict({k: v.cpu() for k, v in q.state_dict().items()})
    assert torch.isclose(out.loss.cpu(), ref(z.detach().cpu()).loss, rtol=1e-4)
