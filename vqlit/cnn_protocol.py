# This file is generated from book/chapters/02h_cnn_protocol.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/02h_cnn_protocol.md: CNN_WIDTHS, def glorot_
"""Wu & Flierl's Table 2 network: four 3x3 stride-2 convolutions (64 channels, doubled at each
layer) on 32x32 images, a linear map to a d-dimensional latent vector, and the mirrored decoder."""
from __future__ import annotations

from torch import Tensor, nn

from vqlit.models import AutoEncoder, SoftAutoEncoder
from vqlit.soft import BayesianQuantizer

CNN_WIDTHS = (64, 128, 256, 512)      # the paper's channels: 64, doubled at each of 4 layers


def glorot_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero biases on every convolution and linear layer, the paper's
    initialisation; returns the module.

    Args:
        module: the network whose Conv2d, ConvTranspose2d and Linear layers are reinitialised.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return module


# %% book/chapters/02h_cnn_protocol.md: class CNNVectorEncoder, class CNNVectorDecoder
class CNNVectorEncoder(nn.Module):
    """Table 2's encoder, Eq. (2.19): (B, C, 32, 32) -> (B, out_dim).

    Args:
        in_channels: C, the image channels (3 for SVHN and CIFAR-10, 1 for grey digits).
        out_dim: the latent's length: d, or d + K for the soft model's two output layers.
        widths: the channels of the stride-2 convolutions (the paper: 64, 128, 256, 512).
        image_size: the side of the square input; a multiple of 2 ** len(widths).
    """

    def __init__(self, *, in_channels: int = 3, out_dim: int = 256,
                 widths: tuple[int, ...] = CNN_WIDTHS, image_size: int = 32):
        super().__init__()
        side = image_size // 2 ** len(widths)
        if side < 1 or side * 2 ** len(widths) != image_size:
            raise ValueError(f"image_size must be a multiple of {2 ** len(widths)}, "
                             f"got {image_size}")
        sizes = (in_channels, *widths)
        self.convs = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:])            # n -> n / 2
                                     for m in (nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU())])
        self.to_latent = nn.Linear(widths[-1] * side * side, out_dim)       # this book's choice
        glorot_(self)

    def forward(self, x: Tensor) -> Tensor:
        """The latents, (B, out_dim).

        Args:
            x: images, (B, C, image_size, image_size).
        """
        return self.to_latent(self.convs(x).flatten(1))


class CNNVectorDecoder(nn.Module):
    """The mirrored decoder: (B, d) -> linear, ReLU -> (B, 512, 2, 2) -> four transposed
    convolutions -> (B, C, 32, 32), a sigmoid at the end (pixels in [0, 1]).

    Args:
        out_channels: C, the channels of the reconstructed image.
        latent_dim: d, the length of the latent the decoder reads.
        widths, image_size: as in CNNVectorEncoder, whose layers this decoder mirrors.
    """

    def __init__(self, *, out_channels: int = 3, latent_dim: int = 256,
                 widths: tuple[int, ...] = CNN_WIDTHS, image_size: int = 32):
        super().__init__()
        self.width, self.side = widths[-1], image_size // 2 ** len(widths)
        self.from_latent = nn.Linear(latent_dim, self.width * self.side ** 2)
        sizes = (*widths[::-1], out_channels)                               # 512, ..., 64, C
        layers = [m for a, b in zip(sizes, sizes[1:]) for m in (
            nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), nn.ReLU())]
        self.deconvs = nn.Sequential(*layers[:-1], nn.Sigmoid())          # n -> 2n
        glorot_(self)

    def forward(self, z: Tensor) -> Tensor:
        """The images, (B, C, image_size, image_size), in [0, 1].

        Args:
            z: latents, (B, latent_dim).
        """
        h = self.from_latent(z).relu().view(-1, self.width, self.side, self.side)
        return self.deconvs(h)


# %% book/chapters/02h_cnn_protocol.md: def cnn_vector_autoencoder, def soft_cnn_autoencoder
def cnn_vector_autoencoder(quantizer: nn.Module | None = None, *, image_shape=(3, 32, 32),
                           latent_dim: int = 256, quantizer_weight: float = 1.0) -> AutoEncoder:
    """Table 2's autoencoder with a bottleneck on the (B, d) latent: images in [0, 1], MSE loss.

    Args:
        quantizer: the bottleneck (a quantizer of dim d, a vqlit.bottlenecks module) or None.
        image_shape: (C, H, W) of the images, square with H a multiple of 16.
        latent_dim: d, the latent's length (the paper: 256).
        quantizer_weight: w_q in Eq. (3), the bottleneck loss's weight.
    """
    c, side = image_shape[0], image_shape[-1]
    return AutoEncoder(
        encoder=CNNVectorEncoder(in_channels=c, out_dim=latent_dim, image_size=side),
        decoder=CNNVectorDecoder(out_channels=c, latent_dim=latent_dim, image_size=side),
        quantizer=quantizer, quantizer_weight=quantizer_weight)


def soft_cnn_autoencoder(*, num_codes: int = 32, image_shape=(3, 32, 32), latent_dim: int = 256,
                         commitment_weight: float = 2.5, noise_std: float = 0.0,
                         quantizer_weight: float = 1.0,
                         normalizer: str = "gaussian") -> SoftAutoEncoder:
    """Table 2's soft VQ-VAE: the CNN encoder emits z_e (d) and K log-variances.

    Args:
        num_codes: K, the codebook size and the variance head's width (the paper: 32).
        image_shape, latent_dim: as in cnn_vector_autoencoder.
        commitment_weight, noise_std, normalizer: as in BayesianQuantizer.
        quantizer_weight: w_q in Eq. (3).
    """
    c, side = image_shape[0], image_shape[-1]
    quantizer = BayesianQuantizer(num_codes=num_codes, dim=latent_dim,
                                  commitment_weight=commitment_weight, noise_std=noise_std,
                                  normalizer=normalizer, learn_var=False)   # the head's variances
    return SoftAutoEncoder(
        encoder=CNNVectorEncoder(in_channels=c, out_dim=latent_dim + num_codes, image_size=side),
        decoder=CNNVectorDecoder(out_channels=c, latent_dim=latent_dim, image_size=side),
        quantizer=quantizer, quantizer_weight=quantizer_weight)


__all__ = ['CNN_WIDTHS', 'glorot_', 'CNNVectorEncoder', 'CNNVectorDecoder', 'cnn_vector_autoencoder', 'soft_cnn_autoencoder']
