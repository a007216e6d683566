# This file is generated from book/chapters/a3_training.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3_training.md:1306
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


# %% book/chapters/a3_training.md:1326
def results_dir() -> Path:
    """book/results of the checkout we run in (found from the working directory upwards)."""
    here = Path.cwd().resolve()
    for base in (here, *here.parents):
        if (base / "book" / "results").is_dir():
            return base / "book" / "results"
    return here / "book" / "results"


# %% book/chapters/a3_training.md:1344
def provenance(device: str | torch.device, *, scale: str, wall_time: float) -> dict:
    """Where and how a result was produced.

    The commit is git's HEAD (marked when the tracked files differ from it), or $VQLIT_COMMIT where
    the code was copied rather than cloned and the copy's own history cannot be trusted.
    """
    device = torch.device(device)
    try:
        if given := os.environ.get("VQLIT_COMMIT"):
            raise OSError(given)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        commit += "+uncommitted changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):          # a copy of the tree, not a clone
        given = os.environ.get("VQLIT_COMMIT")
        commit = f"{given} (from VQLIT_COMMIT)" if given else "unknown (not a git checkout)"
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"commit": commit, "device": name, "torch": torch.__version__,
            "python": platform.python_version(), "date": now,
            "wall_time_s": round(wall_time, 1), "scale": scale}


# %% book/chapters/a3_training.md:1386
RECORD_SCHEMA = 2
RECORD_KEYS = ("schema", "name", "experiment", "dataset", "source", "notes", "config", "metrics",
               "paper", "provenance")
CONFIG_KEYS = ("train", "model", "evaluation")
PROVENANCE_KEYS = ("commit", "device", "torch", "python", "date", "wall_time_s", "scale")


def check_record(record: dict) -> dict:
    """Raise ValueError unless `record` has the schema of ``book/results/*.json``; return it."""
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


# %% book/chapters/a3_training.md:1419
def record_result(name: str, metrics: dict, *, experiment: str | None, dataset: str,
                  config: dict, device, scale: str, wall_time: float, source: str = "",
                  notes: list[str] = (), paper: dict | None = None,
                  directory: str | Path | None = None) -> Path:
    """Write directory/NAME.json atomically in the results schema (see `check_record`)."""
    directory = Path(directory) if directory is not None else results_dir()
    directory.mkdir(parents=True, exist_ok=True)
    record = check_record({
        "schema": RECORD_SCHEMA, "name": name, "experiment": experiment, "dataset": dataset,
        "source": source, "notes": list(notes), "config": config, "metrics": metrics,
        "paper": paper, "provenance": provenance(device, scale=scale, wall_time=wall_time)})
    path = directory / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


# %% book/chapters/a3_training.md:1439
def load_result(name: str, directory: str | Path | None = None) -> dict | None:
    """The recorded result NAME (checked against the schema), or None if it was never recorded."""
    path = (Path(directory) if directory is not None else results_dir()) / f"{name}.json"
    return check_record(json.loads(path.read_text())) if path.exists() else None


__all__ = ['results_dir', 'provenance', 'RECORD_SCHEMA', 'RECORD_KEYS', 'CONFIG_KEYS', 'PROVENANCE_KEYS', 'check_record', 'record_result', 'load_result']
