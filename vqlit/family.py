# This file is generated from book/chapters/05_family.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/05_family.md:336
"""The soft and balanced corner of the family: the posterior mean under a balanced plan."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from vqlit.sinkhorn import SinkhornSolver, uniform_marginals
from vqlit.vq import Assignment, Quantizer, init_codebook, squared_distances, vq_loss


class BalancedSoftQuantizer(Quantizer):
    """Eq. (family-corner): the mean of the codes under the balanced entropic plan of the squared
    distances; trained by Eq. (vqvae-loss) on that mean. balanced=False: Soft VQ, equal variances.
    """

    def __init__(self, *, num_codes: int, dim: int, heads: int = 1,
                 temperature: float = 0.1,          # tau, Eq. (family-plan)
                 normalize: bool = True,            # tau relative to the cost's spread
                 balanced: bool = True,             # impose the columns (uniform code shares)
                 iters: int = 20,                   # Sinkhorn iterations, log domain
                 codebook_weight: float = 1.0,      # Eq. (vqvae-loss)
                 commitment_weight: float = 0.25,
                 init: str = "normal",              # one of vqlit.vq.INITS
                 check_finite: bool = True):
        super().__init__(num_codes=num_codes, dim=dim, heads=heads, check_finite=check_finite)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature, self.balanced = temperature, balanced
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.solver = SinkhornSolver(epsilon=1 / temperature, iters=iters, normalize=normalize)
        self.codebook = nn.Parameter(init_codebook(num_codes, self.code_dim, init))  # (K, d/H)

    def weights(self, flat: Tensor, codebook: Tensor) -> Tensor:
        """The rows of the plan as probabilities, P_ik / a_i: (N, d), (K, d) -> (N, K)."""
        cost = squared_distances(flat.detach(), codebook.detach())                # (N, K)
        if not self.balanced:                                                     # rows only
            scale = cost.std() + 1e-6 if self.solver.normalize else 1.0
            return torch.softmax(-cost / (self.temperature * scale), -1)          # (family-rows)
        a, b = uniform_marginals(cost)
        plan = self.solver(cost, a, b)                                            # (N, K)
        return plan / plan.sum(-1, keepdim=True)

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        weights = self.weights(flat, codebook).to(flat.dtype)                     # (N H, K)
        estimate = weights @ codebook                                 # (N H, d/H) (family-corner)
        loss = vq_loss(flat, estimate, codebook_weight=self.codebook_weight,
                       commitment_weight=self.commitment_weight)
        return Assignment(estimate, weights.argmax(-1), loss)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, temperature={self.temperature}, "
                f"balanced={self.balanced}, solver={self.solver!r}, "
                f"codebook_weight={self.codebook_weight}, "
                f"commitment_weight={self.commitment_weight}")


__all__ = ['BalancedSoftQuantizer']
