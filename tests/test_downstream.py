"""Downstream metrics: Hungarian clustering accuracy, NMI, k-means, linear probe (vqlit.downstream)."""
from itertools import permutations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from vqlit.data import ImageData
from vqlit.downstream import (cluster_accuracy, contingency, encode_images, kmeans, latent_evaluation,
                              linear_probe, nmi)
from vqlit.models import AutoEncoderOutput, mlp_autoencoder


def brute_force_accuracy(y, c):
    """Reference: try every one-to-one matching of clusters to classes."""
    table = contingency(y, c)
    r, k = table.shape
    if r <= k:
        best = max(sum(table[i, p[i]] for i in range(r)) for p in permutations(range(k), r))
    else:
        best = max(sum(table[p[j], j] for j in range(k)) for p in permutations(range(r), k))
    return best / len(y)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), classes=st.integers(1, 5), clusters=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_cluster_accuracy_equals_brute_force(n, classes, clusters, seed):
    rng = np.random.default_rng(seed)
    y, c = rng.integers(0, classes, n), rng.integers(0, clusters, n)
    acc = cluster_accuracy(y, c)
    assert acc == pytest.approx(brute_force_accuracy(y, c), abs=1e-12)
    assert 0 < acc <= 1


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_a_permuted_perfect_clustering_scores_one(k, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, 300)
    relabel = rng.permutation(k) + 100                      # any names, not 0..k-1
    assert cluster_accuracy(y, relabel[y]) == 1.0
    assert nmi(y, relabel[y]) == pytest.approx(1.0, abs=1e-12)
    assert cluster_accuracy(torch.from_numpy(y), torch.from_numpy(relabel[y])) == 1.0


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), classes=st.integers(1, 8), clusters=st.integers(1, 8),
       seed=st.integers(0, 2**16))
def test_nmi_equals_scikit_learn(n, classes, clusters, seed):
    rng = np.random.default_rng(seed)
    y, c = rng.integers(0, classes, n), rng.integers(0, clusters, n)
    assert nmi(y, c) == pytest.approx(normalized_mutual_info_score(y, c), abs=1e-10)


def test_known_values():
    y = np.array([0, 0, 1, 1])
    assert cluster_accuracy(y, [5, 5, 5, 5]) == 0.5          # one cluster: the larger class
    assert cluster_accuracy(y, [0, 1, 0, 1]) == 0.5
    assert nmi(y, [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)   # independent
    assert nmi([3, 3, 3], [1, 1, 1]) == 1.0                  # both constant
    assert nmi(y, [7, 7, 7, 7]) == 0.0
    assert contingency([0, 1, 1], [2, 2, 9]).tolist() == [[1, 0], [1, 1]]


@pytest.mark.parametrize("labels, clusters", [
    ([0, 1, 2], [0, 1]),                                     # lengths differ
    ([], []),                                                # empty
    ([[0, 1]], [[0, 1]]),                                    # 2-D
    ([0.5, 1.0], [0, 1]),                                    # float labels
    ([0, 1], [0.0, 1.0]),
])
def test_bad_labelings_raise_value_error(labels, clusters):
    with pytest.raises(ValueError):
        cluster_accuracy(labels, clusters)
    with pytest.raises(ValueError):
        nmi(labels, clusters)


def test_kmeans_recovers_separated_blobs_and_checks_its_input():
    x, y = make_blobs(500, n_features=8, centers=5, cluster_std=0.3, random_state=0)
    assert cluster_accuracy(y, kmeans(x, 5, n_init=3)) == 1.0
    assert cluster_accuracy(y, kmeans(torch.from_numpy(x).float(), 5, n_init=3)) == 1.0
    with pytest.raises(ValueError):
        kmeans(np.zeros(10), 2)
    with pytest.raises(ValueError):
        kmeans(np.zeros((3, 2)), 5)


def test_linear_probe_matches_scikit_learn():
    x, y = make_blobs(1200, n_features=3, centers=4, cluster_std=4.0, random_state=1)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    tr, te = slice(0, 800), slice(800, None)
    ours = linear_probe(x[tr], y[tr], x[te], y[te], weight_decay=1e-3)
    mean, std = x[tr].mean(0), x[tr].std(0)
    sk = LogisticRegression(C=1 / (1e-3 * 800), max_iter=5000, tol=1e-10)
    sk.fit(((x[tr] - mean) / std).numpy(), y[tr].numpy())
    assert abs(ours - sk.score(((x[te] - mean) / std).numpy(), y[te].numpy())) < 0.01
    assert 0.5 < ours < 1.0


def test_linear_probe_separable_and_bad_shapes():
    x, y = make_blobs(300, n_features=4, centers=3, cluster_std=0.1, random_state=2)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    assert linear_probe(x[:200], y[:200], x[200:], y[200:]) == 1.0
    with pytest.raises(ValueError):
        linear_probe(x[:200], y[:100], x[200:], y[200:])
    with pytest.raises(ValueError):
        linear_probe(x[:200, 0], y[:200], x[200:], y[200:])


class LabelOracle(nn.Module):
    """An 'autoencoder' whose latent is the label written into the image: a perfect representation."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, x):
        return x.flatten(1)[:, :3] * 10 + self.dummy           # (B, 3)

    def forward(self, x):
        return AutoEncoderOutput(x, self.encode(x), None)


def labelled_images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    images = torch.zeros(n, 1, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, :3] = (torch.tensor([[0, 0, 0], [60, 0, 0], [0, 60, 0], [0, 0, 60]])[y]).to(torch.uint8)
    return images, y


def test_latent_evaluation_scores_a_perfect_representation_one():
    tri, trl = labelled_images(200, 0)
    tei, tel = labelled_images(100, 1)
    data = ImageData("toy", "test", tri, trl, tei, tel)
    res = latent_evaluation(LabelOracle(), data, n_init=2, batch_size=32)
    assert set(res) == {"cluster_acc", "nmi", "probe_acc", "psnr"}
    assert res["cluster_acc"] == 1.0 and res["probe_acc"] == 1.0
    assert res["nmi"] == pytest.approx(1.0)


def test_latent_evaluation_on_a_real_autoencoder_restores_training_mode():
    tri, trl = labelled_images(64, 0)
    tei, tel = labelled_images(40, 1)
    data = ImageData("toy", "test", tri, trl, tei, tel)
    model = mlp_autoencoder(None, image_shape=(1, 4, 4), latent_dim=3)
    model.train()
    res = latent_evaluation(model, data, n_init=2, batch_size=16)
    assert model.training
    assert 0 < res["cluster_acc"] <= 1 and 0 <= res["nmi"] <= 1 and 0 <= res["probe_acc"] <= 1
    assert np.isfinite(res["psnr"])
    z = encode_images(model, tei, batch_size=7)
    assert z.shape == (40, 3) and z.dtype == torch.float32
