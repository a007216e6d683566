"""The Gated PixelCNN prior over code grids (vqlit.prior, Chapter 6)."""
import itertools

import pytest
import torch

from vqlit.prior import GatedPixelCNN, sample_codes, sample_grids


def dependencies(prior, shape):
    """reach[t, s] > 0 where the logits at raster position t depend on the embedding at s."""
    rows, cols = shape
    x = torch.randn(1, prior.embed.embedding_dim, rows, cols, requires_grad=True)
    logits = prior.logits_of_embedding(x)
    reach = torch.zeros(rows * cols, rows * cols)
    for t in range(rows * cols):
        (grad,) = torch.autograd.grad(logits[0, :, t // cols, t % cols].sum(), x,
                                      retain_graph=True)
        reach[t] = grad[0].abs().sum(0).flatten()
    return reach


@pytest.mark.parametrize("shape,kernel", [((3, 5), 3), ((5, 3), 5), ((4, 4), 3)])
def test_causal_without_blind_spot_on_rectangular_grids(shape, kernel):
    torch.manual_seed(0)
    prior = GatedPixelCNN(num_codes=5, shape=shape, channels=6, kernel=kernel,
                          layers=sum(shape) - 1)
    reach = dependencies(prior, shape)
    n = shape[0] * shape[1]
    later = torch.triu(torch.ones(n, n, dtype=torch.bool))
    assert reach[later].max() == 0
    assert (reach[~later] > 0).all()


def test_conditional_prior_normalises_for_every_class():
    torch.manual_seed(1)
    prior = GatedPixelCNN(num_codes=2, shape=(2, 3), channels=4, layers=4, num_classes=3).eval()
    grids = torch.tensor(list(itertools.product(range(2), repeat=6))).reshape(-1, 2, 3)
    with torch.no_grad():
        for label in range(3):
            total = prior.log_prob(grids, torch.full((len(grids),), label)).exp().sum()
            assert torch.isclose(total, torch.tensor(1.0), atol=1e-5)


def test_bad_grids_and_labels_are_refused_with_what_was_expected():
    prior = GatedPixelCNN(num_codes=4, shape=(2, 2), channels=4, layers=2)
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\), got \[0, 4\]"):
        prior(torch.tensor([[[0, 1], [2, 4]]]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\), got \[-1, 2\]"):
        prior(torch.tensor([[[0, -1], [2, 1]]]))
    with pytest.raises(ValueError, match=r"grids of shape \(2, 2\), got \(3, 2\)"):
        prior(torch.zeros(1, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="integer indices"):
        prior(torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="unconditional"):
        prior(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    conditional = GatedPixelCNN(num_codes=4, shape=(2, 2), channels=4, layers=2, num_classes=3)
    with pytest.raises(ValueError, match="class-conditional"):
        conditional(torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        conditional(torch.zeros(2, 2, 2, dtype=torch.long), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        conditional(torch.zeros(2, 2, 2, dtype=torch.long), torch.tensor([0]))
    with pytest.raises(ValueError, match="odd integer"):
        GatedPixelCNN(num_codes=4, kernel=4)
    with pytest.raises(ValueError, match="num_codes >= 2"):
        GatedPixelCNN(num_codes=1)


def test_sample_codes_knobs():
    logits = torch.tensor([[0.0, 2.0, 1.0]]).repeat(30000, 1)
    g = torch.Generator().manual_seed(0)
    assert (sample_codes(logits, temperature=0) == 1).all()
    top2 = sample_codes(logits, top_k=2, generator=g)
    assert set(top2.tolist()) == {1, 2}
    share = (top2 == 1).float().mean().item()                  # e^2 / (e^2 + e^1)
    assert abs(share - 1 / (1 + torch.e ** -1)) < 0.01
    cold = sample_codes(logits, temperature=0.25, generator=g)
    assert (cold == 1).float().mean() > 0.95
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample_codes(logits, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_k must lie in \[1, 3\]"):
        sample_codes(logits, top_k=4)


def test_sample_grids_shape_dtype_and_training_mode_kept():
    prior = GatedPixelCNN(num_codes=6, shape=(3, 4), channels=4, layers=3, num_classes=2)
    prior.train()
    grids = sample_grids(prior, 5, labels=torch.tensor([0, 1, 0, 1, 1]),
                         generator=torch.Generator().manual_seed(0))
    assert grids.shape == (5, 3, 4) and grids.dtype == torch.long
    assert grids.min() >= 0 and grids.max() < 6
    assert prior.training
