"""Image evaluation over a whole test set (vqlit.evaluation, from Appendix C): SSIM, evaluate, and the
perceptual metrics that say why they are missing."""
import pytest
import torch

from vqlit.data import load_dataset
from vqlit.evaluation import Evaluation, evaluate, perceptual_metrics, ssim
from vqlit.models import small_cnn_autoencoder
from vqlit.vq import VectorQuantizer

IMAGES = load_dataset("digits", image_size=16, verbose=False).train_images[:100]   # (100, 1, 16, 16) uint8


def test_evaluate_counts_every_position_and_restores_the_mode():
    torch.manual_seed(0)
    model = small_cnn_autoencoder(VectorQuantizer(num_codes=32, dim=8)).train()
    scores = evaluate(model, IMAGES, batch_size=33)                  # batches of 33, 33, 33 and 1
    assert int(scores.counts.sum()) == 100 * 4 * 4 and 0 < scores.usage <= 1
    assert set(scores.as_dict()) == {"psnr", "mse", "ssim", "usage", "perplexity"}
    assert model.training
    whole = evaluate(model, IMAGES, batch_size=1000)
    assert whole.psnr == pytest.approx(scores.psnr) and torch.equal(whole.counts, scores.counts)


def test_evaluate_without_a_quantizer_has_no_codebook_statistics():
    scores = evaluate(small_cnn_autoencoder(None), IMAGES[:10])
    assert scores.usage is None and scores.counts is None
    assert set(scores.as_dict()) == {"psnr", "mse", "ssim"}


def test_evaluation_as_dict_keeps_plain_numbers():
    full = Evaluation(20.0, 0.01, 0.5, 0.25, 3.0, torch.ones(4))
    assert full.as_dict() == {"psnr": 20.0, "mse": 0.01, "ssim": 0.5, "usage": 0.25, "perplexity": 3.0}


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_scikit_image(channels):
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(channels)
    x = torch.rand(3, channels, 32, 32, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ours = ssim(x, y)
    for i in range(3):
        ref = metrics.structural_similarity(
            x[i].permute(1, 2, 0).numpy(), y[i].permute(1, 2, 0).numpy(), data_range=1.0,
            gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=2)
        assert abs(float(ours[i]) - ref) < 1e-4


def test_ssim_closed_forms_and_small_images():
    a, b = torch.full((1, 1, 8, 8), 0.2), torch.full((1, 1, 8, 8), 0.7)     # smaller than the window
    c1 = 0.01**2
    assert torch.allclose(ssim(a, b), torch.tensor((2 * 0.2 * 0.7 + c1) / (0.2**2 + 0.7**2 + c1)))
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(ssim(x, x), torch.ones(2))


def test_ssim_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="one shape"):
        ssim(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 9))


def test_perceptual_metrics_explain_what_is_missing(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_perceptual(name, *args, **kwargs):
        if name.split(".")[0] in ("lpips", "torchmetrics"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_perceptual)
    model = small_cnn_autoencoder(VectorQuantizer(num_codes=8, dim=8))
    metrics, notes = perceptual_metrics(model, torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8))
    assert metrics == {} and len(notes) == 2
    assert "LPIPS not computed" in notes[0] and "lpips" in notes[0] and "rFID not computed" in notes[1]
