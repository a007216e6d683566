# This file is generated from book/chapters/a3f_results.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3f_results.md: statements
"""Recorded results: book/results/NAME.json, each with its metrics, the paper's numbers, the recipe
and the provenance of the run (commit, device, library versions, date, wall time, scale)."""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

import torch


# %% book/chapters/a3f_results.md: def _package_dir, def checkout_results, def results_dir, def records_out
def _package_dir() -> Path:
    import vqlit
    return Path(vqlit.__file__).resolve().parent


def checkout_results() -> Path | None:
    """book/results of the checkout we run in (from the working directory upwards, then beside
    the package of an editable install), or None outside a checkout."""
    here = Path.cwd().resolve()
    for base in (here, *here.parents, _package_dir().parent):
        if (base / "book" / "results").is_dir() and (base / "book" / "chapters").is_dir():
            return base / "book" / "results"
    return None


def results_dir() -> Path:
    """Where records are read: the checkout's book/results, else those installed with vqlit."""
    return checkout_results() or _package_dir() / "records"


def records_out(directory: str | Path | None = None) -> Path:
    """Where a new record goes: `directory`, else the checkout's book/results, else
    ./vqlit-results (an installed package is never written to).

    Args:
        directory: the folder asked for; None picks the checkout's or ./vqlit-results.
    """
    if directory is not None:
        return Path(directory)
    return checkout_results() or Path.cwd() / "vqlit-results"


# %% book/chapters/a3f_results.md: def installed_commit, def source_commit, def provenance
def installed_commit(direct_url: str | None = None) -> str | None:
    """The commit pip installed vqlit from, read from the distribution's direct_url.json (PEP 610),
    or None (an editable install, a local folder, no metadata).

    Args:
        direct_url: the text of a direct_url.json; None reads the installed distribution's.
    """
    from importlib import metadata
    if direct_url is None:
        try:
            direct_url = metadata.distribution("vqlit").read_text("direct_url.json")
        except metadata.PackageNotFoundError:
            return None
    try:
        info = json.loads(direct_url or "{}")
    except json.JSONDecodeError:
        return None
    commit = (info.get("vcs_info") or {}).get("commit_id")
    return f"{commit} (installed by pip from {info.get('url', '?')})" if commit else None


def source_commit() -> str:
    """The commit of the code that runs: $VQLIT_COMMIT if set (a copied tree whose own history
    cannot be trusted), else git's HEAD of the checkout the package lives in (marked when tracked
    files differ from it), else the commit pip installed, else "unknown"."""
    if given := os.environ.get("VQLIT_COMMIT"):
        return f"{given} (from VQLIT_COMMIT)"
    checkout = _package_dir().parent
    if (checkout / "book" / "chapters").is_dir():
        try:
            run = lambda *args: subprocess.run(["git", *args], capture_output=True, text=True,
                                               check=True, cwd=checkout).stdout.strip()
            dirty = run("status", "--porcelain", "--untracked-files=no")
            return run("rev-parse", "HEAD") + ("+uncommitted changes" if dirty else "")
        except (OSError, subprocess.CalledProcessError):       # a copy of the tree, not a clone
            pass
    return installed_commit() or "unknown (not a git checkout, and pip recorded no commit)"


def provenance(device: str | torch.device, *, scale: str, wall_time: float,
               precision: str) -> dict:
    """Where and how a result was produced: the provenance of a record.

    Args:
        device: the device the run trained on; a GPU is named by its model, the CPU by its
            architecture and thread count.
        scale: the scale the run ran at: "smoke", "quick" or "full".
        wall_time: the seconds `fit` spent training, summed over resumptions (FitResult.wall_time).
        precision: the one the networks trained in, resolved: "bf16" or "fp32".
    """
    device = torch.device(device)
    threads = torch.get_num_threads()
    name = (torch.cuda.get_device_name(device) if device.type == "cuda" else
            f"{platform.machine()} CPU, {threads} thread{'s' if threads > 1 else ''}")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"commit": source_commit(), "device": name, "torch": torch.__version__,
            "python": platform.python_version(), "date": now, "precision": precision,
            "wall_time_s": round(wall_time, 1), "scale": scale}


