# This file is generated from book/chapters/02h_cnn_protocol.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/02h_cnn_protocol.md: CNN_WIDTHS, def glorot_
"""Wu & Flierl's Table 2 network: four 3x3 stride-2 convolutions (64 channels, doubled at each
layer) on 32x32 images, a linear map to a d-dimensional latent vector, and the mirrored decoder."""
from __future__ import annotations

from torch import Tensor, nn

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


__all__ = ['CNN_WIDTHS', 'glorot_', 'CNNVectorEncoder', 'CNNVectorDecoder']
