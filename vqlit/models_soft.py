# This file is generated from book/chapters/a2a_soft_models.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a2a_soft_models.md: statements
"""The soft VQ-VAE's autoencoders (Wu & Flierl): an encoder with a head of K log-variances, on
the paper's MLP (Table 1) and CNN (Table 2); the plain CNN autoencoder of Table 2."""
from __future__ import annotations

from torch import Tensor, nn

from vqlit.cnn_protocol import CNNVectorDecoder, CNNVectorEncoder
from vqlit.models import AutoEncoder, AutoEncoderOutput, MLPDecoder, MLPEncoder
from vqlit.soft import BayesianQuantizer


# %% book/chapters/a2a_soft_models.md: class SoftAutoEncoder, def soft_mlp_autoencoder
class SoftAutoEncoder(AutoEncoder):
    """An AutoEncoder whose encoder emits z_e (d channels) and K log-variances for the quantizer."""
    def encode_with_variances(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images -> channels-last z_e (..., d) and log-variances (..., K).

        Args:
            x: images, (B, C, H, W), in [0, 1].
        """
        out = super().encode(x)                                           # (B, ..., d + K)
        d, k = self.quantizer.dim, self.quantizer.num_codes
        if out.shape[-1] != d + k:
            raise ValueError(f"the encoder must emit d + K = {d + k} channels, got {out.shape[-1]}")
        return out[..., :d], out[..., d:]                                 # (B, d), (B, K)

    def encode(self, x: Tensor) -> Tensor:
        """z_e alone, the latent the paper evaluates.

        Args:
            x: images, (B, C, H, W), in [0, 1].
        """
        return self.encode_with_variances(x)[0]

    def forward(self, x: Tensor) -> AutoEncoderOutput:
        """As AutoEncoder.forward, with the head's log-variances passed to the quantizer.

        Args:
            x: images, (B, C, H, W), in [0, 1].
        """
        z, log_var = self.encode_with_variances(x)
        q = self.quantizer(z, log_var)
        return AutoEncoderOutput(self.decode(q.quantized), z, q)


def soft_mlp_autoencoder(*, num_codes: int = 128, image_shape=(1, 28, 28), latent_dim: int = 64,
                         commitment_weight: float = 2.5, noise_std: float = 0.0,
                         quantizer_weight: float = 1.0,
                         normalizer: str = "gaussian") -> SoftAutoEncoder:
    """Wu & Flierl's soft VQ-VAE for MNIST: MLP encoder with a head of K log-variances.

    Args:
        num_codes: K, the codebook size, which is also the variance head's width.
        image_shape, latent_dim: as in MLPEncoder (the encoder emits latent_dim + num_codes).
        commitment_weight, noise_std, normalizer: as in BayesianQuantizer.
        quantizer_weight: w_q in Eq. (3) of Appendix B.
    """
    quantizer = BayesianQuantizer(num_codes=num_codes, dim=latent_dim,
                                  commitment_weight=commitment_weight, noise_std=noise_std,
                                  normalizer=normalizer, learn_var=False)   # the head's variances
    return SoftAutoEncoder(
        encoder=MLPEncoder(image_shape=image_shape, latent_dim=latent_dim + num_codes),
        decoder=MLPDecoder(image_shape=image_shape, latent_dim=latent_dim),
        quantizer=quantizer, quantizer_weight=quantizer_weight)


# %% book/chapters/a2a_soft_models.md: def cnn_vector_autoencoder, def soft_cnn_autoencoder
def cnn_vector_autoencoder(quantizer: nn.Module | None = None, *, image_shape=(3, 32, 32),
                           latent_dim: int = 256, quantizer_weight: float = 1.0) -> AutoEncoder:
    """Wu & Flierl's Table 2 autoencoder: images in [0, 1] -> one d-vector each, MSE loss.

    Args:
        quantizer: the bottleneck (a quantizer of dim d, a vqlit.bottlenecks module) or None.
        image_shape: (C, H, W) of the images, square with H a multiple of 16.
        latent_dim: d, the latent's length (the paper: 256).
        quantizer_weight: w_q in Eq. (3) of Appendix B, the bottleneck loss's weight.
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
        commitment_weight, noise_std, normalizer, quantizer_weight: as in soft_mlp_autoencoder.
    """
    c, side = image_shape[0], image_shape[-1]
    quantizer = BayesianQuantizer(num_codes=num_codes, dim=latent_dim,
                                  commitment_weight=commitment_weight, noise_std=noise_std,
                                  normalizer=normalizer, learn_var=False)   # the head's variances
    return SoftAutoEncoder(
        encoder=CNNVectorEncoder(in_channels=c, out_dim=latent_dim + num_codes, image_size=side),
        decoder=CNNVectorDecoder(out_channels=c, latent_dim=latent_dim, image_size=side),
        quantizer=quantizer, quantizer_weight=quantizer_weight)


__all__ = ['SoftAutoEncoder', 'soft_mlp_autoencoder', 'cnn_vector_autoencoder', 'soft_cnn_autoencoder']
