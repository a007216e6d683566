"""Codebook statistics and PSNR (vqlit.metrics, from Chapter 1), against closed forms."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from vqlit.metrics import code_histogram, codebook_stats, perplexity, psnr, usage


@pytest.mark.parametrize("counts, expected", [
    ([5] * 16, 16.0),                 # uniform over K: K
    ([3, 3, 3, 0, 0, 0], 3.0),        # m codes used equally: m
    ([0, 9, 0], 1.0),                 # one code: 1
    ([1, 3], math.exp(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))),
])
def test_perplexity_known_histograms(counts, expected):
    assert math.isclose(perplexity(torch.tensor(counts)).item(), expected, rel_tol=1e-6)


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=64).filter(lambda c: sum(c) > 0))
def test_perplexity_is_between_one_and_the_number_of_used_codes(counts):
    c = torch.tensor(counts)
    used = int((c > 0).sum())
    p = perplexity(c).item()
    assert 1 - 1e-5 <= p <= used * (1 + 1e-5)
    if len(set(x for x in counts if x > 0)) == 1:      # equal counts on the used codes
        assert math.isclose(p, used, rel_tol=1e-5)


def test_usage_and_histogram():
    idx = torch.tensor([[0, 2], [2, 2]])
    assert code_histogram(idx, 4).tolist() == [1, 0, 3, 0]
    assert usage(code_histogram(idx, 4)).item() == 0.5
    stats = codebook_stats(idx, 4)
    assert stats["usage"].item() == 0.5 and math.isclose(stats["perplexity"].item(),
                                                          math.exp(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75))),
                                                          rel_tol=1e-6)


def test_histogram_rejects_float_and_out_of_range_indices():
    with pytest.raises(ValueError, match="integer"):
        code_histogram(torch.tensor([0.0, 1.0]), 2)
    for bad in ([0, 4], [-1, 2]):
        with pytest.raises(ValueError, match=r"in 0\.\.3"):
            code_histogram(torch.tensor(bad), 4)
    assert code_histogram(torch.tensor([3, 3, 0]), 4, check=False).tolist() == [1, 0, 0, 2]


def test_perplexity_of_a_large_uniform_histogram_does_not_exceed_k():
    assert perplexity(torch.full((1024,), 7)).item() <= 1024


def test_empty_histogram_has_undefined_perplexity():
    assert math.isnan(perplexity(torch.zeros(4, dtype=torch.int64)).item())


@pytest.mark.parametrize("offset, data_range", [(0.1, 1.0), (0.01, 1.0), (2.0, 255.0)])
def test_psnr_of_a_constant_offset(offset, data_range):
    x = torch.rand(3, 1, 5, 5) * data_range
    expected = 20 * math.log10(data_range / offset)
    assert torch.allclose(psnr(x, x + offset, data_range), torch.full((3,), expected), atol=1e-3)


def test_psnr_is_per_image():
    x = torch.zeros(2, 4)
    y = torch.stack([torch.full((4,), 0.1), torch.full((4,), 0.01)])
    assert torch.allclose(psnr(x, y), torch.tensor([20.0, 40.0]), atol=1e-4)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(2, 3), torch.zeros(2, 4))
