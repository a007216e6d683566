# This file is generated from book/chapters/a1c_batching.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a1c_batching.md: statements
"""One type for every data set (ImageData), the one-time resize, and seeded device-resident
mini-batches whose order survives a checkpoint (Batcher)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor


# %% book/chapters/a1c_batching.md: class ImageData
@dataclass
class ImageData:
    """A labelled image data set: uint8 images (N, C, H, W) and int64 labels, train and test.

    Attributes:
        name: the data set's name ("mnist", "digits", ...).
        source: a sentence saying where the data came from (a directory, the cache, a download).
        train_images: uint8 training images, (N, C, H, W).
        train_labels: int64 training labels, (N,).
        test_images: uint8 test images, (M, C, H, W).
        test_labels: int64 test labels, (M,).
        classes: the class names, label 0 first; () leaves the labels unnamed.
    """

    name: str
    source: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    classes: tuple[str, ...] = field(default=())

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train_images.shape[1:])

    def to(self, device) -> "ImageData":
        """The same data on another device (one copy, then every batch is indexed there)."""
        move = {k: getattr(self, k).to(device) for k in
                ("train_images", "train_labels", "test_images", "test_labels")}
        return replace(self, **move)

    def subset(self, train: int | None = None, test: int | None = None) -> "ImageData":
        """The first examples of each split, as a new ImageData (for small runs).

        Args:
            train: how many training examples to keep; None keeps them all.
            test: how many test examples to keep; None keeps them all.
        """
        return replace(self, train_images=self.train_images[:train],
                       train_labels=self.train_labels[:train],
                       test_images=self.test_images[:test], test_labels=self.test_labels[:test])

    def __repr__(self) -> str:
        return (f"ImageData({self.name!r}, train={tuple(self.train_images.shape)}, "
                f"test={tuple(self.test_images.shape)}, from {self.source})")


# %% book/chapters/a1c_batching.md: def resize_images
def resize_images(images: Tensor, size: int, *, chunk: int = 8192) -> Tensor:
    """Resize uint8 images (N, C, H, W) to (N, C, size, size): bilinear, antialiased, rounded.

    Args:
        images: uint8 images, (N, C, H, W).
        size: the side of the square output, in pixels; images already of that size are
            returned as they are.
        chunk: images resized at a time, which bounds the float32 memory used.
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images of shape (N, C, H, W), got {images.dtype} "
                         f"{tuple(images.shape)}")
    if images.shape[-2:] == (size, size):
        return images
    out = []
    for block in images.split(chunk):                                  # bounded float32 memory
        x = F.interpolate(block.float(), size=(size, size), mode="bilinear",
                          align_corners=False, antialias=True)         # (n, C, size, size)
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


# %% book/chapters/a1c_batching.md: class Batcher
class Batcher:
    """Endless seeded mini-batches (no repeats within an epoch) from uint8 images on a device.

    Args:
        images: uint8 images, (N, C, H, W), on the device the batches are wanted on.
        batch_size: images per batch, 1..N; the last, incomplete batch of an epoch is dropped.
        seed: the seed of the shuffles; the same seed gives the same batches.
    """

    def __init__(self, images: Tensor, batch_size: int, *, seed: int = 0):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} "
                             f"{tuple(images.shape)}")
        if not 0 < batch_size <= len(images):
            raise ValueError(f"batch_size must be in 1..{len(images)} (the number of images), "
                             f"got {batch_size}")
        self.images, self.batch_size = images, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm: Tensor | None = None   # (N,) int64, on the images' device
        self.pos = 0
        self.epoch = 0

    def __len__(self) -> int:
        """Batches per epoch (the last, incomplete one is dropped)."""
        return len(self.images) // self.batch_size

    def next(self) -> Tensor:
        """The next batch (B, C, H, W), float32 in [0, 1]."""
        if self.perm is None or self.pos + self.batch_size > len(self.perm):
            self.epoch += self.perm is not None                               # a new epoch begins
            perm = torch.randperm(len(self.images), generator=self.generator)   # (N,) on the CPU
            self.perm = perm.to(self.images.device)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]                  # (B,)
        self.pos += self.batch_size
        return self.images[idx].float().div_(255)                             # (B, C, H, W)

    def __iter__(self):
        while True:
            yield self.next()

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "pos": self.pos, "epoch": self.epoch,
                "perm": None if self.perm is None else self.perm.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())    # a checkpoint loaded onto a GPU
        self.pos, self.epoch = state["pos"], state["epoch"]
        self.perm = None if state["perm"] is None else state["perm"].to(self.images.device)


__all__ = ['ImageData', 'resize_images', 'Batcher']
