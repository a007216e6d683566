# This file is generated from book/chapters/a1b_sources.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a1b_sources.md: statements
"""Where a data set's files come from: a directory you name, the cache ($VQLIT_DATA, else
~/.cache/vqlit), a system copy (Debian's dataset-fashion-mnist), a download verified against a
pinned SHA-256; one search, `locate`, for every data set."""
from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from vqlit.data_formats import DataError, DatasetUnavailable, extract_members


# %% book/chapters/a1b_sources.md: class FileDataset
@dataclass(frozen=True)
class FileDataset:
    """A data set served file by file: its files with pinned SHA-256 sums, mirrors, local homes.

    Attributes:
        name: the data set's name, also the name of its folder in the cache.
        files: role ("train_images", ...) -> (file name, SHA-256 of the file as distributed).
        mirrors: base URLs, tried in order; a file's URL is the mirror followed by its name.
        system_dirs: where an OS package installs the files; () for none.
        classes: the class names, label 0 first; () leaves the labels unnamed.
        max_bytes: a download larger than this is refused.
        layouts: folders under a directory that may hold the files ("" is the directory itself).
        other_ways: more ways to get it, named in the message when it is missing.
    """

    name: str
    files: dict[str, tuple[str, str]]
    mirrors: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    max_bytes: int = 64 * 2**20
    layouts: tuple[str, ...] = ("",)
    other_ways: tuple[str, ...] = ()
    packed = None                          # no archive: the mirrors serve the files themselves

    @property
    def needed(self) -> dict[str, tuple[str, ...]]:
        """The names each role's file may have (role -> names), as distributed or gunzipped."""
        return {role: tuple(dict.fromkeys((f, f.removesuffix(".gz"))))
                for role, (f, _) in self.files.items()}

    @property
    def fetched(self) -> dict[str, str]:
        """The files a mirror serves, file name -> pinned SHA-256."""
        return dict(self.files.values())


# %% book/chapters/a1b_sources.md: _IDX_FILES, def _pinned, MNIST, FASHION_MNIST, ...
_IDX_FILES = {"train_images": "train-images-idx3-ubyte.gz",      # role -> standard file name
              "train_labels": "train-labels-idx1-ubyte.gz",
              "test_images": "t10k-images-idx3-ubyte.gz",
              "test_labels": "t10k-labels-idx1-ubyte.gz"}


def _pinned(*sha256: str) -> dict[str, tuple[str, str]]:
    """The four standard IDX file names with their SHA-256 sums, in _IDX_FILES order."""
    pairs = zip(_IDX_FILES.items(), sha256, strict=True)
    return {role: (name, sha) for (role, name), sha in pairs}


