# This file is generated from book/chapters/02g_bottlenecks.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/02g_bottlenecks.md: class BottleneckOutput, def gaussian_kl
"""The noise-based bottlenecks of Wu & Flierl's Table 1 (VAE, β-VAE, information dropout) and its
raw-pixel row: the baselines the soft VQ-VAE is compared with."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.downstream import cluster_accuracy, kmeans, linear_probe, nmi


class BottleneckOutput(NamedTuple):
    """What a bottleneck returns to the AutoEncoder (the fields a quantizer's output has).

    Attributes:
        quantized: what the decoder reads, the same shape as the input.
        loss: the bottleneck's loss, β times the divergence, averaged over the batch.
        stats: detached scalars to log (`kl`, the divergence per sample).
    """

    quantized: Tensor
    loss: Tensor
    stats: dict


def gaussian_kl(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, diag exp(log_var)) || N(0, I)), Eq. (2.15), summed over the last dimension.

    Args:
        mu: the means, (..., d).
        log_var: the log-variances log σ², the same shape as mu.

    Returns:
        The divergence of each sample, (...), in nats.
    """
    return 0.5 * (mu.square() + log_var.exp() - log_var - 1).sum(-1)


# %% book/chapters/02g_bottlenecks.md: class GaussianBottleneck
class GaussianBottleneck(nn.Module):
    """The VAE's bottleneck, Eq. (2.14): a sample of N(z_e, diag σ²(z_e)) in training,
    the mean z_e at evaluation; loss β · KL, Eq. (2.15). β = 1 is the VAE, β > 1 the β-VAE.

    Args:
        dim: d, the latent dimension (the encoder's output, the last axis).
        beta: β, the weight of the KL term (the paper's β-VAE row: 20).
    """

    def __init__(self, *, dim: int, beta: float = 1.0):
        super().__init__()
        if dim < 1 or not beta >= 0:
            raise ValueError(f"dim must be >= 1 and beta >= 0, got dim={dim}, beta={beta}")
        self.dim, self.beta = dim, float(beta)
        self.log_var = nn.Linear(dim, dim)                 # log σ² = W z_e + b
        nn.init.zeros_(self.log_var.weight)
        nn.init.zeros_(self.log_var.bias)                  # σ = 1 at the start, as the prior

    def forward(self, z: Tensor) -> BottleneckOutput:
        """Sample (training) or pass the mean (evaluation).

        Args:
            z: the encoder's output z_e, (..., dim), read as the mean.
        """
        if z.shape[-1] != self.dim:
            raise ValueError(f"expected latents (..., {self.dim}), got {tuple(z.shape)}")
        log_var = self.log_var(z).clamp(-20.0, 10.0)                     # (..., d)
        kl = gaussian_kl(z, log_var)                                     # (...)
        out = z + (0.5 * log_var).exp() * torch.randn_like(z) if self.training else z
        return BottleneckOutput(out, self.beta * kl.mean(), {"kl": kl.mean().detach()})

    def extra_repr(self) -> str:
        return f"dim={self.dim}, beta={self.beta:g}"


# %% book/chapters/02g_bottlenecks.md: class InformationDropout
class InformationDropout(nn.Module):
    """Information dropout, Eq. (2.16): ReLU(z_e) times log-normal noise of spread α(z_e) in
    training, ReLU(z_e) at evaluation; loss β · Σ_j −log α_j, Eq. (2.17).

    Args:
        dim: d, the latent dimension (the encoder's output, the last axis).
        beta: β, the weight of the divergence.
        max_alpha: α_max, the largest noise spread (0.7 in Achille & Soatto).
    """

    def __init__(self, *, dim: int, beta: float = 1.0, max_alpha: float = 0.7):
        super().__init__()
        if dim < 1 or not beta >= 0 or not 0 < max_alpha:
            raise ValueError(f"dim must be >= 1, beta >= 0 and max_alpha > 0, got dim={dim}, "
                             f"beta={beta}, max_alpha={max_alpha}")
        self.dim, self.beta, self.max_alpha = dim, float(beta), float(max_alpha)
        self.alpha = nn.Linear(dim, dim)                   # α = α_max sigmoid(W z_e + b)

    def forward(self, z: Tensor) -> BottleneckOutput:
        """Multiply by noise (training) or pass the activations (evaluation).

        Args:
            z: the encoder's output z_e, (..., dim).
        """
        if z.shape[-1] != self.dim:
            raise ValueError(f"expected latents (..., {self.dim}), got {tuple(z.shape)}")
        alpha = self.max_alpha * torch.sigmoid(self.alpha(z)).clamp_min(1e-6)    # (..., d)
        kl = -alpha.log().sum(-1)                                                # (...)
        f = F.relu(z)
        out = f * (alpha * torch.randn_like(z)).exp() if self.training else f
        return BottleneckOutput(out, self.beta * kl.mean(), {"kl": kl.mean().detach()})

    def extra_repr(self) -> str:
        return f"dim={self.dim}, beta={self.beta:g}, max_alpha={self.max_alpha:g}"


# %% book/chapters/02g_bottlenecks.md: def raw_pixel_evaluation
@torch.no_grad()
def raw_pixel_evaluation(data, *, n_init: int = 100, seed: int = 0) -> dict[str, float]:
    """Table 1's raw-data row: the downstream metrics on the pixels, scaled to [0, 1].

    Args:
        data: an ImageData (vqlit.data) with train and test images and labels.
        n_init: k-means initialisations (the paper: 100).
        seed: the seed of k-means.

    Returns:
        cluster_acc, nmi (k-means on the test pixels) and probe_acc (a linear classifier fitted on
        the training pixels); no psnr, as nothing is reconstructed.
    """
    x_train = data.train_images.flatten(1).float() / 255                  # (N, D)
    x_test = data.test_images.flatten(1).float() / 255                    # (M, D)
    labels = data.test_labels.cpu()
    clusters = kmeans(x_test, int(labels.unique().numel()), n_init=n_init, seed=seed)
    return {"cluster_acc": cluster_accuracy(labels, clusters), "nmi": nmi(labels, clusters),
            "probe_acc": linear_probe(x_train, data.train_labels, x_test, labels)}


__all__ = ['BottleneckOutput', 'gaussian_kl', 'GaussianBottleneck', 'InformationDropout', 'raw_pixel_evaluation']
