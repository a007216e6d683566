# This file is generated from book/chapters/a2_models.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a2_models.md: statements
"""The papers' backbones (OptVQ's small CNN, Wu & Flierl's MLP) and an autoencoder around them."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


# %% book/chapters/a2_models.md: class SmallCNNEncoder, class SmallCNNDecoder
class SmallCNNEncoder(nn.Sequential):
    """OptVQ's appendix-B encoder: (B, C, 32, 32) -> (B, code_dim, 8, 8).

    Args:
        in_channels: C, the image channels (1 for MNIST, 3 for CIFAR-10).
        code_dim: d, the latent dimension: the output channels of the 1x1 quant_conv.
        width: the channels (a, b) of the table's 16- and 32-channel convolutions.
    """
    def __init__(self, *, in_channels: int = 1, code_dim: int = 8, width: tuple = (16, 32)):
        a, b = width
        super().__init__(
            nn.Conv2d(in_channels, a, 3, padding=1), nn.ReLU(),   # conv1  (B, 16, 32, 32)
            nn.Conv2d(a, a, 2, stride=2),                          # down1  (B, 16, 16, 16)
            nn.Conv2d(a, a, 3, padding=1), nn.ReLU(),              # conv2
            nn.Conv2d(a, a, 2, stride=2),                          # down2  (B, 16, 8, 8)
            nn.Conv2d(a, b, 3, padding=1), nn.ReLU(),              # conv3  (B, 32, 8, 8)
            nn.Conv2d(b, b, 3, padding=1),                         # conv4
            nn.Conv2d(b, code_dim, 1),                             # quant_conv (B, code_dim, 8, 8)
        )


class SmallCNNDecoder(nn.Sequential):
    """OptVQ's appendix-B decoder: (B, code_dim, 8, 8) -> (B, C, 32, 32), no output activation.

    Args:
        out_channels: C, the channels of the reconstructed image.
        code_dim, width: as in SmallCNNEncoder, whose layers this decoder mirrors.
    """
    def __init__(self, *, out_channels: int = 1, code_dim: int = 8, width: tuple = (16, 32)):
        a, b = width
        super().__init__(
            nn.Conv2d(code_dim, b, 1),                             # post_quant_conv (B, 32, 8, 8)
            nn.Conv2d(b, b, 3, padding=1), nn.ReLU(),              # conv1
            nn.ConvTranspose2d(b, a, 2, stride=2),                 # up1    (B, 16, 16, 16)
            nn.Conv2d(a, a, 3, padding=1), nn.ReLU(),              # conv2
            nn.ConvTranspose2d(a, a, 2, stride=2),                 # up2    (B, 16, 32, 32)
            nn.Conv2d(a, a, 3, padding=1), nn.ReLU(),              # conv3
            nn.Conv2d(a, out_channels, 3, padding=1),              # conv4  (B, C, 32, 32)
        )


# %% book/chapters/a2_models.md: class MLPEncoder, class MLPDecoder
class MLPEncoder(nn.Module):
    """Wu & Flierl's encoder D-500-500-2000-d: (B, C, H, W) -> (B, d).

    Args:
        image_shape: (C, H, W) of the input images; D is their product.
        latent_dim: d, the dimension of the output latent.
        hidden: the widths of the hidden layers, each followed by a ReLU.
    """
    def __init__(self, *, image_shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 64,
                 hidden: tuple[int, ...] = (500, 500, 2000)):
        super().__init__()
        sizes = [int(torch.tensor(image_shape).prod()), *hidden]
        layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(nn.Flatten(), *layers, nn.Linear(sizes[-1], latent_dim))

    def forward(self, x: Tensor) -> Tensor:
        """The latents, (B, d).

        Args:
            x: images, (B, C, H, W), with (C, H, W) = image_shape.
        """
        return self.net(x)


class MLPDecoder(nn.Module):
    """The mirrored decoder d-2000-500-500-D with a sigmoid: (B, d) -> (B, C, H, W) in [0, 1].

    Args:
        image_shape, latent_dim: as in MLPEncoder (here the output's shape and the input's d).
        hidden: the widths of the hidden layers, each followed by a ReLU.
    """
    def __init__(self, *, image_shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 64,
                 hidden: tuple[int, ...] = (2000, 500, 500)):
        super().__init__()
        self.image_shape = tuple(image_shape)
        sizes = [latent_dim, *hidden]
        layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        pixels = int(torch.tensor(image_shape).prod())
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], pixels))

    def forward(self, z: Tensor) -> Tensor:
        """The images, (B, C, H, W), in [0, 1].

        Args:
            z: latents, (B, d).
        """
        return torch.sigmoid(self.net(z)).view(-1, *self.image_shape)


# %% book/chapters/a2_models.md: class ResidualStack, class ResidualEncoder, class ResidualDecoder
class ResidualStack(nn.Module):
    """n residual layers, Eq. (2), then a ReLU.

    Args:
        channels: the channels of the input and the output.
        hidden: the channels of each layer's 3x3 bottleneck branch.
        layers: n, the number of residual layers.
        shared: apply one layer n times, as the official code does; False gives n independent ones.
    """
    def __init__(self, *, channels: int = 128, hidden: int = 32, layers: int = 2,
                 shared: bool = True):
        super().__init__()
        new = lambda: nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1, bias=False),
            nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=False))
        self.layers = nn.ModuleList([new()] * layers if shared else [new() for _ in range(layers)])

    def forward(self, h: Tensor) -> Tensor:
        """The stack's output, of the input's shape.

        Args:
            h: features, (B, channels, h, w).
        """
        for layer in self.layers:
            h = h + layer(h)                               # Eq. (2)
        return torch.relu(h)


class ResidualEncoder(nn.Sequential):
    """32x32 images -> (B, code_dim, 8, 8): VQ-WAE's net_32 encoder.

    Args:
        in_channels: C, the image channels (3 for CIFAR-10).
        code_dim: d, the latent dimension: the output channels of the last 1x1 convolution.
        channels: the width at 8x8 (the first downsampling has half of it).
        layers, shared: the residual stack's, as in ResidualStack.
    """
    def __init__(self, *, in_channels: int = 3, code_dim: int = 64, channels: int = 128,
                 layers: int = 2, shared: bool = True):
        super().__init__(
            nn.Conv2d(in_channels, channels // 2, 4, stride=2, padding=1), nn.ReLU(),  # 32 -> 16
            nn.Conv2d(channels // 2, channels, 4, stride=2, padding=1), nn.ReLU(),     # 16 -> 8
            nn.Conv2d(channels, channels, 3, padding=1),
            ResidualStack(channels=channels, layers=layers, shared=shared),
            nn.Conv2d(channels, code_dim, 1))                                         # (B, d, 8, 8)


class ResidualDecoder(nn.Sequential):
    """(B, code_dim, 8, 8) -> 32x32 images, no output activation: VQ-WAE's net_32 decoder.

    Args:
        out_channels: C, the channels of the reconstructed image.
        code_dim, channels, layers, shared: as in ResidualEncoder, which this decoder mirrors.
    """
    def __init__(self, *, out_channels: int = 3, code_dim: int = 64, channels: int = 128,
                 layers: int = 2, shared: bool = True):
        super().__init__(
            nn.ConvTranspose2d(code_dim, channels, 3, padding=1),
            ResidualStack(channels=channels, layers=layers, shared=shared),
            nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1), nn.ReLU(),  # 8->16
            nn.ConvTranspose2d(channels // 2, out_channels, 4, stride=2, padding=1))   # 16->32


# %% book/chapters/a2_models.md: class AutoEncoderOutput
class AutoEncoderOutput(NamedTuple):
    """What an AutoEncoder returns.

    Attributes:
        reconstruction: the decoded images, (B, C, H, W), in the data's units ([0, 1] for images).
        latents: the encoder's output, channels-last: (B, h, w, d) or (B, d).
        quantizer: the quantizer's output; None for a plain autoencoder.
    """
    reconstruction: Tensor
    latents: Tensor
    quantizer: NamedTuple | None


# %% book/chapters/a2_models.md: class AutoEncoder
class AutoEncoder(nn.Module):
    """encoder -> quantizer -> decoder, with the reconstruction loss of Eq. (3).

    Args:
        encoder: maps images (B, C, H, W) to latents (B, d, h, w) or (B, d).
        decoder: maps latents in the encoder's layout back to images.
        quantizer: any module with Chapter 1's contract, applied to channels-last latents; or None.
        recon_loss: ℓ in Eq. (3): "mse", or OptVQ's "l1+mse".
        quantizer_weight: w_q in Eq. (3).
        signed_inputs: the networks work in [-1, 1]: x -> 2x - 1 on the way in, back on the way out.
    """
    def __init__(self, *, encoder: nn.Module, decoder: nn.Module,
                 quantizer: nn.Module | None = None, recon_loss: str = "mse",
                 quantizer_weight: float = 1.0, signed_inputs: bool = False):
        super().__init__()
        if recon_loss not in ("mse", "l1+mse"):
            raise ValueError(f"recon_loss must be 'mse' or 'l1+mse', got {recon_loss!r}")
        self.encoder, self.decoder, self.quantizer = encoder, decoder, quantizer
        self.recon_loss, self.quantizer_weight = recon_loss, quantizer_weight
        self.signed_inputs = signed_inputs

    def encode(self, x: Tensor) -> Tensor:
        """Images -> channels-last latents (B, h, w, d) or (B, d).

        Args:
            x: images, (B, C, H, W), in [0, 1].
        """
        z = self.encoder(2 * x - 1 if self.signed_inputs else x)
        return z.movedim(1, -1) if z.ndim > 2 else z            # (B, d, h, w) -> (B, h, w, d)

    def decode(self, z: Tensor) -> Tensor:
        """Channels-last latents -> images in the data's units.

        Args:
            z: latents or their quantized values, (B, h, w, d) or (B, d).
        """
        out = self.decoder(z.movedim(-1, 1) if z.ndim > 2 else z)
        return (out + 1) / 2 if self.signed_inputs else out

    def forward(self, x: Tensor) -> AutoEncoderOutput:
        """Encode, quantize (where there is a quantizer) and decode.

        Args:
            x: images, (B, C, H, W), in [0, 1].
        """
        z = self.encode(x)
        q = self.quantizer(z) if self.quantizer is not None else None
        return AutoEncoderOutput(self.decode(q.quantized if q is not None else z), z, q)

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The training loss, Eq. (3), and detached scalars to log.

        Args:
            x: images, (B, C, H, W), in [0, 1]: the input and the reconstruction's target.
        """
        out = self(x)
        err = (out.reconstruction - x) * (2.0 if self.signed_inputs else 1.0)   # network's range
        recon = err.square().mean() + (err.abs().mean() if self.recon_loss == "l1+mse" else 0)
        total, logs = recon, {"recon": recon.detach()}
        if out.quantizer is not None:
            total = total + self.quantizer_weight * out.quantizer.loss
            logs["quantizer_loss"] = out.quantizer.loss.detach()
            logs.update({k: v.detach() for k, v in out.quantizer.stats.items()})
        logs["loss"] = total.detach()
        return total, logs