# %% book/chapters/a3f_results.md: RECORD_SCHEMA, RECORD_KEYS, CONFIG_KEYS, PROVENANCE_KEYS, ...
RECORD_SCHEMA = 2
RECORD_KEYS = ("schema", "name", "experiment", "dataset", "source", "notes", "config", "metrics",
               "paper", "provenance")
CONFIG_KEYS = ("train", "model", "evaluation")
PROVENANCE_KEYS = ("commit", "device", "torch", "python", "date", "precision", "wall_time_s",
                   "scale")


def check_record(record: dict) -> dict:
    """Raise ValueError unless `record` has the schema of ``book/results/*.json``; return it.

    Args:
        record: a record as read from its JSON file; the error lists every way it departs from
            the schema.
    """
    name = record.get("name", "?") if isinstance(record, dict) else "?"
    problems = []
    if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA:
        problems.append(f"schema {RECORD_SCHEMA} expected")
    else:
        problems += [f"no {k!r}" for k in RECORD_KEYS if k not in record]
        problems += [f"unknown key {k!r}" for k in set(record) - {*RECORD_KEYS, "migrated"}]
        if set(record.get("config") or {}) != set(CONFIG_KEYS):
            problems.append(f"config must have exactly {CONFIG_KEYS}")
        problems += [f"provenance has no {k!r}" for k in PROVENANCE_KEYS
                     if k not in (record.get("provenance") or {})]
        if not all(isinstance(v, (int, float)) for v in (record.get("metrics") or {}).values()):
            problems.append("metrics must be numbers")
    if problems:
        raise ValueError(f"result record {name!r} does not have the results schema: "
                         + "; ".join(problems))
    return record


# %% book/chapters/a3f_results.md: def record_result
def record_result(name: str, metrics: dict, *, experiment: str | None, dataset: str,
                  config: dict, device, scale: str, wall_time: float, precision: str,
                  source: str = "", notes: list[str] = (), paper: dict | None = None,
                  directory: str | Path | None = None) -> Path:
    """Write NAME.json atomically in the results schema (see `check_record`); returns its path.

    Args:
        name: the record's name, NAME of NAME.json.
        metrics: the scores, name -> number (Evaluation.as_dict(), for one).
        experiment: the name of the experiment of Appendix E's registry that ran; None for a run
            outside the registry.
        dataset: the name of the data set the model was trained and evaluated on.
        config: the recipe, with exactly the keys "train" (the TrainConfig), "model" (the
            quantizer as its repr prints it) and "evaluation" (the evaluation settings).
        device: the device the run trained on, as in provenance.
        scale: the scale the run ran at, as in provenance.
        wall_time: the seconds `fit` spent training, as in provenance.
        precision: the precision the networks trained in, as in provenance.
        source: the protocol the result follows, e.g. "VQ-WAE Table 1".
        notes: free-text remarks, e.g. that the data set is not the paper's.
        paper: the paper's numbers for this row, metric -> number; None where the data set is not
            the paper's.
        directory: where NAME.json goes, as in records_out.
    """
    directory = records_out(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record = check_record({
        "schema": RECORD_SCHEMA, "name": name, "experiment": experiment, "dataset": dataset,
        "source": source, "notes": list(notes), "config": config, "metrics": metrics,
        "paper": paper, "provenance": provenance(device, scale=scale, wall_time=wall_time,
                                                 precision=precision)})
    path = directory / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


# %% book/chapters/a3f_results.md: def load_result
def load_result(name: str, directory: str | Path | None = None) -> dict | None:
    """The recorded result NAME (checked against the schema), or None if it was never recorded.

    Args:
        name: the record's name, NAME of NAME.json.
        directory: the folder to read from; None reads results_dir().
    """
    path = (Path(directory) if directory is not None else results_dir()) / f"{name}.json"
    return check_record(json.loads(path.read_text())) if path.exists() else None


__all__ = ['checkout_results', 'results_dir', 'records_out', 'installed_commit', 'source_commit', 'provenance', 'RECORD_SCHEMA', 'RECORD_KEYS', 'CONFIG_KEYS', 'PROVENANCE_KEYS', 'check_record', 'record_result', 'load_result']
