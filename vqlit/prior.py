# This file is generated from book/chapters/06a_pixelcnn.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/06a_pixelcnn.md: def check_grid, def check_labels
"""Priors over grids of code indices: the Gated PixelCNN of van den Oord et al. (2016), as VQ-WAE's
released code trains it over its 8x8 grids, and drawing new grids from a prior."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def check_grid(codes: Tensor, num_codes: int, *, shape: tuple[int, int] | None = None) -> None:
    """Refuse a grid of code indices that a prior cannot read, before it reaches an embedding
    (an index out of range would stop a CUDA context).

    Args:
        codes: the grids, (B, h, w), of integer code indices.
        num_codes: K; every index must lie in [0, K).
        shape: the (h, w) the prior was built for; None accepts any.
    """
    if codes.ndim != 3 or codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError(f"expected code grids (B, h, w) of integer indices, got a "
                         f"{codes.dtype} tensor of shape {tuple(codes.shape)}")
    if shape is not None and tuple(codes.shape[1:]) != tuple(shape):
        raise ValueError(f"expected grids of shape {tuple(shape)}, got {tuple(codes.shape[1:])}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= num_codes):
        raise ValueError(f"code indices must lie in [0, {num_codes}), got "
                         f"[{int(codes.min())}, {int(codes.max())}]")


def check_labels(labels: Tensor | None, num_classes: int, batch: int) -> None:
    """Refuse class labels that a prior cannot read, or labels given to an unconditional prior.

    Args:
        labels: one class index per grid, (B,), or None.
        num_classes: the prior's number of classes; 0 for an unconditional prior.
        batch: B, the number of grids the labels go with.
    """
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this prior is unconditional (num_classes=0): pass no labels")
        return
    if labels is None:
        raise ValueError(f"this prior is class-conditional: pass labels (B,) in [0, {num_classes})")
    if tuple(labels.shape) != (batch,) or labels.dtype.is_floating_point:
        raise ValueError(f"expected integer labels of shape ({batch},), got a {labels.dtype} "
                         f"tensor of shape {tuple(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"class labels must lie in [0, {num_classes}), got "
                         f"[{int(labels.min())}, {int(labels.max())}]")


# %% book/chapters/06a_pixelcnn.md: def gate, class GatedLayer
def gate(x: Tensor) -> Tensor:
    """The gated activation of Eq. (6.3): tanh of the first half of the channels times the
    sigmoid of the second half.

    Args:
        x: pre-activations, (B, 2C, h, w).
    """
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One layer of the Gated PixelCNN: a vertical stack that sees the rows above and a horizontal
    stack that sees the row to the left, Eq. (6.3).

    Args:
        channels: C, the channels of both stacks.
        kernel: k, the odd kernel width (the paper's 3 after the first layer).
        first: mask A (the horizontal stack does not see the current position, no residual);
            False: mask B, with a residual connection.
        num_classes: classes of the conditional bias; 0 for none.
    """

    def __init__(self, *, channels: int, kernel: int = 3, first: bool = False,
                 num_classes: int = 0):
        super().__init__()
        if kernel < 3 or kernel % 2 == 0:
            raise ValueError(f"kernel must be an odd integer >= 3, got {kernel}")
        self.half, self.first = kernel // 2, first
        self.vertical = nn.Conv2d(channels, 2 * channels, (self.half + 1, kernel))
        self.horizontal = nn.Conv2d(channels, 2 * channels, (1, self.half + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.label_bias = nn.Embedding(num_classes, 4 * channels) if num_classes else None

    def forward(self, v: Tensor, h: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step of both stacks.

        Args:
            v: the vertical stack, (B, C, h, w).
            h: the horizontal stack, (B, C, h, w).
            labels: class indices (B,) when the layer is conditional, else None.
        """
        rows, cols = v.shape[-2:]
        v_pre = self.vertical(F.pad(v, (self.half, self.half, self.half, 0)))  # reads rows <= i
        h_pre = self.horizontal(F.pad(h, (self.half, 0)))                      # reads cols <= j
        if self.first:
            h_pre = F.pad(h_pre, (1, 0))[..., :cols]                            # mask A: cols < j
        h_pre = h_pre + self.v_to_h(F.pad(v_pre, (0, 0, 1, 0))[:, :, :rows])   # rows < i only
        if self.label_bias is not None:
            bias_v, bias_h = self.label_bias(labels)[:, :, None, None].chunk(2, dim=1)
            v_pre, h_pre = v_pre + bias_v, h_pre + bias_h
        h_new = self.h_out(gate(h_pre))
        return gate(v_pre), (h_new if self.first else h + h_new)


# %% book/chapters/06a_pixelcnn.md: class GatedPixelCNN
class GatedPixelCNN(nn.Module):
    """An autoregressive prior over (h, w) grids of K codes, Eq. (6.2).

    Args:
        num_codes: K, the codebook size of the autoencoder whose grids it models.
        shape: (h, w), the grid it models (VQ-WAE's: 8 x 8).
        channels: C, the channels of both stacks.
        layers: gated layers; too few leave earlier positions out of reach (8 x 8 grids with
            kernel 3 need 7, measured on the page that derives it).
        kernel: k, the odd kernel width of every layer.
        num_classes: classes of a class-conditional prior; 0 for an unconditional one.
    """

    def __init__(self, *, num_codes: int, shape: tuple[int, int] = (8, 8), channels: int = 64,
                 layers: int = 12, kernel: int = 3, num_classes: int = 0):
        super().__init__()
        if num_codes < 2 or layers < 1 or channels < 1 or num_classes < 0 or min(shape) < 1:
            raise ValueError(f"need num_codes >= 2, layers >= 1, channels >= 1, num_classes >= 0 "
                             f"and a positive shape, got num_codes={num_codes}, layers={layers}, "
                             f"channels={channels}, num_classes={num_classes}, shape={shape}")
        self.num_codes, self.shape, self.num_classes = num_codes, tuple(shape), num_classes
        self.embed = nn.Embedding(num_codes, channels)
        self.layers = nn.ModuleList(
            GatedLayer(channels=channels, kernel=kernel, first=i == 0, num_classes=num_classes)
            for i in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                  nn.Conv2d(channels, num_codes, 1))

    def logits_of_embedding(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """The logits from embedded grids (what `forward` runs after the checks and the embedding).

        Args:
            x: embedded grids, (B, C, h, w).
            labels: class indices (B,) for a conditional prior, else None.

        Returns:
            Logits (B, K, h, w); position t depends only on the positions before t.
        """
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, labels)
        return self.head(h)

    def forward(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits of every position given the positions before it.

        Args:
            codes: grids of code indices, (B, h, w), each in [0, K).
            labels: class indices (B,) for a conditional prior, else None.

        Returns:
            Logits (B, K, h, w).
        """
        check_grid(codes, self.num_codes, shape=self.shape)
        check_labels(labels, self.num_classes, codes.shape[0])
        return self.logits_of_embedding(self.embed(codes).permute(0, 3, 1, 2), labels)

    def log_prob(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """log p(c) of each grid in nats, Eq. (6.2): the sum of its conditionals.

        Args:
            codes: grids of code indices, (B, h, w).
            labels: class indices (B,) for a conditional prior, else None.

        Returns:
            (B,) log-likelihoods.
        """
        logits = self(codes, labels)                                       # (B, K, h, w)
        return -F.cross_entropy(logits, codes, reduction="none").flatten(1).sum(1)

    def extra_repr(self) -> str:
        return (f"num_codes={self.num_codes}, shape={self.shape}, layers={len(self.layers)}, "
                f"num_classes={self.num_classes}")


# %% book/chapters/06a_pixelcnn.md: def sample_codes, def sample_grids
def sample_codes(logits: Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """One code per row of logits, drawn from softmax(logits / temperature) over the top_k.

    Args:
        logits: (N, K) unnormalised log-probabilities.
        temperature: T > 0 divides the logits; 0 takes the most likely code.
        top_k: keep only the k largest logits of each row; None keeps all.
        generator: the random generator of the draw (on the logits' device).

    Returns:
        (N,) code indices.
    """
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and not 1 <= top_k <= logits.shape[-1]:
        raise ValueError(f"top_k must lie in [1, {logits.shape[-1]}], got {top_k}")
    if temperature == 0 or top_k == 1:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]                   # (N, 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


@torch.no_grad()
def sample_grids(prior: GatedPixelCNN, num: int, *, labels: Tensor | None = None,
                 temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """New grids from a prior, drawn position by position in raster order (h * w passes).

    Args:
        prior: the trained prior; its device is used.
        num: how many grids to draw.
        labels: the class of each grid, (num,), for a conditional prior; else None.
        temperature: T of `sample_codes`.
        top_k: k of `sample_codes`; None keeps every code.
        generator: the random generator of the draws (on the prior's device).

    Returns:
        (num, h, w) code indices.
    """
    device = next(prior.parameters()).device
    labels = None if labels is None else labels.to(device)
    check_labels(labels, prior.num_classes, num)
    rows, cols = prior.shape
    codes = torch.zeros(num, rows, cols, dtype=torch.long, device=device)
    was_training = prior.training
    prior.eval()
    for t in range(rows * cols):
        logits = prior(codes, labels)[:, :, t // cols, t % cols]             # (num, K)
        codes[:, t // cols, t % cols] = sample_codes(logits, temperature=temperature,
                                                     top_k=top_k, generator=generator)
    prior.train(was_training)
    return codes


__all__ = ['check_grid', 'check_labels', 'gate', 'GatedLayer', 'GatedPixelCNN', 'sample_codes', 'sample_grids']
