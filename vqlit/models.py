# This file is generated from book/chapters/a2_models.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a2_models.md: statements
"""The papers' backbones (OptVQ's small CNN, Wu & Flierl's MLP) and an autoencoder around them."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from vqlit.soft import BayesianQuantizer


# %% book/chapters/a2_models.md: class SmallCNNEncoder, class SmallCNNDecoder
class SmallCNNEncoder(nn.Sequential):
    """OptVQ's appendix-B encoder: (B, C, 32, 32) -> (B, code_dim, 8, 8)."""

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
    """OptVQ's appendix-B decoder: (B, code_dim, 8, 8) -> (B, C, 32, 32), no output activation."""

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
    """Wu & Flierl's encoder D-500-500-2000-d: (B, C, H, W) -> (B, d)."""

    def __init__(self, *, image_shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 64,
                 hidden: tuple[int, ...] = (500, 500, 2000)):
        super().__init__()
        sizes = [int(torch.tensor(image_shape).prod()), *hidden]
        layers = []
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.net = nn.Sequential(nn.Flatten(), *layers, nn.Linear(sizes[-1], latent_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)                                         # (B, d)


class MLPDecoder(nn.Module):
    """The mirrored decoder d-2000-500-500-D with a sigmoid: (B, d) -> (B, C, H, W) in [0, 1]."""

    def __init__(self, *, image_shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 64,
                 hidden: tuple[int, ...] = (2000, 500, 500)):
        super().__init__()
        self.image_shape = tuple(image_shape)
        sizes = [latent_dim, *hidden]
        layers = []
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        pixels = int(torch.tensor(image_shape).prod())
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], pixels))

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.net(z)).view(-1, *self.image_shape)   # (B, C, H, W)


# %% book/chapters/a2_models.md: class ResidualStack, class ResidualEncoder, class ResidualDecoder
class ResidualStack(nn.Module):
    """n residual layers, Eq. (2), then a ReLU; the official code shares one layer."""

    def __init__(self, *, channels: int = 128, hidden: int = 32, layers: int = 2,
                 shared: bool = True):
        super().__init__()
        make = lambda: nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1, bias=False),
            nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=False))
        one = make()
        self.layers = nn.ModuleList([one] * layers if shared else [make() for _ in range(layers)])

    def forward(self, h: Tensor) -> Tensor:                # (B, channels, h, w) -> same
        for layer in self.layers:
            h = h + layer(h)                               # Eq. (2)
        return torch.relu(h)


