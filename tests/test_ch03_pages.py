"""Checks moved off Chapter 3's pages (book/chapters/03?_*.md): the solver's input validation and
the Wasserstein quantizer's rejection of bad inputs, each kind of malformed input on its own."""
import pytest
import torch

from vqlit.wasserstein import ExactOT, WassersteinQuantizer, _broadcast_marginals, home_logits


def test_one_pair_of_marginals_serves_a_batch_of_problems():
    cost = torch.arange(60.0, dtype=torch.float64).reshape(3, 5, 4)          # (G, N, K)
    a, b = _broadcast_marginals(cost, torch.full((5,), 0.2), torch.full((4,), 0.25))
    assert a.shape == (3, 5) and b.shape == (3, 4)


@pytest.mark.parametrize("what, args, words", [
    ("integer cost", (torch.ones(5, 4, dtype=torch.int64), torch.ones(5), torch.ones(4)),
     "floating-point cost"),
    ("empty cost", (torch.zeros(5, 0), torch.ones(5), torch.ones(0)), "non-empty"),
    ("rows do not fit", (torch.zeros(3, 5, 4), torch.ones(4), torch.ones(4)), "do not fit"),
])
def test_malformed_problems_are_named(what, args, words):
    with pytest.raises(ValueError, match=words):
        _broadcast_marginals(*args)
    with pytest.raises(ValueError):
        ExactOT()(*args)


@pytest.mark.parametrize("what, bad", [
    ("a single vector", torch.randn(8)),
    ("channels first", torch.randn(4, 8, 6, 6)),
    ("integer dtype", torch.ones(4, 8, dtype=torch.int64)),
    ("NaN", torch.full((4, 8), float("nan"))),
    ("empty batch", torch.randn(0, 8)),
])
def test_quantizer_rejects_bad_inputs_with_a_message(what, bad):
    wae = WassersteinQuantizer(num_codes=64, dim=8)
    with pytest.raises(ValueError) as err:
        wae(bad)
    assert len(str(err.value)) > 20, f"{what}: {err.value}"


def test_bfloat16_autocast_keeps_the_loss_in_float32():
    wae = WassersteinQuantizer(num_codes=16, dim=8)
    z = torch.randn(2, 4, 4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = wae(z.bfloat16())
    assert half.quantized.dtype == torch.bfloat16 and half.loss.dtype == torch.float32


def test_home_logits_fewer_codes_than_positions():
    assert torch.equal(home_logits(4, 3), torch.zeros(4, 3))
    assert torch.equal(home_logits(64, 512).sum(1), torch.full((64,), 8.0))
