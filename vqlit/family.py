# This file is generated from book/chapters/05a_the_map.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/05a_the_map.md: class BalancedSoftQuantizer
"""The soft and balanced corner of the family: the posterior mean under a balanced plan."""
from __future__ import annotations

import torch
from torch import Tensor

from vqlit.sinkhorn import SinkhornSolver, uniform_marginals
from vqlit.vq import Assignment, Quantizer, squared_distances, vq_loss


class BalancedSoftQuantizer(Quantizer):
    """Eq. (5.3): the mean of the codes under the balanced entropic plan of the squared
    distances; trained by Eq. (1.7) on that mean. balanced=False: Soft VQ, equal variances.
    """

    def __init__(self, *, temperature: float = 0.1,  # tau, Eq. (5.1)
                 normalize: bool = True,            # tau relative to the cost's spread
                 balanced: bool = True,             # impose the columns (uniform code shares)
                 iters: int = 20,                   # Sinkhorn iterations, log domain
                 codebook_weight: float = 1.0,      # Eq. (1.7)
                 commitment_weight: float = 0.25,
                 init: str = "normal",              # one of vqlit.vq.INITS
                 **common):                         # num_codes, dim, heads, ... (Quantizer)
        super().__init__(init=init, **common)                                     # (K, d/H)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature, self.balanced = temperature, balanced
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.solver = SinkhornSolver(epsilon=1 / temperature, iters=iters, normalize=normalize)

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


__all__ = ['BalancedSoftQuantizer']
