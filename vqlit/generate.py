# This file is generated from book/chapters/06c_real_codes.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/06c_real_codes.md: def grid_quantizer, def encode_grids
"""The second stage on real codes: the code grids of a trained VQ autoencoder and back, images
tiled into one picture, and a prior's bits per image."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vqlit.prior import GatedPixelCNN, check_grid, check_labels


def grid_quantizer(model: nn.Module) -> nn.Module:
    """The model's quantizer, refused unless it is a one-head codebook quantizer.

    Args:
        model: an autoencoder with encode, decode and a quantizer with a codebook (lookup).
    """
    quantizer = getattr(model, "quantizer", None)
    if quantizer is None or not hasattr(quantizer, "lookup") or not hasattr(model, "decode"):
        raise ValueError(f"{type(model).__name__} is not a VQ autoencoder: it needs encode, a "
                         "quantizer with a codebook (lookup) and decode")
    if getattr(quantizer, "heads", 1) != 1:
        raise ValueError(f"the quantizer has {quantizer.heads} heads; a grid holds one code per "
                         "position, so only one-head quantizers are supported")
    return quantizer


@torch.no_grad()
def encode_grids(model: nn.Module, images: Tensor, *, batch_size: int = 256) -> Tensor:
    """The grid of nearest-code indices of each image, (N, h, w) int64 on the CPU, as the trained
    autoencoder assigns them.

    Args:
        model: a VQ autoencoder (encode, a one-head quantizer, decode), e.g. a registry model.
        images: (N, C, H, W), uint8 in [0, 255] or floating point in [0, 1].
        batch_size: images encoded at once; changes memory, not the result.
    """
    quantizer = grid_quantizer(model)
    if images.ndim != 4 or not len(images) or batch_size < 1:
        raise ValueError(f"expected images (N, C, H, W), N >= 1, and batch_size >= 1, got "
                         f"shape {tuple(images.shape)} and batch_size {batch_size}")
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    grids = []
    for batch in images.split(batch_size):
        x = batch.to(device).float() / (255 if batch.dtype == torch.uint8 else 1)
        indices = quantizer(model.encode(x)).indices
        if indices.ndim != 3:
            raise ValueError(f"the encoder gives indices of shape {tuple(indices.shape)}, not "
                             "a grid (B, h, w)")
        grids.append(indices.cpu())
    model.train(was_training)
    return torch.cat(grids)


# %% book/chapters/06c_real_codes.md: def decode_grids, def tile_images
@torch.no_grad()
def decode_grids(model: nn.Module, grids: Tensor, *, batch_size: int = 256) -> Tensor:
    """Images from grids of code indices, the decoder applied to their codebook vectors: (N, C, H,
    W) floats clamped to [0, 1], on the CPU.

    Args:
        model: the VQ autoencoder whose codebook the indices point into.
        grids: (N, h, w) integer code indices in [0, K).
        batch_size: grids decoded at once; changes memory, not the result.
    """
    quantizer = grid_quantizer(model)
    check_grid(grids, quantizer.num_codes)
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    out = [model.decode(quantizer.lookup(batch.to(device))).clamp(0, 1).cpu()
           for batch in grids.split(max(batch_size, 1))]
    model.train(was_training)
    return torch.cat(out)


def tile_images(images: Tensor, *, rows: int) -> Tensor:
    """Images laid out as one RGB picture, row by row, with a one-pixel gap: (rows (H + 1) - 1,
    cols (W + 1) - 1, 3) floats in [0, 1] (for plots and files).

    Args:
        images: (N, C, H, W) in [0, 1], N a multiple of `rows`; C is 1 or 3.
        rows: the number of rows; each holds N / rows images.
    """
    n, c, height, width = images.shape
    if rows < 1 or n % rows or c not in (1, 3):
        raise ValueError(f"need 1 or 3 channels and a number of images divisible by rows, got "
                         f"{n} images of {c} channels in {rows} rows")
    cols = n // rows
    sheet = torch.ones(rows * (height + 1) - 1, cols * (width + 1) - 1, 3)
    for i, image in enumerate(images.float().clamp(0, 1).expand(-1, 3, -1, -1)):
        r, col = divmod(i, cols)
        sheet[r * (height + 1):r * (height + 1) + height,
              col * (width + 1):col * (width + 1) + width] = image.permute(1, 2, 0).cpu()
    return sheet


# %% book/chapters/06c_real_codes.md: def bits_per_image
@torch.no_grad()
def bits_per_image(prior: GatedPixelCNN, grids: Tensor, labels: Tensor | None = None, *,
                   batch_size: int = 512) -> float:
    """The mean -log2 p(c) over grids, in bits per image (held-out grids measure the prior).

    Args:
        prior: a prior with `log_prob` in nats and `num_codes`, `shape`, `num_classes`.
        grids: (N, h, w) integer code indices.
        labels: (N,) class indices for a class-conditional prior, else None.
        batch_size: grids scored at once; changes memory, not the result.
    """
    check_grid(grids, prior.num_codes, shape=prior.shape)
    check_labels(labels, prior.num_classes, len(grids))
    if len(grids) == 0:
        raise ValueError("bits_per_image needs at least one grid")
    device, was_training = next(prior.parameters()).device, prior.training
    prior.eval()
    total = 0.0
    for start in range(0, len(grids), max(batch_size, 1)):
        part = slice(start, start + max(batch_size, 1))
        y = None if labels is None else labels[part].to(device)
        total += -prior.log_prob(grids[part].to(device), y).double().sum().item()
    prior.train(was_training)
    return total / len(grids) / math.log(2)


__all__ = ['grid_quantizer', 'encode_grids', 'decode_grids', 'tile_images', 'bits_per_image']
