"""The causal transformer prior and its key/value cache (vqlit.prior_transformer, Chapter 6)."""
import itertools

import pytest
import torch

from vqlit.prior import GatedPixelCNN
from vqlit.prior_transformer import CausalTransformerPrior, causal_attention, sample_grids_cached


def small(**kw):
    torch.manual_seed(0)
    args = dict(num_codes=5, shape=(3, 4), dim=16, layers=2, heads=4)
    return CausalTransformerPrior(**(args | kw)).eval()


def test_same_contract_as_the_pixelcnn():
    prior = small(num_classes=3)
    pixelcnn = GatedPixelCNN(num_codes=5, shape=(3, 4), channels=4, layers=2, num_classes=3)
    codes, labels = torch.randint(0, 5, (6, 3, 4)), torch.randint(0, 3, (6,))
    assert prior(codes, labels).shape == pixelcnn(codes, labels).shape == (6, 5, 3, 4)
    assert prior.log_prob(codes, labels).shape == (6,)
    assert (prior.num_codes, prior.shape, prior.num_classes) == (5, (3, 4), 3)
    assert (prior.log_prob(codes, labels) < 0).all()


def test_attention_matches_torch_with_queries_at_the_end():
    q, k, v = torch.randn(3, 2, 3, 9, 4).unbind(0)
    reference = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(causal_attention(q, k, v), reference, atol=1e-6)
    for n in (1, 4):
        assert torch.allclose(causal_attention(q[:, :, -n:], k, v), reference[:, :, -n:], atol=1e-6)


@pytest.mark.parametrize("num_classes", [0, 2])
def test_causal_and_reaching_every_earlier_position(num_classes):
    prior = small(layers=1, num_classes=num_classes)
    x = torch.randn(1, 12, 16, requires_grad=True)
    labels = torch.tensor([1]) if num_classes else None
    logits = prior.logits_of_embedding(x, labels)
    for t in range(12):
        (grad,) = torch.autograd.grad(logits[0, t].sum(), x, retain_graph=True)
        reach = grad[0].abs().sum(1)
        assert (reach[t:] == 0).all() and (reach[:t] > 0).all()


def test_cached_steps_and_chunks_equal_the_full_pass():
    prior = small(num_classes=2)
    codes, labels = torch.randint(0, 5, (4, 3, 4)), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        full = prior(codes, labels).flatten(2).transpose(1, 2)            # (4, 12, K)
        inputs = torch.cat([prior.start_token(labels, 4), prior.embed(codes.flatten(1))[:, :-1]], 1)
        head, cache = prior.decoder.decode(inputs[:, :5])                 # five at once, then one
        steps = [head]
        for t in range(5, 12):
            logits, cache = prior.decoder.decode(inputs[:, t:t + 1], cache)
            steps.append(logits)
    assert (torch.cat(steps, 1) - full).abs().max() < 1e-5
    with pytest.raises(ValueError, match="exceed the 12"):
        prior.decoder.decode(inputs[:, :1], cache)


def test_normalises_and_sampling_follows_the_exact_distribution():
    prior = small(num_codes=2, shape=(2, 2), num_classes=2)
    grids = torch.tensor(list(itertools.product(range(2), repeat=4))).reshape(16, 2, 2)
    with torch.no_grad():
        for label in (0, 1):
            total = prior.log_prob(grids, torch.full((16,), label)).exp().sum()
            assert torch.isclose(total, torch.tensor(1.0), atol=1e-5)
        exact = prior.log_prob(grids, torch.ones(16, dtype=torch.long)).exp()
    g = torch.Generator().manual_seed(0)
    drawn = sample_grids_cached(prior, 20000, labels=torch.ones(20000, dtype=torch.long),
                                generator=g)
    frequency = torch.bincount((drawn.flatten(1) * torch.tensor([8, 4, 2, 1])).sum(1),
                               minlength=16) / 20000
    assert 0.5 * (frequency - exact).abs().sum() < 0.03
    greedy = sample_grids_cached(prior, 3, labels=torch.zeros(3, dtype=torch.long), temperature=0)
    assert torch.equal(greedy, sample_grids_cached(prior, 3, labels=torch.zeros(3, dtype=torch.long),
                                                   top_k=1))


def test_sampling_keeps_the_training_mode_and_dtype():
    prior = small().train()
    grids = sample_grids_cached(prior, 2)
    assert prior.training and grids.shape == (2, 3, 4) and grids.dtype == torch.long


def test_bad_input_and_arguments_are_refused_with_what_was_expected():
    prior = small()
    with pytest.raises(ValueError, match=r"must lie in \[0, 5\), got \[0, 5\]"):
        prior(torch.tensor([[[0, 1, 2, 5]] * 3]))
    with pytest.raises(ValueError, match=r"grids of shape \(3, 4\), got \(4, 3\)"):
        prior(torch.zeros(1, 4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer indices"):
        prior(torch.zeros(1, 3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="unconditional"):
        prior(torch.zeros(1, 3, 4, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    conditional = small(num_classes=3)
    with pytest.raises(ValueError, match="class-conditional"):
        conditional(torch.zeros(1, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        sample_grids_cached(conditional, 2, labels=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="multiple of heads"):
        CausalTransformerPrior(num_codes=4, dim=10, heads=4)
    with pytest.raises(ValueError, match="num_codes >= 2"):
        CausalTransformerPrior(num_codes=1)
    with pytest.raises(ValueError, match=r"shape=\(0, 8\)"):
        CausalTransformerPrior(num_codes=4, shape=(0, 8))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample_grids_cached(prior, 1, temperature=-1.0)


def test_a_float64_prior_agrees_with_float32():
    prior = small()
    codes = torch.randint(0, 5, (3, 3, 4))
    with torch.no_grad():
        single = prior.log_prob(codes)
        double = prior.double().log_prob(codes)
    assert double.dtype == torch.float64 and torch.allclose(single.double(), double, atol=1e-4)
    assert sample_grids_cached(prior, 2).shape == (2, 3, 4)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_outputs_live_on_the_prior_device(device):
    prior = small(num_classes=2).to(device)
    codes = torch.randint(0, 5, (2, 3, 4), device=device)
    labels = torch.tensor([0, 1])                               # on the CPU: sampling moves them
    assert prior(codes, labels.to(device)).device.type == device
    assert prior.log_prob(codes, labels.to(device)).device.type == device
    assert sample_grids_cached(prior, 2, labels=labels).device.type == device