class ResidualEncoder(nn.Sequential):
    """32x32 images -> (B, code_dim, 8, 8): VQ-WAE's net_32 encoder."""

    def __init__(self, *, in_channels: int = 3, code_dim: int = 64, channels: int = 128,
                 layers: int = 2, shared: bool = True):
        super().__init__(
            nn.Conv2d(in_channels, channels // 2, 4, stride=2, padding=1), nn.ReLU(),  # 32 -> 16
            nn.Conv2d(channels // 2, channels, 4, stride=2, padding=1), nn.ReLU(),     # 16 -> 8
            nn.Conv2d(channels, channels, 3, padding=1),
            ResidualStack(channels=channels, layers=layers, shared=shared),
            nn.Conv2d(channels, code_dim, 1))                                         # (B, d, 8, 8)


class ResidualDecoder(nn.Sequential):
    """(B, code_dim, 8, 8) -> 32x32 images, no output activation: VQ-WAE's net_32 decoder."""

    def __init__(self, *, out_channels: int = 3, code_dim: int = 64, channels: int = 128,
                 layers: int = 2, shared: bool = True):
        super().__init__(
            nn.ConvTranspose2d(code_dim, channels, 3, padding=1),
            ResidualStack(channels=channels, layers=layers, shared=shared),
            nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1), nn.ReLU(),  # 8->16
            nn.ConvTranspose2d(channels // 2, out_channels, 4, stride=2, padding=1))   # 16->32


# %% book/chapters/a2_models.md: class AutoEncoderOutput
class AutoEncoderOutput(NamedTuple):
    """What an AutoEncoder returns."""

    reconstruction: Tensor        # (B, C, H, W), in the data's units ([0, 1] for images)
    latents: Tensor               # encoder output, channels-last: (B, h, w, d) or (B, d)
    quantizer: NamedTuple | None  # the quantizer's output; None for a plain autoencoder


# %% book/chapters/a2_models.md: class AutoEncoder
class AutoEncoder(nn.Module):
    """encoder -> quantizer -> decoder, with the reconstruction loss of Eq. (3)."""

    def __init__(self, *, encoder: nn.Module, decoder: nn.Module,
                 quantizer: nn.Module | None = None,
                 recon_loss: str = "mse",        # "mse" | "l1+mse", Eq. (3)
                 quantizer_weight: float = 1.0,  # w_q in Eq. (3)
                 signed_inputs: bool = False):   # the networks work in [-1, 1]
        super().__init__()
        if recon_loss not in ("mse", "l1+mse"):
            raise ValueError(f"recon_loss must be 'mse' or 'l1+mse', got {recon_loss!r}")
        self.encoder, self.decoder, self.quantizer = encoder, decoder, quantizer
        self.recon_loss, self.quantizer_weight = recon_loss, quantizer_weight
        self.signed_inputs = signed_inputs

    def encode(self, x: Tensor) -> Tensor:
        """Images in [0, 1] -> channels-last latents (B, h, w, d) or (B, d)."""
        z = self.encoder(2 * x - 1 if self.signed_inputs else x)
        return z.movedim(1, -1) if z.ndim > 2 else z            # (B, d, h, w) -> (B, h, w, d)

    def decode(self, z: Tensor) -> Tensor:
        """Channels-last latents -> images in the data's units."""
        out = self.decoder(z.movedim(-1, 1) if z.ndim > 2 else z)
        return (out + 1) / 2 if self.signed_inputs else out

    def forward(self, x: Tensor) -> AutoEncoderOutput:
        z = self.encode(x)
        q = self.quantizer(z) if self.quantizer is not None else None
        return AutoEncoderOutput(self.decode(q.quantized if q is not None else z), z, q)

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The training loss, Eq. (3), and detached scalars to log."""
        out = self(x)
        scale = 2.0 if self.signed_inputs else 1.0                 # errors in the network's range
        err = (out.reconstruction - x) * scale
        recon = err.square().mean() + (err.abs().mean() if self.recon_loss == "l1+mse" else 0)
        logs = {"recon": recon.detach()}
        total = recon
        if out.quantizer is not None:
            total = total + self.quantizer_weight * out.quantizer.loss
            logs["quantizer_loss"] = out.quantizer.loss.detach()
            logs.update({k: v.detach() for k, v in out.quantizer.stats.items()})
        logs["loss"] = total.detach()
        return total, logs


# %% book/chapters/a2_models.md: def small_cnn_autoencoder, def mlp_autoencoder, def residual_autoencoder
def small_cnn_autoencoder(quantizer: nn.Module | None = None, *, channels: int = 1,
                          code_dim: int = 8, recon_loss: str = "l1+mse") -> AutoEncoder:
    """OptVQ's MNIST / CIFAR-10 autoencoder: 32x32 images in [-1, 1], 8x8 latents of code_dim."""
    return AutoEncoder(encoder=SmallCNNEncoder(in_channels=channels, code_dim=code_dim),
                       decoder=SmallCNNDecoder(out_channels=channels, code_dim=code_dim),
                       quantizer=quantizer, recon_loss=recon_loss, signed_inputs=True)


def mlp_autoencoder(quantizer: nn.Module | None = None, *, image_shape=(1, 28, 28),
                    latent_dim: int = 64, quantizer_weight: float = 1.0) -> AutoEncoder:
    """Wu & Flierl's MNIST autoencoder: images in [0, 1], latents of dimension latent_dim."""
    return AutoEncoder(encoder=MLPEncoder(image_shape=image_shape, latent_dim=latent_dim),
                       decoder=MLPDecoder(image_shape=image_shape, latent_dim=latent_dim),
                       quantizer=quantizer, quantizer_weight=quantizer_weight)


def residual_autoencoder(quantizer: nn.Module | None = None, *, channels: int = 3,
                         code_dim: int = 64, quantizer_weight: float = 1.0,
                         shared: bool = True) -> AutoEncoder:
    """VQ-WAE / SQ-VAE's 32x32 autoencoder: images in [0, 1], 8x8 latents of code_dim, MSE loss."""
    return AutoEncoder(encoder=ResidualEncoder(in_channels=channels, code_dim=code_dim,
                                               shared=shared),
                       decoder=ResidualDecoder(out_channels=channels, code_dim=code_dim,
                                               shared=shared),
                       quantizer=quantizer, quantizer_weight=quantizer_weight)


# %% book/chapters/a2_models.md: class SoftAutoEncoder, def soft_mlp_autoencoder
class SoftAutoEncoder(AutoEncoder):
    """An AutoEncoder whose encoder emits d + K channels: z_e and K log-variances for the
    BayesianQuantizer (the paper's two output layers, as one layer split in two)."""

    def encode_with_variances(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images -> channels-last z_e (..., d) and log-variances (..., K)."""
        out = self.encoder(2 * x - 1 if self.signed_inputs else x)
        out = out.movedim(1, -1) if out.ndim > 2 else out                 # (B, ..., d + K)
        d, k = self.quantizer.dim, self.quantizer.num_codes
        if out.shape[-1] != d + k:
            raise ValueError(f"the encoder must emit dim + num_codes = {d + k} channels, "
                             f"got {out.shape[-1]}")
        return out[..., :d], out[..., d:]                                 # (B, d), (B, K)

    def encode(self, x: Tensor) -> Tensor:
        return self.encode_with_variances(x)[0]

    def forward(self, x: Tensor) -> AutoEncoderOutput:
        z, log_var = self.encode_with_variances(x)
        q = self.quantizer(z, log_var)
        return AutoEncoderOutput(self.decode(q.quantized), z, q)


def soft_mlp_autoencoder(*, num_codes: int = 128, image_shape=(1, 28, 28), latent_dim: int = 64,
                         commitment_weight: float = 2.5, noise_std: float = 0.0,
                         quantizer_weight: float = 1.0,
                         normalizer: str = "gaussian") -> SoftAutoEncoder:
    """Wu & Flierl's soft VQ-VAE for MNIST: MLP encoder with a head of K log-variances."""
    quantizer = BayesianQuantizer(num_codes=num_codes, dim=latent_dim,
                                  commitment_weight=commitment_weight,
                                  noise_std=noise_std, normalizer=normalizer,
                                  learn_var=False)            # the head supplies the variances
    return SoftAutoEncoder(
        encoder=MLPEncoder(image_shape=image_shape, latent_dim=latent_dim + num_codes),
        decoder=MLPDecoder(image_shape=image_shape, latent_dim=latent_dim),
        quantizer=quantizer, quantizer_weight=quantizer_weight)


__all__ = ['SmallCNNEncoder', 'SmallCNNDecoder', 'MLPEncoder', 'MLPDecoder', 'ResidualStack', 'ResidualEncoder', 'ResidualDecoder', 'AutoEncoderOutput', 'AutoEncoder', 'small_cnn_autoencoder', 'mlp_autoencoder', 'residual_autoencoder', 'SoftAutoEncoder', 'soft_mlp_autoencoder']
