"""The soft and balanced quantizer (vqlit.family, Chapter 5): its plan, its limits, bad settings."""
import math

import pytest
import torch

from vqlit.family import BalancedSoftQuantizer
from vqlit.soft import BayesianQuantizer


def test_rows_are_probabilities_and_columns_are_balanced():
    g = torch.Generator().manual_seed(0)
    q = BalancedSoftQuantizer(num_codes=8, dim=3, temperature=0.5, iters=300).double()
    z = torch.randn(64, 3, generator=g, dtype=torch.float64) + 2.0         # off the codes
    w = q.weights(z, q.codebook.detach())                                  # (N, K)
    assert torch.allclose(w.sum(1), torch.ones(64, dtype=torch.float64))
    assert torch.allclose(w.sum(0), torch.full((8,), 8.0, dtype=torch.float64), rtol=1e-6)


def test_without_columns_it_is_soft_vq_with_equal_variances_in_forward_values():
    g = torch.Generator().manual_seed(1)
    tau = 0.3
    q = BalancedSoftQuantizer(num_codes=8, dim=4, temperature=tau, normalize=False,
                              balanced=False).eval()
    soft = BayesianQuantizer(num_codes=8, dim=4, log_var=math.log(tau / 2), learn_var=False).eval()
    with torch.no_grad():
        soft.codebook.copy_(q.codebook)
    z = torch.randn(50, 4, generator=g)
    assert torch.allclose(q(z).quantized, soft(z).quantized, atol=1e-6)


def test_without_columns_its_gradients_are_soft_vqs_with_the_weights_held_fixed():
    g = torch.Generator().manual_seed(2)
    tau = 0.3
    q = BalancedSoftQuantizer(num_codes=8, dim=4, temperature=tau, normalize=False,
                              balanced=False).double()
    soft = BayesianQuantizer(num_codes=8, dim=4, log_var=math.log(tau / 2),
                             learn_var=False).double()
    with torch.no_grad():
        soft.codebook.copy_(q.codebook)
    z = torch.randn(50, 4, generator=g, dtype=torch.float64)

    def grads(loss_of):
        z_g, e_g = z.clone().requires_grad_(True), q.codebook.detach().clone().requires_grad_(True)
        return torch.autograd.grad(loss_of(z_g, e_g), (z_g, e_g))

    def fixed(z_g, e_g):        # Eq. (vqvae-loss) on the mean, the softmax weights held fixed
        w = torch.softmax(-torch.cdist(z_g, e_g).detach() ** 2 / tau, -1)            # (N, K)
        mean = w @ e_g
        return ((mean - z_g.detach()) ** 2).mean() + 0.25 * ((z_g - mean.detach()) ** 2).mean()

    z_c = z.clone().requires_grad_(True)
    got = torch.autograd.grad(q(z_c).loss, (z_c, q.codebook))
    z_s = z.clone().requires_grad_(True)
    soft_grads = torch.autograd.grad(soft(z_s).loss, (z_s, soft.codebook))
    for mine, held, through in zip(got, grads(fixed), soft_grads):
        assert torch.allclose(mine, held)                      # the weights held fixed
        assert (mine - through).norm() > 0.1 * through.norm()  # Soft VQ differentiates through


@pytest.mark.parametrize("kwargs", [dict(temperature=0.0), dict(temperature=-1.0),
                                    dict(iters=0), dict(heads=3)])
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        BalancedSoftQuantizer(num_codes=8, dim=4, **kwargs)
