"""Chapter 5's exhaustive checks, moved off its pages: the map's identities over many random cases
(SciPy, POT) and the soft and balanced corner's gradients (vqlit.family)."""
import math

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import multivariate_normal

from vqlit.family import BalancedSoftQuantizer
from vqlit.optvq import euclidean_distances, sinkhorn_assign
from vqlit.sinkhorn import SinkhornSolver, uniform_marginals
from vqlit.soft import posterior_weights
from vqlit.vq import squared_distances


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
