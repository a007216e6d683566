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


def test_without_columns_it_is_soft_vq_with_equal_variances():
    g = torch.Generator().manual_seed(1)
    tau = 0.3
    q = BalancedSoftQuantizer(num_codes=8, dim=4, temperature=tau, normalize=False,
                              balanced=False).eval()
    soft = BayesianQuantizer(num_codes=8, dim=4, log_var=math.log(tau / 2), learn_var=False).eval()
    with torch.no_grad():
        soft.codebook.copy_(q.codebook)
    z = torch.randn(50, 4, generator=g)
    assert torch.allclose(q(z).quantized, soft(z).quantized, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(temperature=0.0), dict(temperature=-1.0),
                                    dict(iters=0), dict(heads=3)])
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        BalancedSoftQuantizer(num_codes=8, dim=4, **kwargs)
