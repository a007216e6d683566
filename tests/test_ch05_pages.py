"""Chapter 5's exhaustive checks, moved off its pages: the map's identities over many random cases
(SciPy, POT) and the soft and balanced corner's gradients (vqlit.family)."""
import math
import re
from pathlib import Path

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from vqlit.ema import EMAVectorQuantizer
from vqlit.family import BalancedSoftQuantizer
from vqlit.optvq import SinkhornQuantizer, euclidean_distances, sinkhorn_assign
from vqlit.sinkhorn import SinkhornSolver, uniform_marginals
from vqlit.soft import BayesianQuantizer, posterior_weights
from vqlit.vq import VectorQuantizer, squared_distances
from vqlit.wasserstein import WassersteinQuantizer


def points(seed: int, n: int, k: int, d: int):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64),
            torch.randn(k, d, generator=g, dtype=torch.float64) + 0.5)


@pytest.mark.parametrize("seed,tau", [(0, 0.7), (1, 0.2), (2, 3.0)])
def test_rows_only_plan_is_the_softmax_and_sinkhorns_half_step(seed, tau):
    z, e = points(seed, 20, 5, 3)
    cost = squared_distances(z, e)                                           # (N, K)
    rows = torch.softmax(-cost / tau, -1) / len(z)                           # Eq. (family-rows)
    mass = 1 / len(z)
    for i in range(3):
        c = cost[i].numpy()

        def objective(p):                           # <p, c> - tau H(p), one row of mass 1/N
            return p @ c + tau * np.sum(p * np.log(np.maximum(p, 1e-300)))

        found = minimize(objective, np.full(5, mass / 5), method="SLSQP",
                         bounds=[(1e-12, mass)] * 5,
                         constraints=[{"type": "eq", "fun": lambda p: p.sum() - mass}],
                         options={"ftol": 1e-15, "maxiter": 500})
        assert objective(rows[i].numpy()) <= objective(found.x) + 1e-12   # no better point
        assert np.allclose(found.x, rows[i].numpy(), atol=1e-6)
    kernel = torch.exp(-cost / tau)
    u = mass / kernel.sum(1)                                                 # u = a / K 1
    assert torch.allclose(u[:, None] * kernel, rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_posterior_is_a_gaussian_mixtures_e_step(seed):
    z, e = points(seed, 30, 6, 3)
    log_var = torch.randn(6, generator=torch.Generator().manual_seed(seed + 10),
                          dtype=torch.float64)
    dens = np.stack([multivariate_normal(e[k].numpy(), math.exp(log_var[k])).pdf(z.numpy())
                     for k in range(6)], axis=1)                             # (N, K)
    assert np.allclose(posterior_weights(z, e, log_var).numpy(), dens / dens.sum(1, keepdims=True),
                       atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_optvq_is_the_balanced_plan_at_sigma_over_epsilon(seed):
    z, e = points(seed, 48, 12, 2)
    dist = euclidean_distances(z, e)                                         # (N, K)
    a, b = uniform_marginals(dist)
    raw = SinkhornSolver(epsilon=1 / ((dist.std() + 1e-6) / 10.0).item(), iters=5,
                         method="scaling")
    assert torch.equal(sinkhorn_assign(z, e), raw.argmax_(dist.clone(), a, b))


def test_small_temperature_gives_the_exact_balanced_assignment():
    z, e = points(5, 48, 12, 2)
    cost = squared_distances(z, e)
    a, b = uniform_marginals(cost)
    exact = torch.from_numpy(ot.emd(a.numpy(), b.numpy(), (cost / cost.std()).numpy()))
    corner = BalancedSoftQuantizer(num_codes=12, dim=2, temperature=1e-3, iters=5000).double()
    corner.codebook.data.copy_(e)
    assert torch.equal(corner(z).indices, exact.argmax(1))


def test_corner_gradients_are_the_vqvae_loss_with_weights_held_fixed():
    z, e = points(6, 48, 12, 2)
    corner = BalancedSoftQuantizer(num_codes=12, dim=2, temperature=0.05, iters=500).double()
    corner.codebook.data.copy_(e)
    z_g = z.clone().requires_grad_(True)
    grads = torch.autograd.grad(corner(z_g).loss, (z_g, corner.codebook))
    w = corner.weights(z, e)                                                 # (N, K) held fixed
    z_r, e_r = z.clone().requires_grad_(True), e.clone().requires_grad_(True)
    mean = w @ e_r                                                           # (N, d)
    ref = ((mean - z_r.detach()) ** 2).mean() + 0.25 * ((z_r - mean.detach()) ** 2).mean()
    for x, y in zip(grads, torch.autograd.grad(ref, (z_r, e_r))):
        assert torch.allclose(x, y)


# The map's table as the page prints it: each check below reads a row of the text and fails on a
# wrong entry (issue 26: the Soft VQ normaliser, the assignment and loss plans, the corner's limit).
CHAPTERS = Path(__file__).resolve().parent.parent / "book" / "chapters"


def map_table() -> dict[str, dict[str, str]]:
    """The table of 05a_the_map.md: method (first cell, reference dropped) -> column -> cell."""
    lines = [line for line in (CHAPTERS / "05a_the_map.md").read_text().splitlines()
             if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[0] == "method", "the map's table is the page's first table"
    table = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if set(cells[0]) <= set("-"):
            continue
        table[re.sub(r"\s*\(\{ref\}.*\)$", "", cells[0])] = dict(zip(header, cells))
    return table


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.;])\s+", " ".join(text.split()))


def gaussian_posterior(z: np.ndarray, e: np.ndarray, var: np.ndarray) -> np.ndarray:
    """p(k | z) under equal priors and N(z; e_k, var_k I), by SciPy's densities: (N, K)."""
    log_p = np.stack([multivariate_normal(e[k], var[k]).logpdf(z) for k in range(len(e))], 1)
    p = np.exp(log_p - log_p.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def test_map_soft_vq_row_is_the_gaussian_posterior():
    row = map_table()["Soft VQ-VAE"]
    term = re.search(r"\+\s*(\d*)\s*d\s*\\log\s*\\sigma_k(\^2)?", row["cost $C$"])
    assert term, f"the Soft VQ row's cost has no d log sigma_k normaliser: {row['cost $C$']}"
    factor = int(term[1] or 1) * (2 if term[2] else 1)        # the row's multiple of d log sigma_k
    tau = float(re.search(r"\\tau\s*=\s*([\d.]+)", row["assignment plan"])[1])

    def row_weights(z, e, var, factor):                  # softmax(-C / tau), the row as printed
        d = z.shape[1]
        cost = ((z[:, None] - e[None]) ** 2).sum(-1) / var + factor * d * np.log(np.sqrt(var))
        w = np.exp(-(cost - cost.min(1, keepdims=True)) / tau)
        return w / w.sum(1, keepdims=True)

    rng = np.random.default_rng(0)
    for d in (2, 3, 8):
        z, e = rng.normal(size=(30, d)), rng.normal(size=(6, d))
        var = np.exp(rng.normal(size=6))                      # unequal variances
        post = gaussian_posterior(z, e, var)
        assert np.allclose(row_weights(z, e, var, factor), post, atol=1e-10), \
            f"the row's normaliser {factor} d log sigma_k is not the Gaussian posterior's"
        assert np.abs(row_weights(z, e, var, 1) - post).max() > 0.05   # "+ d log sigma_k" fails


def skewed_batch():
    """64 features crowded at 2 of 8 codes, so that the nearest codes are far from balanced."""
    g = torch.Generator().manual_seed(3)
    e = torch.randn(8, 2, generator=g, dtype=torch.float64)                  # (K, d)
    z = e[0] + 0.3 * torch.randn(64, 2, generator=g, dtype=torch.float64)    # (N, d)
    z[:8] = e[1] + 0.3 * torch.randn(8, 2, generator=g, dtype=torch.float64)
    brute = torch.tensor([min(range(8), key=lambda k: float(((zi - e[k]) ** 2).sum())) for zi in z])
    assert brute.bincount(minlength=8).max() > 2 * 64 / 8                     # unbalanced
    return z, e, brute


MAP_METHODS = {   # the table's rows -> the quantizer that implements each, with its defaults
    "VQ-VAE": lambda: VectorQuantizer(num_codes=8, dim=2),
    "EMA VQ": lambda: EMAVectorQuantizer(num_codes=8, dim=2),
    "Soft VQ-VAE": lambda: BayesianQuantizer(num_codes=8, dim=2, learn_var=False),  # equal vars
    "VQ-WAE": lambda: WassersteinQuantizer(num_codes=8, dim=2, ws_weight=1.0),
    "OptVQ": lambda: SinkhornQuantizer(num_codes=8, dim=2),
    "this chapter's corner": lambda: BalancedSoftQuantizer(num_codes=8, dim=2),
}


def test_map_assignment_and_loss_plans_match_each_method():
    table = map_table()
    assert set(table) == set(MAP_METHODS)
    z, e, brute = skewed_batch()
    for name, make in MAP_METHODS.items():
        row, q = table[name], make().double()
        q.codebook.data.copy_(e)
        q.train(name == "VQ-WAE")                          # VQ-WAE's loss is a training loss
        out = q(z)
        rows_only = torch.equal(out.indices, brute)        # the forward codes: nearest or not
        assert rows_only == ("columns" not in row["assignment plan"]), (name, row)
        if row["loss plan"] == "the assignment":           # a loss of the forward output alone
            c = getattr(q, "codebook_weight", 0.0) + q.commitment_weight
            assert torch.allclose(out.loss, c * ((z - out.quantized) ** 2).mean()), name
        else:                                              # VQ-WAE: the balanced plan
            assert name == "VQ-WAE" and "columns" in row["loss plan"], (name, row)
    family = (CHAPTERS / "05_family.md").read_text()
    assert "**loss plan**" in family and "assignment plan" in family   # the chapter's own list


def test_map_vq_wae_assigns_nearest_codes_and_its_loss_uses_the_balanced_plan():
    z, e, brute = skewed_batch()
    q = WassersteinQuantizer(num_codes=8, dim=2, ws_weight=1.0).double().train()
    q.codebook.data.copy_(e)
    out = q(z)
    assert torch.equal(out.indices, brute)                                   # rows only, forward
    cost = np.array([[float(((zi - ek) ** 2).sum()) for ek in e] for zi in z])   # (N, K)
    a, b = np.full(64, 1 / 64), np.full(8, 1 / 8)
    plan = ot.emd(a, b, cost)                                                # rows and columns
    assert np.allclose(plan.sum(0), b) and math.isclose(out.loss.item(), (plan * cost).sum(),
                                                        rel_tol=1e-9)
    assert out.loss.item() > cost.min(1).mean() * 2                          # not the nearest codes
    grad = torch.autograd.grad(out.loss, q.codebook)[0].numpy()             # d W / d e_k
    expected = 2 * (plan.sum(0)[:, None] * e.numpy() - plan.T @ z.numpy())  # sum P_ik 2(e_k - z_i)
    assert np.allclose(grad, expected)
    row = map_table()["VQ-WAE"]                    # the map says so: two plans, one per column
    assert "columns" not in row["assignment plan"] and "\\tau \\to 0" in row["assignment plan"]
    assert "columns $\\pi$" in row["loss plan"] and "exact" in row["loss plan"]


def test_corner_is_soft_vq_in_forward_values_not_in_gradients():
    z, e = points(7, 48, 12, 2)
    tau = 0.4
    corner = BalancedSoftQuantizer(num_codes=12, dim=2, temperature=tau, normalize=False,
                                   balanced=False).double().eval()
    soft = BayesianQuantizer(num_codes=12, dim=2, log_var=math.log(tau / 2),
                             learn_var=False).double().eval()
    for q in (corner, soft):
        q.codebook.data.copy_(e)
    assert torch.allclose(corner(z).quantized, soft(z).quantized)            # forward values

    def grads(q):
        z_g = z.clone().requires_grad_(True)
        return torch.autograd.grad(q(z_g).loss, (z_g, q.codebook))

    for g_c, g_s in zip(grads(corner), grads(soft)):
        assert (g_c - g_s).norm() > 0.1 * g_s.norm()                         # gradients differ
    # so the text may claim the forward values only: each sentence that says the corner without
    # the columns is Soft VQ must say "forward"
    texts = [re.sub(r"```\{code-cell\}.*?```", "", (CHAPTERS / path).read_text(), flags=re.S)
             for path in ("05a_the_map.md", "05_family.md")] + [BalancedSoftQuantizer.__doc__]
    claims = [s for text in texts for s in sentences(text)
              if re.search(r"Soft VQ|BayesianQuantizer", s)
              and re.search(r"without the columns|balanced=False|False:", s, re.I)]
    assert claims and all("forward" in s for s in claims), claims
