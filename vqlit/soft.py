# This file is generated from book/chapters/02_soft_vq.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/02_soft_vq.md:270
"""The Bayesian (soft) quantizer of Wu & Flierl: the posterior mean of the codeword under a
Gaussian mixture with one variance per component, and the soft VQ-VAE built around it."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.metrics import codebook_stats
from vqlit.models import AutoEncoder, AutoEncoderOutput, MLPDecoder, MLPEncoder
from vqlit.vq import Quantizer, QuantizerOutput, _compute_dtype, squared_distances, straight_through

LOG_VAR_RANGE = 30.0   # log-variances are clamped to [-30, 30]: exp(-s) stays finite in float32


def component_log_likelihood(z: Tensor, codebook: Tensor, log_var: Tensor) -> Tensor:
    """log N(z_i; mu_k, exp(s_k) I), Eq. (soft-gauss): (N, d), (K, d), (K,) or (N, K) -> (N, K)."""
    s = log_var.clamp(-LOG_VAR_RANGE, LOG_VAR_RANGE)                  # (K,) or (N, K)
    d = z.shape[-1]
    dist = squared_distances(z, codebook)                            # (N, K) float32 or float64
    return -0.5 * (dist * torch.exp(-s) + d * s + d * math.log(2 * math.pi))   # (N, K)


# %% book/chapters/02_soft_vq.md:362
NORMALIZERS = ("gaussian", "released", "none")


def posterior_logits(z: Tensor, codebook: Tensor, log_var: Tensor,
                     normalizer: str = "gaussian") -> Tensor:
    """l_k of Eq. (soft-weights): (N, d), (K, d), (K,) or (N, K) -> (N, K)."""
    if normalizer not in NORMALIZERS:
        raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
    s = log_var.clamp(-LOG_VAR_RANGE, LOG_VAR_RANGE)                  # (K,) or (N, K)
    logits = -0.5 * squared_distances(z, codebook) * torch.exp(-s)    # (N, K) -|z - mu|^2 / 2 s^2
    if normalizer == "gaussian":
        logits = logits - 0.5 * z.shape[-1] * s                       # - (d/2) log sigma^2, Eq. (5)
    elif normalizer == "released":
        logits = logits + 0.5 * s                                     # + log sigma (released code)
    return logits


def posterior_weights(z: Tensor, codebook: Tensor, log_var: Tensor,
                      normalizer: str = "gaussian") -> Tensor:
    """p(mu_k | z'), Eq. (soft-weights): (N, d), (K, d), (K,) or (N, K) -> (N, K), rows sum to 1."""
    return torch.softmax(posterior_logits(z, codebook, log_var, normalizer), dim=-1)


def bayes_estimate(z: Tensor, codebook: Tensor, log_var: Tensor,
                   normalizer: str = "gaussian") -> Tensor:
    """The posterior mean sum_k p(mu_k | z') mu_k, Eq. (soft-estimator): (N, d) -> (N, d)."""
    weights = posterior_weights(z, codebook, log_var, normalizer)     # (N, K)
    return weights @ codebook.to(weights.dtype)                       # (N, d)


# %% book/chapters/02_soft_vq.md:768
def unit_scaling(num_codes: int, dim: int, *, generator: torch.Generator | None = None) -> Tensor:
    """A codebook drawn by 'uniform unit scaling' (the paper's init): U(-sqrt(3/d), sqrt(3/d)),
    so each code has expected squared norm 1: -> (K, d)."""
    bound = math.sqrt(3.0 / dim)
    return (torch.rand(num_codes, dim, generator=generator) * 2 - 1) * bound


class BayesianQuantizer(Quantizer):
    """Wu & Flierl's soft quantizer: the posterior mean of the codeword, Eq. (soft-estimator),
    trained with Eq. (soft-loss). Variances come from the caller (an encoder head) or are its own.
    """

    def __init__(self, *, num_codes: int, dim: int,
                 beta: float = 0.25,            # commitment weight in Eq. (soft-loss)
                 noise_std: float = 0.0,        # std of the latent noise added in training mode
                 log_var: float = 0.0,          # initial value of the module's own log sigma_k^2
                 learn_var: bool = True,        # train the module's own log-variances
                 normalizer: str = "gaussian",  # log-sigma term: "gaussian" | "released" | "none"
                 init: str = "unit_scaling",    # codebook init: "unit_scaling" | "normal"
                 check_finite: bool = True):    # reject NaN / inf inputs (one host sync per call)
        super().__init__(num_codes=num_codes, dim=dim, check_finite=check_finite)
        if normalizer not in NORMALIZERS:
            raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
        if init not in ("unit_scaling", "normal"):
            raise ValueError(f"init must be 'unit_scaling' or 'normal', got {init!r}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be non-negative, got {noise_std}")
        self.beta, self.noise_std, self.normalizer = beta, noise_std, normalizer
        codes = (unit_scaling(num_codes, dim) if init == "unit_scaling"
                 else torch.randn(num_codes, dim))
        self.codebook = nn.Parameter(codes)                                       # (K, d)
        self.log_var = nn.Parameter(torch.full((num_codes,), float(log_var)),
                                    requires_grad=learn_var)                      # (K,) s_k

    def _check_log_var(self, log_var: Tensor, z: Tensor) -> None:
        if not isinstance(log_var, Tensor) or not log_var.is_floating_point():
            raise ValueError("log_var must be a floating-point tensor of log-variances")
        shapes = (tuple(z.shape[:-1]) + (self.num_codes,), (self.num_codes,))
        if tuple(log_var.shape) not in shapes:
            raise ValueError(f"log_var must have shape {shapes[0]} (one log-variance per code for "
                             f"each input) or {shapes[1]}, got {tuple(log_var.shape)}")
        if self.check_finite and not torch.isfinite(log_var).all():
            raise ValueError("log_var contains NaN or infinity")

    def forward(self, z: Tensor, log_var: Tensor | None = None) -> QuantizerOutput:
        """z: (..., d); log_var: None, (K,) or (..., K) log sigma_k^2 for each input."""
        self.check(z)
        if log_var is not None:
            self._check_log_var(log_var, z)
        with torch.autocast(z.device.type, enabled=False):
            dtype = _compute_dtype(z)
            flat = z.reshape(-1, self.dim).to(dtype)                                 # (N, d) z_e
            if self.training and self.noise_std > 0:
                flat = flat + self.noise_std * torch.randn_like(flat)        # z'_e = z_e + eps
            s = (self.log_var if log_var is None else log_var.reshape(-1, self.num_codes))
            codebook = self.codebook.to(dtype)                                       # (K, d)
            logits = posterior_logits(flat, codebook, s.to(dtype), self.normalizer)  # (N, K)
            estimate = torch.softmax(logits, -1) @ codebook      # (N, d) Eq. (soft-estimator)
            indices = logits.argmax(-1)                          # (N,) most probable codeword
            loss = (F.mse_loss(estimate, flat.detach())                   # codebook and variances
                    + self.beta * F.mse_loss(flat, estimate.detach()))    # commitment, (soft-loss)
            quantized = straight_through(flat, estimate)                  # decoder input, (ste)
        return QuantizerOutput(quantized.view(z.shape).to(z.dtype), indices.view(z.shape[:-1]),
                               loss, codebook_stats(indices, self.num_codes))

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, dim={self.dim}, beta={self.beta}, "
                f"noise_std={self.noise_std}, normalizer={self.normalizer!r}")


# %% book/chapters/02_soft_vq.md:882
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
                         beta: float = 2.5, noise_std: float = 0.0, quantizer_weight: float = 1.0,
                         normalizer: str = "gaussian") -> SoftAutoEncoder:
    """Wu & Flierl's soft VQ-VAE for MNIST: MLP encoder with a head of K log-variances."""
    quantizer = BayesianQuantizer(num_codes=num_codes, dim=latent_dim, beta=beta,
                                  noise_std=noise_std, normalizer=normalizer,
                                  learn_var=False)            # the head supplies the variances
    return SoftAutoEncoder(
        encoder=MLPEncoder(image_shape=image_shape, latent_dim=latent_dim + num_codes),
        decoder=MLPDecoder(image_shape=image_shape, latent_dim=latent_dim),
        quantizer=quantizer, quantizer_weight=quantizer_weight)


__all__ = ['LOG_VAR_RANGE', 'component_log_likelihood', 'NORMALIZERS', 'posterior_logits', 'posterior_weights', 'bayes_estimate', 'unit_scaling', 'BayesianQuantizer', 'SoftAutoEncoder', 'soft_mlp_autoencoder']
