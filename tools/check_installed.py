"""The Colab user's check: every generated notebook runs from the package installed by pip.

    python tools/check_installed.py [--source SPEC] [--torch REQ] [--jobs N] [--keep DIR]

1. A fresh virtual environment (no system site packages) gets the torch requirement first (on this
   project's CPU machines `torch==2.13.0` is a local wheel; an unpinned torch pulls CUDA wheels),
   then vqlit with its `notebook` extra from SPEC, *not* editable, plus papermill. SPEC defaults to
   `git+file://<this repository>@<HEAD>`: the committed tree, as `pip install git+https://...`
   installs it on Colab (uncommitted changes are not tested: pass `--source .` to try them).
2. From an empty folder outside the checkout, with no network (`VQLIT_OFFLINE=1`), no system data
   (`VQLIT_SYSTEM_DATA=0`), an empty data cache and a clean PYTHONPATH, it checks that `import vqlit`
   finds the installed copy, then runs each `book/chapters/*.ipynb` (the Colab notebooks that
   tools/export.py writes) with papermill at the smoke scale, each in its own empty folder.
3. It prints one line per notebook and a closing `N passed, N failed`, and exits 1 on any failure.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def head_source() -> str:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    return f"git+file://{ROOT}@{commit}"


def make_env(where: Path, source: str, torch: str) -> Path:
    """A fresh venv with torch, vqlit[notebook] from `source` (not editable) and papermill."""
    run([sys.executable, "-m", "venv", str(where)])
    python = where / "bin" / "python"
    quiet = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([str(python), *quiet, "--upgrade", "pip"])     # the venv's own pip may reject git+file:///
    run([str(python), *quiet, torch])
    spec = f"vqlit[notebook] @ {source}" if "://" in source else f"{source}[notebook]"
    run([str(python), *quiet, spec, "papermill>=2.6"])
    # The notebooks name the kernel "python3": make it this environment's Python, whatever else
    # the machine's Jupyter paths hold.
    run([str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
        stdout=subprocess.DEVNULL)
    return python


def clean_env(venv: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VQLIT_", "PYTHON", "JUPYTER", "VIRTUAL_ENV"))}
    env.update(VQLIT_SCALE="smoke", VQLIT_OFFLINE="1", VQLIT_SYSTEM_DATA="0",
               VQLIT_DATA=str(cache), JUPYTER_PATH=str(venv / "share" / "jupyter"),
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1",
               MPLBACKEND="Agg")
    return env


def run_notebook(python: Path, notebook: Path, folder: Path, env: dict) -> tuple[str, bool, str]:
    """Copy the notebook into its own empty folder and run it there with papermill."""
    folder.mkdir(parents=True)
    local = folder / notebook.name
    shutil.copy(notebook, local)
    began = time.perf_counter()
    result = subprocess.run([str(python), "-m", "papermill", local.name, f"out-{local.name}",
                             "--kernel", "python3", "--no-progress-bar", "--log-level", "ERROR"],
                            cwd=folder, env=env, capture_output=True, text=True)
    took = time.perf_counter() - began
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
    return f"{notebook.stem} ({took:.0f} s)", result.returncode == 0, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", help="what pip installs: a git+ URL or a folder "
                                         "(default: this repository's HEAD commit)")
    parser.add_argument("--torch", default=os.environ.get("TORCH", "torch==2.13.0"))
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    source = args.source or head_source()
    if args.source and "://" not in args.source:
        source = str(Path(args.source).resolve())
    work = Path(args.keep or tempfile.mkdtemp(prefix="vqlit-installed-"))
    work.mkdir(parents=True, exist_ok=True)
    notebooks = sorted((ROOT / "book" / "chapters").glob("*.ipynb"))
    if not notebooks:
        print("no generated notebooks in book/chapters: run `python tools/export.py`")
        return 1
    began = time.perf_counter()
    python = make_env(work / "venv", source, args.torch)
    print(f"installed {source} into a fresh environment in {time.perf_counter() - began:.0f} s")
    env = clean_env(work / "venv", work / "cache")
    empty = work / "empty"
    empty.mkdir()
    where = subprocess.run([str(python), "-c", "import vqlit, vqlit.results as r; "
                            "print(vqlit.__file__); print(r.checkout_results())"],
                           cwd=empty, env=env, capture_output=True, text=True, check=True)
    module, checkout = where.stdout.split()
    if not Path(module).resolve().is_relative_to((work / "venv").resolve()) or checkout != "None":
        print(f"vqlit was not imported from the fresh environment: {module}, checkout {checkout}")
        return 1
    print(f"import vqlit -> {module} (no checkout in sight)")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda nb: run_notebook(python, nb, work / "runs" / nb.stem, env),
                                 notebooks))
    for name, ok, tail in outcomes:
        print(f"{'PASSED' if ok else 'FAILED'} {name}")
        if not ok:
            print("    " + tail.replace("\n", "\n    "))
    passed = sum(ok for _, ok, _ in outcomes)
    print(f"installed: {passed} passed, {len(outcomes) - passed} failed "
          f"in {time.perf_counter() - began:.0f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if passed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
