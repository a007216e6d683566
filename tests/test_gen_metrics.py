"""vqlit.gen_metrics against independent references: scipy's matrix square root, closed forms for
commuting covariances, and hand-made classifiers."""
import sys

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from vqlit.gen_metrics import (FID_MISSING, SmallClassifier, class_agreement, classifier_features,
                               classifier_frechet, feature_statistics, frechet_distance,
                               inception_fid, train_classifier)


def random_spd(d, rng, spread=1e-3):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * spread ** rng.random(d)) @ q.T


def scipy_frechet(mu1, c1, mu2, c2):
    """pytorch-fid's formula: tr sqrtm(c1 c2) of the non-symmetric product."""
    cross = scipy.linalg.sqrtm(c1 @ c2).real.trace()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * cross)


@pytest.mark.parametrize("d", [1, 3, 16, 64])
def test_frechet_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    for _ in range(3):
        mu1, mu2 = rng.standard_normal((2, d))
        c1, c2 = random_spd(d, rng), random_spd(d, rng)
        ref = scipy_frechet(mu1, c1, mu2, c2)
        got = frechet_distance(torch.from_numpy(mu1), torch.from_numpy(c1),
                               torch.from_numpy(mu2), torch.from_numpy(c2))
        assert got == pytest.approx(ref, rel=1e-8, abs=1e-10)
        assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-8)   # numpy in


def test_frechet_closed_forms():
    rng = np.random.default_rng(0)
    d = 12
    mu1, mu2 = rng.standard_normal((2, d))
    s1, s2 = rng.random((2, d)) * 2                                 # diagonal: std devs
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) == pytest.approx(closed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))               # commuting: one eigenbasis
    v1, v2 = rng.random((2, d))
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    got = frechet_distance(mu1, (q * v1) @ q.T, mu2, (q * v2) @ q.T)
    assert got == pytest.approx(closed, rel=1e-10)
    # one dimension: (mu1 - mu2)^2 + (sigma1 - sigma2)^2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)


def test_frechet_symmetric_zero_and_non_negative():
    rng = np.random.default_rng(1)
    for d in (2, 30):
        mu1, mu2 = rng.standard_normal((2, d))
        c1, c2 = random_spd(d, rng), random_spd(d, rng, spread=1e-8)
        assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(frechet_distance(mu2, c2, mu1, c1))
        assert frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0, abs=1e-10)
        assert frechet_distance(mu1, c1, mu2, c2) >= 0
        singular = np.outer(mu1, mu1)                               # rank 1, PSD
        assert frechet_distance(mu1, singular, mu1, singular) >= 0


def test_feature_statistics_match_numpy():
    x = torch.randn(50, 7, generator=torch.Generator().manual_seed(0))
    mean, cov = feature_statistics(x)
    assert mean.dtype == cov.dtype == torch.float64 and cov.shape == (7, 7)
    np.testing.assert_allclose(mean.numpy(), x.double().numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-10)


def test_bad_statistics_are_refused():
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        feature_statistics(torch.zeros(5))
    with pytest.raises(ValueError, match="one d"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="one d"):
        frechet_distance(torch.zeros(3), torch.eye(2), torch.zeros(3), torch.eye(3))


def test_feature_shapes_and_frechet_of_images():
    torch.manual_seed(0)
    model = SmallClassifier(channels=1, num_classes=4, feature_dim=16).eval()
    images = torch.randint(0, 256, (10, 1, 32, 32), dtype=torch.uint8)
    features = classifier_features(model, images, batch_size=3)
    assert features.shape == (10, 16) and features.dtype == torch.float32
    torch.testing.assert_close(features, classifier_features(model, images.float() / 255))
    assert model(images.float() / 255).shape == (10, 4)
    assert SmallClassifier(channels=3, feature_dim=8).features(torch.rand(2, 3, 28, 28)).shape == (2, 8)
    assert classifier_frechet(model, images, images) == pytest.approx(0, abs=1e-6)
    assert classifier_frechet(model, images[:5], images[5:]) >= 0


def test_class_agreement_on_a_hand_made_classifier():
    class Brightness(SmallClassifier):          # class 1 where the mean pixel is above 1/2
        def forward(self, images):
            m = images.mean((1, 2, 3))
            return torch.stack([0.5 - m, m - 0.5], 1)

    model = Brightness(num_classes=2)
    images = torch.cat([torch.zeros(3, 1, 4, 4), torch.ones(5, 1, 4, 4)])     # 3 dark, 5 bright
    assert class_agreement(model, images, torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])) == 1.0
    assert class_agreement(model, images, torch.tensor([0, 0, 1, 1, 1, 0, 0, 0]),
                           batch_size=3) == pytest.approx(4 / 8)
    assert class_agreement(model, images, torch.ones(8, dtype=torch.long)) == pytest.approx(5 / 8)
    with pytest.raises(ValueError, match="integer labels"):
        class_agreement(model, images, torch.ones(8))
    with pytest.raises(ValueError, match="integer labels"):
        class_agreement(model, images, torch.ones(7, dtype=torch.long))


def test_bad_images_are_refused():
    model = SmallClassifier()
    good = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        classifier_features(model, good * 2 - 1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        classifier_frechet(model, good[:, 0], good)
    with pytest.raises(ValueError, match="at least 2"):
        classifier_frechet(model, good[:1], good)
    with pytest.raises(ValueError, match="different shapes"):
        classifier_frechet(model, good, torch.rand(4, 1, 9, 8))
    with pytest.raises(ValueError, match="uint8 or float"):
        classifier_features(model, torch.ones(4, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="grey"):
        inception_fid(torch.rand(4, 2, 8, 8), torch.rand(4, 2, 8, 8))


def test_inception_fid_without_pytorch_fid_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_fid", None)            # import now fails
    monkeypatch.setitem(sys.modules, "pytorch_fid.inception", None)
    images = torch.rand(4, 1, 8, 8)
    with pytest.raises(ImportError) as error:
        inception_fid(images, images, device="cpu")
    assert str(error.value) == FID_MISSING
    assert "pip install pytorch-fid" in FID_MISSING and "downloaded on first use" in FID_MISSING


def test_train_classifier_learns_a_separable_set():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (200,), generator=g)
    images = torch.zeros(200, 1, 8, 8, dtype=torch.uint8)
    images[labels == 1, :, :4] = 255                                 # class 1: a bright top half
    images[labels == 0, :, 4:] = 255                                 # class 0: a bright bottom half
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                 # tiny tensors: threads only wait on each other
    try:
        model = train_classifier(images[:150], labels[:150], steps=40, batch_size=16, lr=3e-3,
                                 seed=0, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert not model.training
    assert next(model.parameters()).device == images.device and model.head.out_features == 2
    assert class_agreement(model, images[150:], labels[150:]) == 1.0
    with pytest.raises(ValueError, match="steps"):
        train_classifier(images, labels, steps=0)
    with pytest.raises(ValueError, match="integer labels"):
        train_classifier(images, labels.float(), steps=1)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.0"):
        train_classifier(images, labels, num_classes=1, steps=1)
    with pytest.raises(ValueError, match="images"):
        train_classifier(images[:, 0], labels, steps=1)
