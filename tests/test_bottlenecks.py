"""The noise-based bottlenecks of Wu & Flierl's Table 1 (vqlit.bottlenecks, Chapter 2)."""
import math

import pytest
import torch

from vqlit.bottlenecks import GaussianBottleneck, InformationDropout, gaussian_kl
from vqlit.models import mlp_autoencoder


def test_gaussian_kl_is_zero_at_the_prior_and_matches_a_monte_carlo_estimate():
    assert torch.allclose(gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)), torch.zeros(3))
    torch.manual_seed(1)
    mu, log_var = torch.tensor([0.7, -0.3]), torch.tensor([-0.5, 0.4])
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    x = q.sample((400000,))
    p = torch.distributions.Normal(0.0, 1.0)
    estimate = (q.log_prob(x) - p.log_prob(x)).sum(-1).mean()          # E_q[log q - log p]
    assert math.isclose(float(estimate), float(gaussian_kl(mu, log_var)), abs_tol=0.01)


@pytest.mark.parametrize("neck", [GaussianBottleneck(dim=6, beta=20.0), InformationDropout(dim=6)])
def test_bottlenecks_train_through_an_autoencoder_and_are_deterministic_in_eval(neck):
    model = mlp_autoencoder(neck, image_shape=(1, 8, 8), latent_dim=6, quantizer_weight=1 / 64)
    x = torch.rand(16, 1, 8, 8)
    loss, logs = model.loss(x)
    loss.backward()
    assert all(p.grad is not None for p in neck.parameters()), "the bottleneck learns"
    assert logs["kl"].ndim == 0 and torch.isfinite(loss)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x).reconstruction, model(x).reconstruction)


@pytest.mark.parametrize("make", [GaussianBottleneck, InformationDropout])
def test_bad_input_is_refused_with_the_expected_shape(make):
    with pytest.raises(ValueError, match=r"expected latents \(\.\.\., 4\)"):
        make(dim=4)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="dim must be >= 1"):
        make(dim=0)
    with pytest.raises(ValueError, match="beta >= 0"):
        make(dim=3, beta=-1.0)


def test_information_dropout_noise_is_bounded_by_max_alpha():
    drop = InformationDropout(dim=3, max_alpha=0.5)
    with torch.no_grad():
        drop.alpha.bias.fill_(50.0)                       # sigmoid -> 1: alpha = max_alpha
        log_noise = drop(torch.ones(100000, 3)).quantized.log()
    assert torch.allclose(log_noise.std(0), torch.full((3,), 0.5), rtol=0.02)
