"""The Bayesian (soft) quantizer (vqlit.soft, Chapter 2) and the soft VQ-VAE (vqlit.models)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from vqlit.soft import (BayesianQuantizer, bayes_estimate, component_log_likelihood,
                        posterior_logits, posterior_weights)
from vqlit.models import MLPDecoder, MLPEncoder
from vqlit.models_soft import SoftAutoEncoder, soft_mlp_autoencoder
from vqlit.evaluation import evaluate
from vqlit.train import TrainConfig, fit
from vqlit.vq import QuantizerOutput, init_codebook, nearest_code


def scipy_posterior(z, mus, log_var):
    """Reference: Bayes' rule with SciPy's Gaussian densities, uniform prior, float64."""
    d = z.shape[1]
    dens = np.stack([np.atleast_1d(multivariate_normal(mus[k], math.exp(log_var[k]) * np.eye(d))
                                   .logpdf(z)) for k in range(len(mus))], 1)
    dens = np.exp(dens - dens.max(1, keepdims=True))
    return dens / dens.sum(1, keepdims=True)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 20), k=st.integers(1, 12), d=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_posterior_matches_bayes_rule_with_scipy(n, k, d, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    mus = torch.randn(k, d, generator=g, dtype=torch.float64)
    s = torch.randn(k, generator=g, dtype=torch.float64)
    ref = scipy_posterior(z.numpy(), mus.numpy(), s.numpy())
    w = posterior_weights(z, mus, s)
    assert w.dtype == torch.float64 and w.shape == (n, k)
    assert np.allclose(w.numpy(), ref, atol=1e-10)
    lik = component_log_likelihood(z, mus, s)
    assert torch.allclose(torch.softmax(lik, 1), w)
    assert torch.allclose(bayes_estimate(z, mus, s), w @ mus)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 50), k=st.integers(2, 20), d=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_small_variances_give_the_nearest_codeword(n, k, d, seed):
    g = torch.Generator().manual_seed(seed)
    z, mus = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
    dist = torch.cdist(z.double(), mus.double()).square().sort(1).values
    if (dist[:, 1] - dist[:, 0]).min() < 1e-4:            # a near-tie: not this test's business
        return
    est = bayes_estimate(z, mus, torch.full((k,), -25.0))
    assert torch.allclose(est, mus[nearest_code(z, mus)], atol=1e-6)


def test_large_variances_give_the_codebook_mean_or_the_sigma_power_weights():
    g = torch.Generator().manual_seed(0)
    z, mus = torch.randn(30, 5, generator=g), torch.randn(9, 5, generator=g)
    est = bayes_estimate(z, mus, torch.full((9,), 25.0))
    assert torch.allclose(est, mus.mean(0).expand(30, 5), atol=1e-6)
    s = torch.linspace(20.0, 21.0, 9)                     # unequal: weights ~ sigma_k^-d
    w = posterior_weights(z, mus, s)
    assert torch.allclose(w, torch.softmax(-2.5 * s, 0).expand(30, 9), atol=1e-6)
    w_none = posterior_weights(z, mus, s, normalizer="none")
    assert torch.allclose(w_none, torch.full((30, 9), 1 / 9), atol=1e-6)


def test_normalizers():
    g = torch.Generator().manual_seed(1)
    z, mus, s = torch.randn(10, 4, generator=g), torch.randn(6, 4, generator=g), torch.randn(6, generator=g)
    dist = torch.cdist(z, mus).square()
    base = -dist / (2 * s.exp())
    assert torch.allclose(posterior_logits(z, mus, s, "none"), base, atol=1e-5)
    assert torch.allclose(posterior_logits(z, mus, s, "released"), base + 0.5 * s, atol=1e-5)  # + log sigma
    assert torch.allclose(posterior_logits(z, mus, s, "gaussian"), base - 2 * s, atol=1e-5)   # - d/2 log s^2
    with pytest.raises(ValueError, match="normalizer"):
        posterior_logits(z, mus, s, "bogus")


def test_per_input_variances_and_convexity():
    g = torch.Generator().manual_seed(2)
    z, mus = torch.randn(40, 3, generator=g), torch.randn(5, 3, generator=g)
    s = torch.randn(40, 5, generator=g) * 3
    w = posterior_weights(z, mus, s)
    assert (w >= 0).all() and torch.allclose(w.sum(1), torch.ones(40))
    for i in range(0, 40, 13):                            # row i uses row i of the variances
        assert torch.allclose(w[i], posterior_weights(z[i:i + 1], mus, s[i])[0])


def test_extreme_log_variances_stay_finite():
    z, mus = torch.randn(8, 4), torch.randn(3, 4)
    for value in (-1e4, 1e4):
        w = posterior_weights(z, mus, torch.full((3,), value))
        assert torch.isfinite(w).all() and torch.allclose(w.sum(1), torch.ones(8))


def test_posterior_mean_has_the_lowest_mse_by_simulation():
    g = torch.Generator().manual_seed(3)
    mus, s = torch.randn(5, 2, generator=g), torch.tensor([-1.0, -0.5, 0.0, -1.5, -0.3])
    k = torch.randint(5, (200_000,), generator=g)
    obs = mus[k] + (0.5 * s[k, None]).exp() * torch.randn(200_000, 2, generator=g)
    est = bayes_estimate(obs, mus, s)
    mse = (est - mus[k]).square().sum(1).mean()
    assert mse < (mus[nearest_code(obs, mus)] - mus[k]).square().sum(1).mean()
    for a in (0.9, 1.1):
        assert mse < (a * est - mus[k]).square().sum(1).mean()


def test_unit_scaling():
    codes = init_codebook(4096, 64, "unit_scaling", generator=torch.Generator().manual_seed(0))
    assert codes.shape == (4096, 64) and codes.abs().max() <= math.sqrt(3 / 64)
    assert abs(codes.square().sum(1).mean().item() - 1.0) < 0.02      # expected squared norm 1


def test_quantizer_contract_stand_alone():
    q = BayesianQuantizer(num_codes=32, dim=8)               # how the bench builds every quantizer
    z = torch.randn(2, 5, 5, 8, requires_grad=True)
    out = q(z)
    assert isinstance(out, QuantizerOutput)
    assert out.quantized.shape == z.shape and out.indices.shape == (2, 5, 5)
    assert out.indices.dtype == torch.int64 and out.loss.shape == ()
    assert set(out.stats) == {"usage", "perplexity"}
    flat = z.detach().reshape(-1, 8)
    est = bayes_estimate(flat, q.codebook.detach(), q.log_var.detach())
    assert torch.allclose(out.quantized.reshape(-1, 8), est, atol=1e-6)
    assert torch.isclose(out.loss, (1 + q.commitment_weight) * (est - flat).square().mean())
    w = posterior_weights(flat, q.codebook.detach(), q.log_var.detach())
    assert torch.equal(out.indices.reshape(-1), w.argmax(1))
    out.loss.backward()
    assert q.codebook.grad.abs().sum(1).min() > 0            # every codeword gets a gradient
    assert q.log_var.grad.abs().min() > 0 and z.grad.abs().sum() > 0


def test_straight_through_gradient_reaches_the_encoder_unchanged():
    q = BayesianQuantizer(num_codes=16, dim=4)
    z = torch.randn(10, 4, requires_grad=True)
    out = q(z)
    upstream = torch.randn(10, 4)
    (grad,) = torch.autograd.grad((out.quantized * upstream).sum(), z)
    assert torch.equal(grad, upstream)


def test_loss_terms_train_what_they_should():
    q = BayesianQuantizer(num_codes=16, dim=4, commitment_weight=0.0)     # codebook term only
    z = torch.randn(10, 4, requires_grad=True)
    gz, gmu, gs = torch.autograd.grad(q(z).loss, (z, q.codebook, q.log_var))
    assert gmu.abs().sum() > 0 and gs.abs().sum() > 0 and gz.abs().sum() > 0   # z via the weights
    q = BayesianQuantizer(num_codes=16, dim=4, commitment_weight=1.0)      # no noise: forwards are equal
    z = torch.randn(10, 4, requires_grad=True)
    with_commitment = q(z).loss
    q.commitment_weight = 0.0
    commitment = with_commitment - q(z).loss                 # the quantizer's own commitment term
    est = bayes_estimate(z.detach(), q.codebook, q.log_var)
    assert torch.isclose(commitment, F.mse_loss(z, est.detach()))
    gz, gmu = torch.autograd.grad(commitment, (z, q.codebook))
    assert gmu.abs().max() < 1e-7 and gz.abs().sum() > 0    # trains z, not the codebook


def test_per_input_log_variances_are_used():
    q = BayesianQuantizer(num_codes=6, dim=3)
    z = torch.randn(4, 7, 3)
    s = torch.randn(4, 7, 6)
    out = q(z, s)
    ref = bayes_estimate(z.reshape(-1, 3), q.codebook.detach(), s.reshape(-1, 6))
    assert torch.allclose(out.quantized.reshape(-1, 3), ref, atol=1e-6)
    assert not torch.allclose(out.quantized, q(z).quantized)
    s.requires_grad_(True)
    q(z, s).loss.backward()
    assert s.grad.abs().sum() > 0


def test_float32_inside_bfloat16_autocast_and_float64_passthrough():
    q = BayesianQuantizer(num_codes=64, dim=8)
    z = torch.randn(100, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = q(z.bfloat16(), torch.zeros(100, 64, dtype=torch.bfloat16))
    assert out.quantized.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    ref = bayes_estimate(z.bfloat16().float(), q.codebook.detach(), torch.zeros(64))
    assert torch.allclose(out.quantized.float(), ref, atol=1e-2)
    out64 = q(z.double())
    assert out64.quantized.dtype == torch.float64 and out64.loss.dtype == torch.float64


def test_noise_only_in_training_mode():
    q = BayesianQuantizer(num_codes=8, dim=4, noise_std=0.3)
    z = torch.randn(50, 4)
    assert not torch.equal(q(z).quantized, q(z).quantized)
    q.eval()
    assert torch.equal(q(z).quantized, q(z).quantized)
    assert torch.allclose(q(z).quantized, bayes_estimate(z, q.codebook.detach(), q.log_var.detach()),
                          atol=1e-6)


BAD = {
    "log_var wrong K": (torch.randn(4, 8), torch.randn(4, 5)),
    "log_var wrong lead": (torch.randn(4, 8), torch.randn(3, 16)),
    "log_var integer": (torch.randn(4, 8), torch.ones(16, dtype=torch.int64)),
    "log_var NaN": (torch.randn(4, 8), torch.full((16,), float("nan"))),
}


@pytest.mark.parametrize("what", BAD)
def test_bad_inputs_raise_value_error(what):
    z, s = BAD[what]
    with pytest.raises(ValueError):
        BayesianQuantizer(num_codes=16, dim=8)(z, s)


@pytest.mark.parametrize("kwargs", [dict(num_codes=0, dim=4), dict(num_codes=4, dim=0),
                                    dict(num_codes=4, dim=4, normalizer="x"),
                                    dict(num_codes=4, dim=4, init="x"),
                                    dict(num_codes=4, dim=4, noise_std=-1.0)])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        BayesianQuantizer(**kwargs)


def test_soft_autoencoder_head_and_training():
    model = soft_mlp_autoencoder(num_codes=16, image_shape=(1, 8, 8), latent_dim=4,
                                 quantizer_weight=0.3)
    assert not model.quantizer.log_var.requires_grad           # the head supplies the variances
    x = torch.rand(6, 1, 8, 8)
    z, s = model.encode_with_variances(x)
    assert z.shape == (6, 4) and s.shape == (6, 16)
    assert torch.equal(model.encode(x), z)
    out = model(x)
    assert out.reconstruction.shape == x.shape and out.quantizer.indices.shape == (6,)
    loss, logs = model.loss(x)
    loss.backward()
    head = model.encoder.net[-1]
    assert head.weight.grad[4:].abs().sum() > 0 and head.weight.grad[:4].abs().sum() > 0
    assert model.quantizer.codebook.grad.abs().sum() > 0
    images = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8)
    run = fit(model, images, TrainConfig(steps=3, batch_size=8, progress=False), device="cpu")
    assert run.steps == 3 and "usage" in run.history[-1]
    ev = evaluate(model, images)
    assert ev.usage is not None and 0 < ev.usage <= 1


def test_soft_autoencoder_rejects_a_mismatched_encoder():
    model = SoftAutoEncoder(encoder=MLPEncoder(image_shape=(1, 8, 8), latent_dim=4),
                            decoder=MLPDecoder(image_shape=(1, 8, 8), latent_dim=4),
                            quantizer=BayesianQuantizer(num_codes=16, dim=4))
    with pytest.raises(ValueError, match="20 channels"):
        model(torch.rand(2, 1, 8, 8))
