# This file is generated from book/chapters/a3e_evaluation.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3e_evaluation.md: statements
"""Image evaluation over a whole test set: PSNR, MSE, SSIM and codebook statistics, and LPIPS and
rFID where their packages and weights are available."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.distances import nearest_code
from vqlit.fsq import FSQuantizer
from vqlit.metrics import code_histogram, perplexity, psnr, usage


# %% book/chapters/a3e_evaluation.md: def _ssim_window
def _ssim_window(size: int, sigma: float, channels: int, dtype: torch.dtype,
                 device: torch.device) -> Tensor:
    """The Gaussian window of Eq. (5), size x size, summing to 1, per channel: (C, 1, s, s)."""
    t = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2              # (s,)
    g = torch.exp(-t.square() / (2 * sigma**2))
    g = g / g.sum()                                                                    # (s,)
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size)             # (C, 1, s, s)


# %% book/chapters/a3e_evaluation.md: def ssim
def ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0, window: int = 11,
         sigma: float = 1.5) -> Tensor:
    """Mean SSIM per image, Eq. (5): (B, C, H, W) -> (B,); Gaussian window, valid region.

    Args:
        x: the first batch of images, (B, C, H, W).
        y: the second batch, of the same shape (which of the two is the reference does not matter).
        data_range: L in Eq. (5), the range of the pixel values: 1 for images in [0, 1].
        window: the side of the Gaussian window in pixels; images smaller than it use the largest
            odd side that fits.
        sigma: the standard deviation of the Gaussian window, in pixels.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"expected two image batches (B, C, H, W) of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    size = min(window, x.shape[-2], x.shape[-1])
    size -= 1 - size % 2                                           # the largest odd size that fits
    dtype = torch.float32 if x.device.type == "mps" else torch.float64   # variances cancel
    channels = x.shape[1]
    kernel = _ssim_window(size, sigma, channels, dtype, x.device)                # (C, 1, s, s)
    blur = lambda im: F.conv2d(im, kernel, groups=channels)        # (B, C, H-s+1, W-s+1)
    x, y = x.to(dtype), y.to(dtype)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).float()                                   # (B,), Eq. (5)


# %% book/chapters/a3e_evaluation.md: class Evaluation
@dataclass
class Evaluation:
    """An autoencoder's scores over a test set (`evaluate`).

    Attributes:
        psnr: the PSNR in dB, mean over images, data range 1.
        mse: the mean squared error per pixel, in [0, 1] units, mean over images.
        ssim: Eq. (5), mean over images.
        usage: the fraction of codes chosen at least once; None without a quantizer.
        perplexity: exp(entropy) of the code histogram; None without a quantizer.
        counts: how often each code was chosen, (K,); None without a quantizer.
    """

    psnr: float
    mse: float
    ssim: float
    usage: float | None = None
    perplexity: float | None = None
    counts: Tensor | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, float]:
        """The scores as a dictionary for a results record, without counts and without Nones."""
        fields = dataclasses.asdict(self).items()
        return {k: v for k, v in fields if k != "counts" and v is not None}


