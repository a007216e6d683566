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
    distances; trained by Eq. (1.7) on that mean, with the plan's weights held fixed.

    Args:
        temperature: tau of Eq. (5.1), positive; smaller is closer to the exact balanced
            assignment.
        normalize: divide the cost by its standard deviation first, so that tau is relative to
            the cost's spread (as OptVQ); False: tau in the cost's own units.
        balanced: impose the columns (every code a share 1/K of the batch); False: the rows-only
            softmax, whose forward values are Soft VQ's with equal variances tau / 2.
        iters: Sinkhorn iterations of the log-domain solver, at least 1.
        codebook_weight: the weight of the codebook term of Eq. (1.7).
        commitment_weight: beta, the weight of the commitment term of Eq. (1.7).
        init: the codebook's start, one of vqlit.vq.INITS.
        common: num_codes (K), dim (d), heads, kmeans_init, check_finite: as for `Quantizer`.
    """

    def __init__(self, *, temperature: float = 0.1, normalize: bool = True,
                 balanced: bool = True, iters: int = 20, codebook_weight: float = 1.0,
                 commitment_weight: float = 0.25, init: str = "normal", **common):
        super().__init__(init=init, **common)                                     # (K, d/H)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature, self.balanced = temperature, balanced
        self.codebook_weight, self.commitment_weight = codebook_weight, commitment_weight
        self.solver = SinkhornSolver(epsilon=1 / temperature, iters=iters, normalize=normalize)

    def weights(self, flat: Tensor, codebook: Tensor) -> Tensor:
        """The rows of the plan as probabilities, P_ik / a_i, (N, K), computed without gradient.

        Args:
            flat: the features, (N, d).
            codebook: the codes, (K, d).
        """
        cost = squared_distances(flat.detach(), codebook.detach())                # (N, K)
        if not self.balanced:                                                     # rows only
            scale = cost.std() + 1e-6 if self.solver.normalize else 1.0
            return torch.softmax(-cost / (self.temperature * scale), -1)          # (family-rows)
        a, b = uniform_marginals(cost)
        plan = self.solver(cost, a, b)                                            # (N, K)
        return plan / plan.sum(-1, keepdim=True)

    def assign(self, flat: Tensor, codebook: Tensor, batch_shape: torch.Size) -> Assignment:
        """The posterior mean under the plan, Eq. (5.3), and its loss.

        Args:
            flat: the features, (N H, d/H), one row per head.
            codebook: the codes, (K, d/H), in the features' dtype.
            batch_shape: the input's leading shape; unused (every row is assigned in one plan).

        Returns:
            The means (N H, d/H), each row's largest weight as its index (N H,), and
            Eq. (1.7) on the means.
        """
        weights = self.weights(flat, codebook).to(flat.dtype)                     # (N H, K)
        estimate = weights @ codebook                                 # (N H, d/H) (family-corner)
        loss = vq_loss(flat, estimate, codebook_weight=self.codebook_weight,
                       commitment_weight=self.commitment_weight)
        return Assignment(estimate, weights.argmax(-1), loss)


__all__ = ['BalancedSoftQuantizer']
