# This file is generated from book/chapters/02b_bayes_estimator.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/02b_bayes_estimator.md: LOG_VAR_RANGE, def component_log_likelihood
"""The Bayesian (soft) quantizer of Wu & Flierl: the posterior mean of the codeword under a
Gaussian mixture with one variance per component."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vqlit.vq import (Assignment, Quantizer, QuantizerOutput, init_codebook, squared_distances,
                      vq_loss)

LOG_VAR_RANGE = 30.0   # log-variances are clamped to [-30, 30]: exp(-s) stays finite in float32


def component_log_likelihood(z: Tensor, codebook: Tensor, log_var: Tensor) -> Tensor:
    """log N(z_i; mu_k, exp(s_k) I) for every point and component, Eq. (2.3): (N, K).

    Args:
        z: the noisy codes z'_e, (N, d).
        codebook: the component means mu_k, (K, d).
        log_var: the log-variances s_k = log sigma_k^2, (K,) shared or (N, K) one set per point.
    """
    s = log_var.clamp(-LOG_VAR_RANGE, LOG_VAR_RANGE)                  # (K,) or (N, K)
    d = z.shape[-1]
    dist = squared_distances(z, codebook)                            # (N, K) float32 or float64
    return -0.5 * (dist * torch.exp(-s) + d * s + d * math.log(2 * math.pi))   # (N, K)


# %% book/chapters/02b_bayes_estimator.md: NORMALIZERS, def posterior_logits, def posterior_weights, def bayes_estimate
NORMALIZERS = ("gaussian", "released", "none")


def posterior_logits(z: Tensor, codebook: Tensor, log_var: Tensor,
                     normalizer: str = "gaussian") -> Tensor:
    """The logits l_k of Eq. (2.5), (N, K); their softmax over k is the posterior.

    Args:
        z: the noisy codes z'_e, (N, d).
        codebook: the codewords mu_k, (K, d).
        log_var: the log-variances s_k = log sigma_k^2, (K,) or (N, K); clamped to [-30, 30].
        normalizer: the log-sigma term: "gaussian" subtracts (d/2) log sigma_k^2 (Eq. 5),
            "released" adds log sigma_k (the released code), "none" drops it.
    """
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
    """The posterior weights p(mu_k | z'_e) of Eq. (2.5), (N, K), rows summing to 1.

    Args:
        z: the noisy codes z'_e, (N, d).
        codebook: the codewords mu_k, (K, d).
        log_var: the log-variances s_k = log sigma_k^2, (K,) or (N, K).
        normalizer: the log-sigma term, as in `posterior_logits`.
    """
    return torch.softmax(posterior_logits(z, codebook, log_var, normalizer), dim=-1)


def bayes_estimate(z: Tensor, codebook: Tensor, log_var: Tensor,
                   normalizer: str = "gaussian") -> Tensor:
    """The posterior mean sum_k p(mu_k | z'_e) mu_k of Eq. (2.4), (N, d).

    Args:
        z: the noisy codes z'_e, (N, d).
        codebook: the codewords mu_k, (K, d).
        log_var: the log-variances s_k = log sigma_k^2, (K,) or (N, K).
        normalizer: the log-sigma term, as in `posterior_logits`.
    """
    weights = posterior_weights(z, codebook, log_var, normalizer)     # (N, K)
    return weights @ codebook.to(weights.dtype)                       # (N, d)


# %% book/chapters/02b_bayes_estimator.md: def check_log_var
def check_log_var(log_var: Tensor, batch_shape: torch.Size, quantizer: Quantizer) -> Tensor:
    """log_var as (K,) or (N H, K); a ValueError that names the expected shapes otherwise.

    Args:
        log_var: log sigma_k^2, (K,) shared by all inputs or (..., [H,] K) one set per input.
        batch_shape: the leading shape (...) of the features the variances go with.
        quantizer: the quantizer they are for: its num_codes K, heads H and check_finite.
    """
    if not isinstance(log_var, Tensor) or not log_var.is_floating_point():
        raise ValueError("log_var must be a floating-point tensor of log-variances")
    k, heads = quantizer.num_codes, (quantizer.heads,) if quantizer.heads > 1 else ()
    shapes = (tuple(batch_shape) + heads + (k,), (k,))
    if tuple(log_var.shape) not in shapes:
        raise ValueError(f"log_var must have shape {shapes[0]} (one log-variance per code for "
                         f"each input) or {shapes[1]}, got {tuple(log_var.shape)}")
    if quantizer.check_finite and not torch.isfinite(log_var).all():
        raise ValueError("log_var contains NaN or infinity")
    return log_var if log_var.ndim == 1 else log_var.reshape(-1, k)


# %% book/chapters/02b_bayes_estimator.md: class BayesianQuantizer
class BayesianQuantizer(Quantizer):
    """Wu & Flierl's soft quantizer: the posterior mean of the codeword, Eq. (2.4),
    trained with Eq. (2.6). Variances come from the caller (an encoder head) or are its own.

    Args:
        num_codes: the codebook size K.
        dim: the feature dimension d (the last axis of the input).
        heads: split each feature into this many heads of dim / heads, sharing one codebook.
        codebook_weight: the weight of Eq. (2.6)'s term that trains codewords and variances.
        commitment_weight: beta, the weight of the encoder's term of Eq. (2.6).
        noise_std: the std of the noise eps of z'_e = z_e + eps, in training mode; 0: none.
        log_var: the initial value of the module's own log-variances log sigma_k^2.
        learn_var: train the module's own log-variances (False keeps them fixed).
        normalizer: "gaussian" | "released" | "none", the log-sigma term (`posterior_logits`).
        init: the codebook's initialisation, one of vqlit.vq.INITS (the paper's by default).
        check_finite: reject NaN / inf inputs (one host sync per call).
    """

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1, codebook_weight: float = 1.0,
                 commitment_weight: float = 0.25, noise_std: float = 0.0, log_var: float = 0.0,
                 learn_var: bool = True, normalizer: str = "gaussian", init: str = "unit_scaling",
                 check_finite: bool = True):
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, check_finite=check_finite)
        if normalizer not in NORMALIZERS:
            raise ValueError(f"normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be non-negative, got {noise_std}")
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.noise_std, self.normalizer = noise_std, normalizer
        self.codebook = nn.Parameter(init_codebook(num_codes, self.code_dim, init))  # (K, d/H)
        self.log_var = nn.Parameter(torch.full((num_codes,), float(log_var)),
                                    requires_grad=learn_var)                      # (K,) s_k

    def forward(self, z: Tensor, log_var: Tensor | None = None) -> QuantizerOutput:
        """The estimate (..., d) forward, straight through backward, and the loss (soft-loss).

        Args:
            z: the encoder's output z_e, (..., d).
            log_var: log sigma_k^2 from a head, (K,) or (..., [H,] K); None: the module's own.
        """
        return super().forward(z, log_var=log_var)

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size,
               log_var: Tensor | None = None) -> Assignment:
        """The soft assignment, noise added in training mode (called by `Quantizer.forward`).

        Args:
            flat: the features, (N H, d / H), in the compute dtype.
            codebook: the codewords, (K, d / H), in the same dtype.
            batch_shape: the input's leading shape, to check a per-input log_var against.
            log_var: as in `forward`.
        """
        s = self.log_var if log_var is None else check_log_var(log_var, batch_shape, self)
        if self.training and self.noise_std > 0:
            flat = flat + self.noise_std * torch.randn_like(flat)            # z'_e = z_e + eps
        logits = posterior_logits(flat, codebook, s.to(flat.dtype), self.normalizer)  # (N, K)
        estimate = torch.softmax(logits, -1) @ codebook          # (N, d) Eq. (2.4)
        loss = vq_loss(flat, estimate, codebook_weight=self.codebook_weight,       # (soft-loss)
                       commitment_weight=self.commitment_weight)
        return Assignment(estimate, logits.argmax(-1), loss)     # indices: most probable codes

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, codebook_weight={self.codebook_weight}, "
                f"commitment_weight={self.commitment_weight}, noise_std={self.noise_std}, "
                f"normalizer={self.normalizer!r}, learn_var={self.log_var.requires_grad}")


__all__ = ['LOG_VAR_RANGE', 'component_log_likelihood', 'NORMALIZERS', 'posterior_logits', 'posterior_weights', 'bayes_estimate', 'check_log_var', 'BayesianQuantizer']