# %% book/chapters/a3e_evaluation.md: def evaluate
@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, *, batch_size: int = 1000) -> Evaluation:
    """PSNR, MSE, SSIM and whole-set codebook statistics of an autoencoder on uint8 images.

    Runs on the model's device; the images are moved there one batch at a time.

    Args:
        model: an autoencoder whose output has `reconstruction` and `quantizer` (AutoEncoderOutput);
            it is scored in eval mode, and its training mode is restored afterwards.
        images: the test images, uint8 (N, C, H, W).
        batch_size: images per forward pass; it bounds the memory, not the result.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    psnr_sum = mse_sum = ssim_sum = 0.0
    counts = None
    for block in images.split(batch_size):
        x = block.to(device).float() / 255                                      # (b, C, H, W)
        out = model(x)
        recon = out.reconstruction.float().clamp(0, 1)
        psnr_sum += float(psnr(recon, x).sum())
        mse_sum += float((recon - x).square().flatten(1).mean(1).sum())
        ssim_sum += float(ssim(recon, x).sum())
        if out.quantizer is not None:
            hist = code_histogram(out.quantizer.indices, model.quantizer.num_codes)  # (K,)
            counts = hist if counts is None else counts + hist
    model.train(was_training)
    n = len(images)
    if counts is None:
        return Evaluation(psnr_sum / n, mse_sum / n, ssim_sum / n)
    return Evaluation(psnr_sum / n, mse_sum / n, ssim_sum / n, float(usage(counts)),
                      float(perplexity(counts)), counts.cpu())


# %% book/chapters/a3e_evaluation.md: def perceptual_metrics
@torch.no_grad()
def perceptual_metrics(model: nn.Module, images: Tensor, *,
                       batch_size: int = 250) -> tuple[dict[str, float], list[str]]:
    """LPIPS (AlexNet) and rFID (Inception) where their packages and weights are available.

    Returns the metrics computed and, for each one that was not, a sentence saying why.

    Args:
        model: an autoencoder whose output has `reconstruction`, put in eval mode.
        images: the test images, uint8 (N, C, H, W); rFID compares them with their reconstructions.
        batch_size: images per forward pass; it bounds the memory, not the result.
    """
    device = next(model.parameters()).device
    metrics, notes = {}, []
    batches = [b.to(device).float() / 255 for b in images.split(batch_size)]   # (b, C, H, W) each
    rgb = lambda t: t.expand(-1, 3, -1, -1)                                  # grey -> 3 channels
    model.eval()
    try:
        import lpips
        net = lpips.LPIPS(net="alex", verbose=False).to(device)
        total = sum(float(net(rgb(model(x).reconstruction.float().clamp(0, 1)), rgb(x),
                              normalize=True).sum()) for x in batches)
        metrics["lpips"] = total / len(images)
    except Exception as err:                   # no package, or no network for its weights
        notes.append(f"LPIPS not computed ({type(err).__name__}: {err}); it needs the `lpips` "
                     "package and its AlexNet weights (downloaded on first use)")
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        fid = FrechetInceptionDistance(normalize=True).to(device)
        for x in batches:
            fid.update(rgb(x), real=True)
            fid.update(rgb(model(x).reconstruction.float().clamp(0, 1)), real=False)
        metrics["rfid"] = float(fid.compute())
    except Exception as err:
        notes.append(f"rFID not computed ({type(err).__name__}: {err}); it needs `torchmetrics` "
                     "with `torch-fidelity` and the Inception weights (downloaded on first use)")
    return metrics, notes


# %% book/chapters/a3e_evaluation.md: def compare_metrics
@torch.no_grad()
def compare_metrics(model: nn.Module, data: ImageData, *, alone: int = 32) -> dict:
    """Appendix C's image metrics of the test set, plus: bits_per_image (indices per image x
    log2 K), nn_usage (the usage of the nearest codes of the same features) and alone_agreement
    (the share of an image's codes that are unchanged when it is quantized alone rather than in a
    batch of up to 1,000).

    Args:
        model: a trained autoencoder with `.encode` and a `.quantizer` of `num_codes` codes.
        data: the images; only `data.test_images`, (N, C, H, W) uint8, are measured.
        alone: how many test images (the first ones) are also quantized one at a time.
    """
    scores = evaluate(model, data.test_images).as_dict()
    q, device = model.quantizer, next(model.parameters()).device
    was_training = model.training
    model.eval()
    counts = torch.zeros(q.num_codes, dtype=torch.long, device=device)              # (K,)
    for i, block in enumerate(data.test_images.split(1000)):
        z = model.encode(block.to(device).float() / 255)                          # (b, h, w, d)
        own = q(z).indices.reshape(len(z), -1)                                     # (b, tokens)
        codes = own if isinstance(q, FSQuantizer) else nearest_code(   # FSQ: no feature space
            z.reshape(-1, q.code_dim).float(), q.codebook.float())
        counts += torch.bincount(codes.reshape(-1), minlength=q.num_codes)
        if i == 0:
            n = min(alone, len(z))
            batch = own[:n]                                                        # (n, tokens)
            single = torch.stack([q(z[j:j + 1]).indices.reshape(-1) for j in range(n)])
            agreement = float((batch == single).float().mean())
            bits = batch.shape[1] * math.log2(q.num_codes)
    model.train(was_training)
    return {**scores, "bits_per_image": bits, "nn_usage": float((counts > 0).float().mean()),
            "alone_agreement": agreement}


__all__ = ['ssim', 'Evaluation', 'evaluate', 'perceptual_metrics', 'compare_metrics']
