# This file is generated from book/chapters/06d_sample_metrics.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/06d_sample_metrics.md: def feature_statistics, def frechet_distance
"""Measures of generated images: the Fréchet distance between Gaussians fitted to features, in the
features of a small classifier trained on the same data (the classifier Fréchet distance, CFD) and,
where pytorch-fid and its weights can be had, in InceptionV3's (FID, Heusel et al. 2017)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn



def feature_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """The mean (d,) and the unbiased covariance (d, d) (divided by N - 1, as numpy.cov) of a set
    of features, in float64, for Eq. (6.10).

    Args:
        features: one row per image, (N, d), N >= 2.
    """
    features = torch.as_tensor(features)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"expected features (N, d) with N >= 2, got shape {tuple(features.shape)}")
    features = features.detach().to("cpu", torch.float64)
    mean = features.mean(0)
    centred = features - mean
    return mean, centred.T @ centred / (features.shape[0] - 1)


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """d^2 of Eq. (6.10) between N(mu1, cov1) and N(mu2, cov2), in float64 through symmetric
    eigendecompositions.

    Args:
        mu1: the first mean, (d,).
        cov1: the first covariance, (d, d), symmetric positive semi-definite.
        mu2: the second mean, (d,).
        cov2: the second covariance, (d, d), symmetric positive semi-definite.

    Returns:
        The squared distance (squared feature units), >= 0 (a rounding residue below 0 reads 0).
    """
    mu1, cov1, mu2, cov2 = (torch.as_tensor(t).detach().to("cpu", torch.float64)
                            for t in (mu1, cov1, mu2, cov2))
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if d < 1 or mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"expected means (d,) and covariances (d, d) of one d, got shapes "
                         f"{[tuple(t.shape) for t in (mu1, cov1, mu2, cov2)]}")
    cov1, cov2 = (cov1 + cov1.T) / 2, (cov2 + cov2.T) / 2
    values, vectors = torch.linalg.eigh(cov1)                     # eigenvalues < 0: rounding
    root = (vectors * values.clamp_min(0).sqrt()) @ vectors.T      # the symmetric cov1^(1/2)
    cross = torch.linalg.eigvalsh(root @ cov2 @ root).clamp_min(0).sqrt().sum()
    d2 = (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * cross
    return max(float(d2), 0.0)


# %% book/chapters/06d_sample_metrics.md: class SmallClassifier
class SmallClassifier(nn.Module):
    """A small CNN whose penultimate activations are the features of the classifier Fréchet
    distance (CFD): three 3x3 convolutions, 2x2 max-poolings, a 4x4 average pooling, one hidden
    layer.

    Args:
        channels: C, the channels of the images (1 for grey).
        num_classes: the classes it tells apart.
        width: channels of the first convolution; the others have twice as many.
        feature_dim: d, the width of the penultimate layer, the features.
    """

    def __init__(self, *, channels: int = 1, num_classes: int = 10, width: int = 16,
                 feature_dim: int = 64):
        super().__init__()
        if min(channels, width, feature_dim) < 1 or num_classes < 2:
            raise ValueError(f"need channels, width, feature_dim >= 1 and num_classes >= 2, got "
                             f"{channels}, {width}, {feature_dim} and {num_classes}")
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
            nn.Flatten(), nn.Linear(32 * width, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, images: Tensor) -> Tensor:
        """The penultimate activations, (N, d): the features.

        Args:
            images: (N, C, H, W) floats in [0, 1].
        """
        return self.body(images * 2 - 1)

    def forward(self, images: Tensor) -> Tensor:
        """The class logits, (N, num_classes).

        Args:
            images: (N, C, H, W) floats in [0, 1].
        """
        return self.head(self.features(images))


# %% book/chapters/06d_sample_metrics.md: def train_classifier
def train_classifier(images: Tensor, labels: Tensor, *, num_classes: int | None = None,
                     steps: int = 600, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                     device: str | torch.device | None = None,
                     progress: bool = True) -> SmallClassifier:
    """Train a SmallClassifier on training images with Adam and cross-entropy.

    Args:
        images: the training images, (N, C, H, W), uint8 or floats in [0, 1].
        labels: their classes, (N,), integers in 0..num_classes - 1.
        num_classes: the classifier's outputs; None: the largest label + 1.
        steps: Adam steps, one batch each.
        batch_size: images per step, drawn uniformly with replacement across steps.
        lr: Adam's learning rate.
        seed: seeds the initial weights and the batches.
        device: where it trains (and stays); None: the images' device.
        progress: show a tqdm bar of the steps.

    Returns:
        The trained classifier, in eval mode, on `device`.
    """
    from tqdm.auto import tqdm

    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need steps >= 1, batch_size >= 1 and lr > 0, got {steps}, "
                         f"{batch_size} and {lr}")
    unit_images(images[:1])                                 # refuses what is not images
    if labels.shape != (len(images),) or labels.dtype.is_floating_point:
        raise ValueError(f"expected integer labels ({len(images)},), got a {labels.dtype} tensor "
                         f"of shape {tuple(labels.shape)}")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got "
                         f"{int(labels.min())}..{int(labels.max())}")
    device = images.device if device is None else torch.device(device)
    torch.manual_seed(seed)
    model = SmallClassifier(channels=images.shape[1], num_classes=num_classes).to(device)
    images, labels = images.to(device), labels.to(device)
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in tqdm(range(steps), desc="classifier", disable=not progress, leave=False):
        index = torch.randint(0, len(images), (batch_size,), generator=g).to(device)
        loss = F.cross_entropy(model(unit_images(images[index])), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


# %% book/chapters/06d_sample_metrics.md: def unit_images, def check_pair
def unit_images(images: Tensor) -> Tensor:
    """Images as float32 in [0, 1], refusing what is not a batch of images.

    Args:
        images: (N, C, H, W), uint8 in 0..255 or floats in [0, 1] (clamp a decoder's output first).
    """
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got {getattr(images, 'shape', images)!r}")
    if images.dtype == torch.uint8:
        return images.float() / 255
    if not images.dtype.is_floating_point:
        raise ValueError(f"expected uint8 or float images, got {images.dtype}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"float images must lie in [0, 1], got [{float(images.min()):.3g}, "
                         f"{float(images.max()):.3g}]; clamp them first")
    return images.float()


def check_pair(images_a: Tensor, images_b: Tensor) -> None:
    """Refuse two sets of images that cannot be compared.

    Args:
        images_a: the first set, (N, C, H, W), N >= 2.
        images_b: the second set, (M, C, H, W), M >= 2, images of the same shape.
    """
    for images in (images_a, images_b):
        if not isinstance(images, Tensor) or images.ndim != 4 or len(images) < 2:
            raise ValueError(f"expected at least 2 images (N, C, H, W) per set, got "
                             f"{getattr(images, 'shape', images)!r}")
    if images_a.shape[1:] != images_b.shape[1:]:
        raise ValueError(f"the two sets hold images of different shapes: "
                         f"{tuple(images_a.shape[1:])} and {tuple(images_b.shape[1:])}")


# %% book/chapters/06d_sample_metrics.md: def classifier_features, def classifier_frechet, def class_agreement
@torch.no_grad()
def classifier_features(classifier: SmallClassifier, images: Tensor, *,
                        batch_size: int = 500) -> Tensor:
    """The classifier's penultimate features of each image.

    Args:
        classifier: a trained SmallClassifier; its device is used.
        images: (N, C, H, W), uint8 or floats in [0, 1], on any device.
        batch_size: images per forward pass.

    Returns:
        (N, d) float32 features on the CPU.
    """
    device = next(classifier.parameters()).device
    return torch.cat([classifier.features(unit_images(batch.to(device))).cpu()
                      for batch in images.split(batch_size)])


def classifier_frechet(classifier: SmallClassifier, images_a: Tensor, images_b: Tensor, *,
                       batch_size: int = 500) -> float:
    """The classifier Fréchet distance (CFD): d^2 of Eq. (6.10) between Gaussians fitted to the
    classifier's features of two sets of images. Not FID: it is comparable only between runs that
    use the same classifier.

    Args:
        classifier: a trained SmallClassifier.
        images_a: the first set, (N, C, H, W), N >= 2 (e.g. the test images).
        images_b: the second set, (M, C, H, W), M >= 2, images of the same shape (e.g. samples).
        batch_size: images per forward pass.
    """
    check_pair(images_a, images_b)
    stats = [feature_statistics(classifier_features(classifier, x, batch_size=batch_size))
             for x in (images_a, images_b)]
    return frechet_distance(*stats[0], *stats[1])


@torch.no_grad()
def class_agreement(classifier: SmallClassifier, images: Tensor, labels: Tensor, *,
                    batch_size: int = 500) -> float:
    """The share of images that the classifier assigns to the given class: of class-conditional
    samples, to the class asked for; of test images, the classifier's accuracy.

    Args:
        classifier: a trained SmallClassifier.
        images: (N, C, H, W), uint8 or floats in [0, 1].
        labels: the class of each image, (N,), integers.
        batch_size: images per forward pass.
    """
    if labels.shape != (len(images),) or labels.dtype.is_floating_point:
        raise ValueError(f"expected integer labels ({len(images)},), got a {labels.dtype} tensor "
                         f"of shape {tuple(labels.shape)}")
    device = next(classifier.parameters()).device
    predicted = torch.cat([classifier(unit_images(batch.to(device))).argmax(1).cpu()
                           for batch in images.split(batch_size)])
    return (predicted == labels.cpu()).float().mean().item()


# %% book/chapters/06d_sample_metrics.md: FID_MISSING, def inception_fid
FID_MISSING = ("inception_fid needs the pytorch-fid package: pip install pytorch-fid (its "
               "InceptionV3 weights are downloaded on first use, so that call needs a network)")


def inception_fid(images_a: Tensor, images_b: Tensor, *, device: str | torch.device | None = None,
                  batch_size: int = 50) -> float:
    """FID, d^2 of Eq. (6.10) in the 2048 pooled features of pytorch-fid's InceptionV3, in
    squared feature units.

    Args:
        images_a: the first set, (N, C, H, W), uint8 or floats in [0, 1], C = 1 (repeated to 3
            channels) or 3, N >= 2 (the papers use 10,000 or more: FID falls as N grows).
        images_b: the second set, (M, C, H, W), images of the same shape.
        device: where InceptionV3 runs; None: the first set's device.
        batch_size: images per forward pass (each resized to 299 x 299).

    Raises:
        ImportError: pytorch-fid is not installed; the message says what to install.
        RuntimeError: pytorch-fid could not get its weights (no network on first use).
    """
    check_pair(images_a, images_b)
    if images_a.shape[1] not in (1, 3):
        raise ValueError(f"InceptionV3 reads grey (1) or colour (3) images, not "
                         f"{images_a.shape[1]} channels")
    try:
        from pytorch_fid.inception import InceptionV3
    except ImportError as error:
        raise ImportError(FID_MISSING) from error
    device = images_a.device if device is None else torch.device(device)
    try:
        net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()
    except Exception as error:       # a failed download surfaces as URLError, HTTPError, OSError
        raise RuntimeError("pytorch-fid could not load its InceptionV3 weights; they are "
                           "downloaded on first use, which needs a network") from error
    stats = []
    with torch.no_grad():
        for images in (images_a, images_b):
            features = []
            for batch in images.split(batch_size):
                x = unit_images(batch.to(device)).expand(-1, 3, -1, -1)
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                features.append(net(x)[0].flatten(1).cpu())       # (B, 2048)
            stats.append(feature_statistics(torch.cat(features)))
    return frechet_distance(*stats[0], *stats[1])


__all__ = ['feature_statistics', 'frechet_distance', 'SmallClassifier', 'train_classifier', 'unit_images', 'check_pair', 'classifier_features', 'classifier_frechet', 'class_agreement', 'FID_MISSING', 'inception_fid']
