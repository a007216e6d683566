# This file is generated from book/chapters/06b_transformer.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/06b_transformer.md: KV, Cache, def causal_attention
"""A causal transformer prior over grids of code indices, the second stage of Esser et al. (2021),
with a key/value cache that samples a grid one position at a time."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vqlit.prior import check_grid, check_labels, sample_codes

KV = tuple[Tensor, Tensor]      # the keys and the values (B, H, S, D / H) of S positions
Cache = list[KV]                # one KV per block


def causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Attention (B, H, n, d) under the causal mask of Eq. (6.6), written out: each
    query's softmax-weighted values of the positions up to its own.

    Args:
        q: queries, (B, H, n, d), of the last n positions S - n, ..., S - 1.
        k: keys, (B, H, S, d), of the positions 0, ..., S - 1.
        v: values, (B, H, S, d), of the same positions.
    """
    n, length = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])                # (B, H, n, S)
    later = torch.ones(n, length, dtype=torch.bool, device=q.device).triu(length - n + 1)
    return scores.masked_fill(later, -math.inf).softmax(-1) @ v


# %% book/chapters/06b_transformer.md: class CausalSelfAttention, class Block
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, Eq. (6.6), that can extend a key/value cache.

    Args:
        dim: D, the width of the residual stream.
        heads: H; D must be a multiple of H, each head has D / H dimensions.
    """

    def __init__(self, *, dim: int, heads: int):
        super().__init__()
        if heads < 1 or dim < 1 or dim % heads:
            raise ValueError(f"dim must be a positive multiple of heads, got {dim=}, {heads=}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, past: KV | None = None) -> tuple[Tensor, KV]:
        """The output (B, n, D) of n new positions attending over the S0 earlier ones and
        themselves, and the keys and values (B, H, S0 + n, D / H) of all positions.

        Args:
            x: the new positions' inputs, (B, n, D).
            past: keys and values (B, H, S0, D / H) of the S0 earlier positions; None for none.
        """
        batch, n, dim = x.shape
        q, k, v = (t.reshape(batch, n, self.heads, -1).transpose(1, 2)
                   for t in self.qkv(x).chunk(3, dim=-1))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        out = causal_attention(q, k, v).transpose(1, 2).reshape(batch, n, dim)
        return self.out(out), (k, v)


class Block(nn.Module):
    """A pre-LayerNorm transformer block, Eq. (6.7): attention, then an MLP.

    Args:
        dim: D, the width of the residual stream.
        heads: H, the attention heads; D must be a multiple of H.
        mlp_ratio: the MLP's hidden width as a multiple of D.
    """

    def __init__(self, *, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = CausalSelfAttention(dim=dim, heads=heads)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: Tensor, past: KV | None = None) -> tuple[Tensor, KV]:
        """The new residual stream (B, n, D) of n new positions, and the keys and values of all.

        Args:
            x: the residual stream of the new positions, (B, n, D).
            past: this block's keys and values of the earlier positions; None for none.
        """
        attended, kv = self.attention(self.norm1(x), past)
        x = x + attended
        return x + self.mlp(self.norm2(x)), kv


# %% book/chapters/06b_transformer.md: class CausalDecoder
class CausalDecoder(nn.Module):
    """A decoder-only transformer over sequences of up to `length` positions: learned positions,
    blocks of Eq. (6.7), a final LayerNorm and K logits per position.

    Args:
        length: T, the longest sequence (the prior's h * w).
        dim: D, the width of the residual stream.
        layers: the number of blocks.
        heads: H, the attention heads of each block; D must be a multiple of H.
        num_outputs: K, the logits per position.
        mlp_ratio: the MLP's hidden width as a multiple of D.
    """

    def __init__(self, *, length: int, dim: int, layers: int, heads: int, num_outputs: int,
                 mlp_ratio: int = 4):
        super().__init__()
        self.position = nn.Parameter(0.02 * torch.randn(length, dim))
        self.blocks = nn.ModuleList(Block(dim=dim, heads=heads, mlp_ratio=mlp_ratio)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_outputs)

    def decode(self, x: Tensor, cache: Cache | None = None) -> tuple[Tensor, Cache]:
        """Logits (B, n, K) of n new positions given the cache of the S0 before them, and the
        cache of all S0 + n positions.

        Args:
            x: the new positions' inputs, (B, n, D), without their position vectors.
            cache: what an earlier call returned, for the S0 earlier positions; None: S0 = 0.
        """
        done = 0 if cache is None else cache[0][0].shape[2]
        if done + x.shape[1] > len(self.position):
            raise ValueError(f"{done} cached + {x.shape[1]} new positions exceed the "
                             f"{len(self.position)} the decoder was built for")
        x = x + self.position[done:done + x.shape[1]]
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new.append(kv)
        return self.head(self.norm(x)), new


# %% book/chapters/06b_transformer.md: class CausalTransformerPrior
class CausalTransformerPrior(nn.Module):
    """A causal transformer prior over (h, w) grids of K codes in raster order, Eq. (6.2)
    with the inputs of Eq. (6.5): the contract of `vqlit.prior.GatedPixelCNN`.

    Args:
        num_codes: K, the codebook size of the autoencoder whose grids it models.
        shape: (h, w), the grid it models; it learns h * w position vectors.
        dim: D, the width of the residual stream.
        layers: transformer blocks, Eq. (6.7).
        heads: H, attention heads per block; D must be a multiple of H.
        num_classes: classes of a conditional prior (a start token each); 0: unconditional.
        mlp_ratio: the MLP's hidden width as a multiple of D.
    """

    def __init__(self, *, num_codes: int, shape: tuple[int, int] = (8, 8), dim: int = 128,
                 layers: int = 4, heads: int = 4, num_classes: int = 0, mlp_ratio: int = 4):
        super().__init__()
        if (num_codes < 2 or layers < 1 or heads < 1 or dim < 1 or dim % heads or mlp_ratio < 1
                or num_classes < 0 or len(shape) != 2 or min(shape) < 1):
            raise ValueError(f"need num_codes >= 2, layers >= 1, dim a positive multiple of heads, "
                             f"mlp_ratio >= 1, num_classes >= 0 and a positive (h, w), got "
                             f"{num_codes=}, {layers=}, {dim=}, {heads=}, {mlp_ratio=}, "
                             f"{num_classes=}, {shape=}")
        self.num_codes, self.shape, self.num_classes = num_codes, tuple(shape), num_classes
        self.embed = nn.Embedding(num_codes, dim)
        self.start = nn.Embedding(max(num_classes, 1), dim)
        self.decoder = CausalDecoder(length=shape[0] * shape[1], dim=dim, layers=layers,
                                     heads=heads, num_outputs=num_codes, mlp_ratio=mlp_ratio)

    def start_token(self, labels: Tensor | None, batch: int) -> Tensor:
        """The first input of Eq. (6.5), (B, 1, D), without its position.

        Args:
            labels: class indices (B,) for a conditional prior, else None (the one start token).
            batch: B, the number of sequences.
        """
        if labels is None:
            labels = torch.zeros(batch, dtype=torch.long, device=self.start.weight.device)
        return self.start(labels)[:, None]

    def logits_of_embedding(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits (B, h * w, K) from embedded grids, position t from x[:, :t] only (what
        `forward` runs after the checks and the embedding).

        Args:
            x: embedded codes, (B, h * w, D), in raster order.
            labels: class indices (B,) for a conditional prior, else None.
        """
        inputs = torch.cat([self.start_token(labels, len(x)), x[:, :-1]], dim=1)
        return self.decoder.decode(inputs)[0]

    def forward(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits (B, K, h, w) of every position given the positions before it.

        Args:
            codes: grids of code indices, (B, h, w), each in [0, K).
            labels: class indices (B,) for a conditional prior, else None.
        """
        check_grid(codes, self.num_codes, shape=self.shape)
        check_labels(labels, self.num_classes, codes.shape[0])
        logits = self.logits_of_embedding(self.embed(codes.flatten(1)), labels)   # (B, hw, K)
        return logits.transpose(1, 2).reshape(len(codes), self.num_codes, *self.shape)

    def log_prob(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """log p(c) of each grid, (B,), in nats, Eq. (6.2): the sum of its conditionals.

        Args:
            codes: grids of code indices, (B, h, w).
            labels: class indices (B,) for a conditional prior, else None.
        """
        logits = self(codes, labels)                                       # (B, K, h, w)
        return -nn.functional.cross_entropy(logits, codes, reduction="none").flatten(1).sum(1)


# %% book/chapters/06b_transformer.md: def sample_grids_cached
@torch.no_grad()
def sample_grids_cached(prior: CausalTransformerPrior, num: int, *, labels: Tensor | None = None,
                        temperature: float = 1.0, top_k: int | None = None,
                        generator: torch.Generator | None = None) -> Tensor:
    """New grids (num, h, w) from a transformer prior, one position per step over a key/value
    cache, Eq. (6.8).

    Args:
        prior: the trained prior; its device is used.
        num: how many grids to draw.
        labels: the class of each grid, (num,), for a conditional prior; else None.
        temperature: T of `vqlit.prior.sample_codes`; 0 takes the most likely code.
        top_k: k of `vqlit.prior.sample_codes`; None keeps every code.
        generator: the random generator of the draws (on the prior's device).
    """
    device = next(prior.parameters()).device
    labels = None if labels is None else labels.to(device)
    check_labels(labels, prior.num_classes, num)
    codes = torch.zeros(num, math.prod(prior.shape), dtype=torch.long, device=device)
    was_training = prior.training
    prior.eval()
    x, cache = prior.start_token(labels, num), None                          # (num, 1, D)
    for t in range(codes.shape[1]):
        logits, cache = prior.decoder.decode(x, cache)                        # (num, 1, K)
        codes[:, t] = sample_codes(logits[:, -1], temperature=temperature, top_k=top_k,
                                   generator=generator)
        x = prior.embed(codes[:, t:t + 1])
    prior.train(was_training)
    return codes.reshape(num, *prior.shape)


__all__ = ['KV', 'Cache', 'causal_attention', 'CausalSelfAttention', 'Block', 'CausalDecoder', 'CausalTransformerPrior', 'sample_grids_cached']