# %% book/chapters/a2_models.md: def small_cnn_autoencoder, def mlp_autoencoder, def residual_autoencoder
def small_cnn_autoencoder(quantizer: nn.Module | None = None, *, channels: int = 1,
                          code_dim: int = 8, recon_loss: str = "l1+mse") -> AutoEncoder:
    """OptVQ's MNIST / CIFAR-10 autoencoder: 32x32 images in [-1, 1], 8x8 latents of code_dim.

    Args:
        quantizer, recon_loss: as in AutoEncoder; the default loss is OptVQ's L1 + L2.
        channels: C, the image channels (1 for MNIST, 3 for CIFAR-10).
        code_dim: d, the latent dimension; the quantizer's dim must equal it.
    """
    return AutoEncoder(encoder=SmallCNNEncoder(in_channels=channels, code_dim=code_dim),
                       decoder=SmallCNNDecoder(out_channels=channels, code_dim=code_dim),
                       quantizer=quantizer, recon_loss=recon_loss, signed_inputs=True)


def mlp_autoencoder(quantizer: nn.Module | None = None, *, image_shape=(1, 28, 28),
                    latent_dim: int = 64, quantizer_weight: float = 1.0) -> AutoEncoder:
    """Wu & Flierl's MNIST autoencoder: images in [0, 1], latents of dimension latent_dim.

    Args:
        quantizer, quantizer_weight: as in AutoEncoder.
        image_shape, latent_dim: as in MLPEncoder.
    """
    return AutoEncoder(encoder=MLPEncoder(image_shape=image_shape, latent_dim=latent_dim),
                       decoder=MLPDecoder(image_shape=image_shape, latent_dim=latent_dim),
                       quantizer=quantizer, quantizer_weight=quantizer_weight)


def residual_autoencoder(quantizer: nn.Module | None = None, *, channels: int = 3,
                         code_dim: int = 64, quantizer_weight: float = 1.0,
                         shared: bool = True) -> AutoEncoder:
    """VQ-WAE / SQ-VAE's 32x32 autoencoder: images in [0, 1], 8x8 latents of code_dim, MSE loss.

    Args:
        quantizer, quantizer_weight: as in AutoEncoder.
        channels: C, the image channels (3 for CIFAR-10).
        code_dim, shared: as in ResidualEncoder.
    """
    common = dict(code_dim=code_dim, shared=shared)
    return AutoEncoder(encoder=ResidualEncoder(in_channels=channels, **common),
                       decoder=ResidualDecoder(out_channels=channels, **common),
                       quantizer=quantizer, quantizer_weight=quantizer_weight)


__all__ = ['SmallCNNEncoder', 'SmallCNNDecoder', 'MLPEncoder', 'MLPDecoder', 'ResidualStack', 'ResidualEncoder', 'ResidualDecoder', 'AutoEncoderOutput', 'AutoEncoder', 'small_cnn_autoencoder', 'mlp_autoencoder', 'residual_autoencoder']