MNIST = FileDataset(
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

FASHION_MNIST = FileDataset(
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

IDX_DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}      # load_dataset("auto") picks one

SVHN = FileDataset(
    name="svhn", mirrors=("http://ufldl.stanford.edu/housenumbers/",),
    files={"train": ("train_32x32.mat",
                     "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8"),
           "test": ("test_32x32.mat",
                    "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b")},
    classes=tuple(str(i) for i in range(10)), max_bytes=200 * 2**20, layouts=("", "svhn"))


# %% book/chapters/a1b_sources.md: def cache_dir, def offline, def _system_copies
def cache_dir() -> Path:
    """Where downloads are kept: $VQLIT_DATA, else ~/.cache/vqlit."""
    return Path(os.environ.get("VQLIT_DATA") or Path.home() / ".cache" / "vqlit").expanduser()


def offline() -> bool:
    return os.environ.get("VQLIT_OFFLINE", "").lower() in {"1", "true", "yes"}


def _system_copies() -> bool:
    """False when $VQLIT_SYSTEM_DATA is 0: OS-installed copies hidden (a fresh machine's view)."""
    return os.environ.get("VQLIT_SYSTEM_DATA", "").lower() not in {"0", "false", "no"}


# %% book/chapters/a1b_sources.md: def sha256sum
def sha256sum(path: str | Path) -> str:
    """The SHA-256 of a file as 64 hex digits, read in 1 MiB blocks.

    Args:
        path: the file.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# %% book/chapters/a1b_sources.md: def download
def download(url: str, dest: str | Path, sha256: str, *, max_bytes: int = 64 * 2**20,
             timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch url to dest, keeping it only if its SHA-256 equals the pinned sum (else DataError).

    Args:
        url: what to fetch (http, https or file).
        dest: where the verified file goes, by an atomic rename: it is whole or absent.
        sha256: the pinned SHA-256, 64 hex digits.
        max_bytes: a download that grows past this many bytes is refused.
        timeout: seconds to wait for the connection and for each read.
        progress: show a progress bar.
    """
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


# %% book/chapters/a1b_sources.md: class DatasetSpec
@runtime_checkable
class DatasetSpec(Protocol):
    """What locate reads from a data set's description (FileDataset, CifarDataset)."""

    name: str                               # also the name of its folder in the cache
    mirrors: tuple[str, ...]                # base URLs; a file's URL is mirror + its name
    system_dirs: tuple[str, ...]            # where an OS package installs it
    max_bytes: int                          # refuse a download larger than this
    layouts: tuple[str, ...]                # folders under a directory that may hold the files
    other_ways: tuple[str, ...]             # more ways to get it, named when it is missing
    needed: dict[str, tuple[str, ...]]      # role -> the names its file may have
    fetched: dict[str, str]                 # what a mirror serves: file name -> pinned sha256
    packed: tuple[str, str] | None          # (archive in fetched, folder it unpacks to), or None


# %% book/chapters/a1b_sources.md: def _complete
def _complete(spec: DatasetSpec, folder: Path) -> dict[str, Path] | None:
    """role -> path of each needed file in folder, under any of its names; None if one is absent."""
    found = {}
    for role, names in spec.needed.items():
        path = next((folder / n for n in names if (folder / n).is_file()), None)
        if path is None:
            return None
        found[role] = path
    return found


# %% book/chapters/a1b_sources.md: def _look
def _look(spec: DatasetSpec, base: Path, where: str) -> tuple[dict[str, Path], str] | None:
    """The files in one source (any layout under base, or its archive there) and a sentence."""
    for layout in spec.layouts:
        if files := _complete(spec, base / layout):
            return files, where
    if spec.packed and (archive := base / spec.packed[0]).is_file():
        return _unpack(spec, archive), f"the verified archive {archive}"
    return None


# %% book/chapters/a1b_sources.md: def _wanted, def _ways
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


# %% book/chapters/a1b_sources.md: def locate
def locate(spec: DatasetSpec, root: str | Path | None = None, *,
           download_missing: bool | None = None) -> tuple[dict[str, Path], str]:
    """The files of a data set (role -> path) and a sentence saying where they came from.

    Args:
        spec: the data set's description (FileDataset, CifarDataset).
        root: a directory holding the files, then the only place looked in; None: the others.
        download_missing: allow a download (verified); None: unless $VQLIT_OFFLINE is set.
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
    if (not offline()) if download_missing is None else download_missing:   # explicit beats env
        for url in spec.mirrors:
            try:
                for name, sha in spec.fetched.items():
                    if not (cache / name).is_file():
                        download(url + name, cache / name, sha, max_bytes=spec.max_bytes)
                return _look(spec, cache, "")[0], f"a verified download from {url}"
            except (OSError, DataError) as err:  # URLError and timeouts are OSErrors
                errors.append(f"{url}: {err}")
    raise DatasetUnavailable(_ways(spec, cache, errors))


# %% book/chapters/a1b_sources.md: class CifarDataset
@dataclass(frozen=True)
class CifarDataset:
    """A CIFAR binary-version data set: its archive, the pinned SHA-256, and what it holds.

    Attributes:
        name: the data set's name, also the name of its folder in the cache.
        archive: the file name of the .tar.gz.
        sha256: the pinned SHA-256 of the archive.
        mirrors: base URLs of the archive, tried in order.
        folder: the folder inside the archive that holds the record files.
        train_files: the record files of the training split.
        test_files: the record files of the test split.
        train_records: how many images the training files hold together.
        test_records: how many images the test files hold together.
        classes: the class names, label 0 first.
        max_bytes: a download larger than this is refused.
        system_dirs: where an OS package installs the record files; () for none.
        other_ways: more ways to get it, named in the message when it is missing.
    """

    name: str
    archive: str
    sha256: str
    mirrors: tuple[str, ...]
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    train_records: int
    test_records: int
    classes: tuple[str, ...]
    max_bytes: int = 200 * 2**20
    system_dirs: tuple[str, ...] = ()
    other_ways: tuple[str, ...] = ()

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
        """The file a mirror serves, the archive alone, with its pinned SHA-256."""
        return {self.archive: self.sha256}

    @property
    def packed(self) -> tuple[str, str]:
        """The archive the record files come from, and the folder they are written to."""
        return self.archive, self.folder


# %% book/chapters/a1b_sources.md: CIFAR10
CIFAR10 = CifarDataset(
    name="cifar10", archive="cifar-10-binary.tar.gz",
    sha256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    folder="cifar-10-batches-bin",
    train_files=tuple(f"data_batch_{i}.bin" for i in range(1, 6)), test_files=("test_batch.bin",),
    train_records=50_000, test_records=10_000,
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"))


# %% book/chapters/a1b_sources.md: def _unpack
def _unpack(spec: DatasetSpec, archive: Path) -> dict[str, Path]:
    """The needed files, taken out of a local archive once it matches its pinned SHA-256."""
    name, folder = spec.packed
    if sha256sum(archive) != spec.fetched[name]:
        raise DataError(f"{archive}: SHA-256 does not match the pinned {spec.fetched[name]}; "
                        "delete it and download again")
    dest = cache_dir() / spec.name / folder
    extract_members(archive, {names[0] for names in spec.needed.values()}, dest)
    return _complete(spec, dest)


__all__ = ['FileDataset', 'MNIST', 'FASHION_MNIST', 'IDX_DATASETS', 'SVHN', 'cache_dir', 'offline', 'sha256sum', 'download', 'DatasetSpec', 'locate', 'CifarDataset', 'CIFAR10']
