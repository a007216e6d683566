# This file is generated from book/chapters/02e_downstream.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/02e_downstream.md: def _labels, def contingency, def cluster_accuracy
"""Downstream evaluation of learned latents (Wu & Flierl's protocol): k-means clustering accuracy
with the Hungarian matching, normalised mutual information, and a single-layer classifier."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from vqlit.metrics import psnr


def _labels(values, name: str) -> np.ndarray:
    array = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of labels, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {array.dtype}")
    return array


def contingency(labels, clusters) -> np.ndarray:
    """C[i, j] = number of points of class i in cluster j, (classes, clusters) int64.

    Args:
        labels: the true class of each point, (N,) integers (any values; renumbered in order).
        clusters: the cluster of each point, (N,) integers (any values; renumbered in order).
    """
    y, c = _labels(labels, "labels"), _labels(clusters, "clusters")
    if len(y) != len(c):
        raise ValueError(f"labels and clusters differ in length: {len(y)} and {len(c)}")
    _, y = np.unique(y, return_inverse=True)                          # 0..classes-1
    _, c = np.unique(c, return_inverse=True)                          # 0..clusters-1
    table = np.zeros((y.max() + 1, c.max() + 1), dtype=np.int64)
    np.add.at(table, (y, c), 1)
    return table


def cluster_accuracy(labels, clusters) -> float:
    """The clustering accuracy of Eq. (2.13), in [0, 1]: the best one-to-one matching of
    clusters to classes (Hungarian method).

    Args:
        labels: the true class of each point, (N,) integers.
        clusters: the predicted cluster of each point, (N,) integers.
    """
    table = contingency(labels, clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


# %% book/chapters/02e_downstream.md: def nmi, def kmeans
def nmi(labels, clusters) -> float:
    """Normalised mutual information 2 I(y; c) / (H(y) + H(c)); 1.0 when both are constant.

    Args:
        labels: the true class y of each point, (N,) integers.
        clusters: the predicted cluster c of each point, (N,) integers.
    """
    p = contingency(labels, clusters) / len(_labels(labels, "labels"))   # (classes, clusters)
    py, pc = p.sum(1), p.sum(0)
    nz = p > 0
    mutual = float((p[nz] * np.log(p[nz] / np.outer(py, pc)[nz])).sum())
    h = float(-(py * np.log(py)).sum() - (pc * np.log(pc)).sum())
    return 1.0 if h == 0 else max(0.0, 2 * mutual / h)


def kmeans(features, n_clusters: int, *, n_init: int = 100, seed: int = 0) -> np.ndarray:
    """k-means cluster labels (N,): the best of n_init k-means++ runs by inertia (scikit-learn).

    Args:
        features: the points, (N, d), a tensor (cast to float64) or a NumPy array; N >= n_clusters.
        n_clusters: the number of clusters (the paper: the number of classes).
        n_init: k-means++ initialisations; the best by inertia is kept (the paper: 100).
        seed: the random state of the initialisations.
    """
    from sklearn.cluster import KMeans

    x = features.detach().cpu().double().numpy() if isinstance(features, Tensor) else features
    if x.ndim != 2 or len(x) < n_clusters:
        raise ValueError(f"need features of shape (N, d) with N >= {n_clusters}, got {x.shape}")
    return KMeans(n_clusters, n_init=n_init, random_state=seed).fit(x).labels_


# %% book/chapters/02e_downstream.md: def linear_probe
def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *,
                 weight_decay: float = 1e-5, max_iter: int = 500) -> float:
    """Test accuracy, in [0, 1], of softmax regression (one linear layer) fitted on train_x.

    Features are standardised with the training statistics; the convex objective (mean
    cross-entropy + ``weight_decay / 2 * |W|^2``) is minimised by full-batch L-BFGS from zero
    weights.

    Args:
        train_x: the training features, (N, d).
        train_y: their class labels, (N,) int64 in [0, classes).
        test_x: the test features, (M, d); moved to train_x's device and dtype.
        test_y: their class labels, (M,).
        weight_decay: the L2 penalty on the weights (not the bias); keeps the optimum finite.
        max_iter: the most L-BFGS iterations.
    """
    for name, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
            raise ValueError(f"{name}: need features (N, d) and labels (N,), got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)                  # (d,)
    xs, xt = (train_x - mean) / std, (test_x.to(train_x) - mean) / std           # standardised
    classes = max(int(train_y.max()), int(test_y.max())) + 1
    layer = nn.Linear(train_x.shape[1], classes).to(train_x)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(layer.parameters(), lr=1, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")
    target = train_y.to(train_x.device)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(layer(xs), target) + 0.5 * weight_decay * layer.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return float((layer(xt).argmax(1).cpu() == test_y.cpu()).float().mean())


# %% book/chapters/02e_downstream.md: def encode_images, def latent_evaluation
@torch.no_grad()
def encode_images(model: nn.Module, images: Tensor, *, batch_size: int = 1000) -> Tensor:
    """The encoder's output z_e of every image, float32 (N, d), computed in eval mode.

    Args:
        model: an autoencoder with an ``encode`` method (vqlit.models); its mode is restored.
        images: uint8 images, (N, C, H, W), scaled to [0, 1] before encoding.
        batch_size: images per forward pass (memory only; the result does not depend on it).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    z = torch.cat([model.encode(b.to(device).float() / 255).float().flatten(1)
                   for b in images.split(batch_size)])                            # (N, d)
    model.train(was_training)
    return z


def latent_evaluation(model: nn.Module, data, *, n_init: int = 100, batch_size: int = 1000,
                      seed: int = 0) -> dict[str, float]:
    """Wu & Flierl's downstream protocol on the encoder output z_e of an autoencoder: k-means on
    the test latents -> cluster_acc, nmi; a single linear layer fitted on the training latents ->
    probe_acc; the test set's psnr (dB).

    Args:
        model: the trained autoencoder (``encode`` and a forward with ``.reconstruction``).
        data: an ImageData (vqlit.data): train and test images with their labels.
        n_init: k-means++ initialisations, the best kept (the paper: 100).
        batch_size: images per forward pass (memory only).
        seed: the random state of k-means.
    """
    z_train = encode_images(model, data.train_images, batch_size=batch_size)     # (N, d)
    z_test = encode_images(model, data.test_images, batch_size=batch_size)       # (M, d)
    labels = data.test_labels.cpu()
    clusters = kmeans(z_test, int(labels.unique().numel()), n_init=n_init, seed=seed)
    probe = linear_probe(z_train, data.train_labels.to(z_train.device), z_test, labels)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        total = 0.0
        for block in data.test_images.split(batch_size):
            x = block.to(device).float() / 255                                      # (b, C, H, W)
            total += float(psnr(model(x).reconstruction.float().clamp(0, 1), x).sum())
    model.train(was_training)
    return {"cluster_acc": cluster_accuracy(labels, clusters), "nmi": nmi(labels, clusters),
            "probe_acc": probe, "psnr": total / len(data.test_images)}


__all__ = ['contingency', 'cluster_accuracy', 'nmi', 'kmeans', 'linear_probe', 'encode_images', 'latent_evaluation']
