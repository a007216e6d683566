#!/usr/bin/env python3
"""One command for a GPU session: the compiled CUDA tests, `bench`, then the pending full-scale
records, within a time budget, from a queue that resumes where the previous session stopped.

    python3 tools/stage_gpu.py                    # beforehand, where the package index is reachable
    python3 tools/gpu_session.py --out $OUT       # on the GPU machine, with .gpu/ carried along
    python3 tools/gpu_session.py --collect DIR    # back here, DIR holding what came back in $OUT
    python3 tools/gpu_session.py --list           # the queue: what is pending, its state and cost
    python3 tools/gpu_session.py --dry-run --out DIR   # the same path on the CPU, tiny (CI runs it)

A session, in order, stopping when the budget (--budget-min, default 9) is spent:

1. installs the wheels that `tools/stage_gpu.py` put in .gpu/wheels, for the packages this Python
   lacks (POT, mlxtend), into a temporary folder, without a network; points the loaders at the
   data files of .gpu/data (VQLIT_DATA) and the records' provenance at the commit the tree was
   staged from (VQLIT_COMMIT: the copied tree has no .git);
2. runs the compiled CUDA tests (tests/test_cuda.py), with a time limit;
3. runs `python -m vqlit bench --device cuda --json`, which writes its own provenance with its
   rows, into book/results/benchmarks/bench_cuda.json;
4. works through the queue of pending full-scale records: the registered experiments (Appendix E)
   on the staged data set (Fashion-MNIST; MNIST is the papers' but cannot be had offline), minus
   those already in book/results, ordered by expected cost. Independent runs train in parallel
   processes on the one GPU (--workers), each in chunks that end with a checkpoint, so that a run
   stops cleanly before the budget ends; a run that finishes is evaluated and recorded by
   `reproduce` (a group's member by `reproduce_group`), with `wall_time_s` the seconds `fit` spent
   training, summed over chunks and sessions;
5. writes into --out: session.log, session.json (what ran, what was recorded, what is left),
   cuda_tests.log, bench.json, records.tar.gz (the new records, as book/results/...),
   runs.tar.gz (the checkpoints of unfinished runs, as runs/..., which the next session resumes)
   and logs.tar.gz (each run's log).

`--collect DIR` puts what came back where it belongs here: the records into book/results (commit
them), the checkpoints into .gpu/runs (carried by the next session). The dry run uses the CPU,
the smoke scale, a tiny bench and a few queue items, and writes its records into a temporary
directory, never into book/results.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / ".gpu"                         # ignored by git; carried to the GPU machine
GREY = ("mnist", "fashion-mnist", "mnist-5k", "digits")        # data sets of 1-channel images
TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000, "mnist-5k": 4_000,
               "digits": 1_437}                                  # for estimates before loading
CUDA_TESTS = ("tests/test_cuda.py",)
RUNS_CAP = 15 * 2**20          # bytes of checkpoints carried back (a file comes back up to 16 MiB)
END_RESERVE_S = 25             # kept at the end of the budget to stop the workers and pack
DRY_BENCH = ("--tokens", "256", "--codes", "128", "--dim", "8", "--repeats", "2",
             "--nearest-dims", "2,8")


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def code_hash(root: Path = ROOT) -> str:
    """sha256 over the package's files (names and contents): which code a copied tree holds."""
    h = hashlib.sha256()
    for path in sorted((root / "vqlit").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class Log:
    """Print, and append to OUT/session.log."""

    def __init__(self, path: Path | None):
        self.path = path

    def __call__(self, *parts) -> None:
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(line + "\n")


# ---------------------------------------------------------------------------------------------
# 1. The environment: wheels, data, commit


def _wheel_modules(wheel: Path) -> set[str]:
    """The top-level import names a wheel installs."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        if top:
            return {line.strip() for line in z.read(top[0]).decode().splitlines() if line.strip()}
    found = set()
    for n in names:
        head = n.split("/")[0]
        if not head.endswith((".dist-info", ".data")):
            found.add(head.removesuffix(".py"))
    return {m for m in found if m.isidentifier()}


def install_wheels(wheels: Path, log: Log, site: Path | None = None) -> tuple[Path | None,
                                                                              list[str]]:
    """Install, into `site` (a temporary folder), the staged wheels whose modules this Python
    lacks, from the files alone (no index, no network); the folder and the wheels installed."""
    missing = [w for w in sorted(wheels.glob("*.whl"))
               if any(importlib.util.find_spec(m) is None for m in _wheel_modules(w))]
    if not missing:
        return None, []
    site = site or Path(tempfile.gettempdir()) / "vqlit-gpu-site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
           "--upgrade", "--target", str(site), *map(str, missing)]
    done = subprocess.run(pip, capture_output=True, text=True)
    if done.returncode:                       # no pip: a wheel is a zip of site-packages' layout
        log(f"pip could not install the wheels ({done.stderr.strip()[-300:]}); unpacking them")
        for wheel in missing:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(site)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    return site, [w.name for w in missing]


def _git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def staged_commit() -> str | None:
    """The commit of a copied tree, from .gpu/commit.json (written by stage_gpu.py), marked when
    the package's files differ from those it was staged with."""
    path = STAGE / "commit.json"
    if not path.is_file():
        return None
    staged = json.loads(path.read_text())
    commit = staged["commit"] + ("+uncommitted changes" if staged.get("uncommitted") else "")
    if staged.get("vqlit_sha256") != code_hash():
        commit += f"+changes after staging (vqlit sha256 {code_hash()[:12]})"
    return commit


def prepare_environment(log: Log) -> dict:
    """Wheels, data and commit for this process and the ones it starts; what was done."""
    site, installed = install_wheels(STAGE / "wheels", log)
    paths = [str(ROOT)] + ([str(site)] if site else [])
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [p for p in os.environ.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if (STAGE / "data").is_dir() and not os.environ.get("VQLIT_DATA"):
        os.environ["VQLIT_DATA"] = str(STAGE / "data")
    os.environ.setdefault("VQLIT_OFFLINE", "1")           # the GPU machine has no network
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if not os.environ.get("VQLIT_COMMIT") and _git_head() is None and (c := staged_commit()):
        os.environ["VQLIT_COMMIT"] = c
    return {"installed_wheels": installed, "site": str(site) if site else None,
            "VQLIT_DATA": os.environ.get("VQLIT_DATA"),
            "VQLIT_COMMIT": os.environ.get("VQLIT_COMMIT")}


# ---------------------------------------------------------------------------------------------
# 2. The queue


def record_name(experiment, dataset: str) -> str:
    """The record a run of `experiment` on `dataset` writes (as `record_run` names it)."""
    return experiment.name.removesuffix(f"_{experiment.dataset}") + f"_{dataset}"


def run_progress(run_dir: Path) -> dict | None:
    """step, steps and training seconds of the checkpoint in run_dir, or None."""
    from vqlit.train import load_checkpoint
    path = run_dir / "checkpoint.pt"
    if not path.is_file():
        return None
    try:
        state = load_checkpoint(path, map_location="cpu")
    except ValueError:
        return None                                     # unreadable: the run starts afresh
    return {"step": int(state["step"]), "steps": int(state["config"]["steps"]),
            "train_s": float(state["wall_time"])}


def _model_estimates(experiment, scale: str) -> dict:
    """A prior for one step's seconds on a GPU (launch overhead, the networks' FLOPs at about
    20 TFLOP/s, Sinkhorn iterations), the evaluation's seconds and the checkpoint's bytes."""
    import torch
    from types import SimpleNamespace
    from torch.utils.flop_counter import FlopCounterMode
    side = experiment.image_size or 28
    fake = SimpleNamespace(image_shape=(1, side, side),
                           train_images=torch.zeros(4, 1, side, side, dtype=torch.uint8))
    torch.manual_seed(0)
    model = experiment.model(fake)
    try:                                   # the networks' FLOPs (the quantizer's are small)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.decode(model.encode(torch.rand(2, 1, side, side)))
        flops = counter.get_total_flops() / 2                             # per image, forward
    except Exception:                                                     # an estimate only
        flops = 2 * sum(p.numel() for p in model.parameters())
    solver = getattr(getattr(model, "quantizer", None), "solver", None)
    iters = getattr(solver, "iters", 0) or 0
    batch = experiment.recipes[scale]["batch_size"]
    inits = experiment.evaluation.get(scale, {}).get("kmeans_inits", 0)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return {"step_s": 3e-3 + 3 * batch * flops / 2e13 + 5e-5 * iters,
            "eval_s": 10 + 0.5 * inits, "ckpt_bytes": 3 * params + buffers,
            "step_flops": 3 * batch * flops}


def _steps(experiment, scale: str, dataset: str) -> int:
    size = TRAIN_SIZES.get(dataset, 60_000)
    size = min(experiment.recipes[scale].get("train") or size, size)
    return experiment.config(scale, size).steps


def _recorded_at(path: Path, scale: str) -> bool:
    """Whether a record at this scale or a larger one exists: a quick run recorded on a CPU does
    not stand for the full run, which replaces it when it is recorded."""
    if not path.is_file():
        return False
    order = ("smoke", "quick", "full")
    return order.index(json.loads(path.read_text())["provenance"]["scale"]) >= order.index(scale)


def plan(*, scale: str, dataset: str, results: Path, runs: Path,
         only: tuple[str, ...] = ()) -> tuple[list[dict], list[str]]:
    """The pending items, cheapest first, and a line for each experiment left out.

    Items: "single" (an experiment: train, then `reproduce` records it), "seed" (one seed of a
    group's member: train) and "member" (record a group's member once its seeds are trained).
    """
    from vqlit.experiments import EXPERIMENTS, GROUPS
    grouped = {m: g for g in GROUPS.values() for m in g.members}
    items, excluded, colour = [], [], []
    for name, experiment in EXPERIMENTS.items():
        wanted = not only or name in only or (name in grouped and grouped[name].name in only)
        if not wanted:
            continue
        if (experiment.dataset in GREY) != (dataset in GREY):
            colour.append(name)
            continue
        record = record_name(experiment, dataset)
        if _recorded_at(results / f"{record}.json", scale):
            continue
        est = _model_estimates(experiment, scale)
        steps = _steps(experiment, scale, dataset)
        base = {"name": name, "record": record, "steps": steps, **est}
        if name not in grouped:
            run_dir = f"{name}-{scale}"
            items.append({"id": f"single:{name}", "kind": "single", "dir": run_dir, **base,
                          **_state(runs / run_dir, steps, est)})
            continue
        group = grouped[name]
        seeds = []
        for seed in range(group.seeds[scale]):
            run_dir = f"{group.name}/{name}-{scale}-seed{seed}"
            seeds.append({"id": f"seed:{name}:{seed}", "kind": "seed", "group": group.name,
                          "seed": seed, "dir": run_dir, **base,
                          **_state(runs / run_dir, steps, {**est, "eval_s": 0.0})})
        member_cost = sum(s["cost_s"] for s in seeds)
        for s in seeds:
            s["order"] = member_cost                           # a member's seeds run together
        items += seeds                                         # trained ones too: carried along
        items.append({"id": f"member:{name}", "kind": "member", "group": group.name,
                      "needs": [s["id"] for s in seeds], "dir": None, **base,
                      "state": "waiting", "cost_s": est["eval_s"] * len(seeds),
                      "order": member_cost})
    if colour:
        excluded.append(f"{len(colour)} experiments need a data set of another kind than "
                        f"{dataset} ({', '.join(sorted({EXPERIMENTS[n].dataset for n in colour}))}"
                        "), which this session has not staged")
    items.sort(key=lambda i: (i.get("order", i["cost_s"]), i["kind"] == "member", i["id"]))
    return items, excluded


def _state(run_dir: Path, steps: int, est: dict) -> dict:
    progress = run_progress(run_dir)
    if progress is None:
        return {"state": "new", "done": 0, "cost_s": steps * est["step_s"] + est["eval_s"]}
    done, total = progress["step"], progress["steps"]
    rate = progress["train_s"] / max(done, 1)                             # measured: s per step
    state = "trained" if done >= total else "partial"
    return {"state": state, "done": done, "steps": total, "train_s": progress["train_s"],
            "cost_s": (total - done) * rate + est["eval_s"]}


def dry_run_selection(items: list[dict]) -> list[dict]:
    """The dry run's few items, the cheapest on a CPU (fewest FLOPs): one experiment, one group
    member (its seeds, then its record), and a second experiment that stops after its first chunk,
    as a run the budget cuts short does, so that a checkpoint is carried back."""
    singles = sorted((i for i in items if i["kind"] == "single"),
                     key=lambda i: (i["steps"] * i["step_flops"], i["id"]))
    member = next((i for i in items if i["kind"] == "member"), None)
    chosen = singles[:1] + ([i for i in items if i["kind"] == "seed" and member
                             and i["id"] in member["needs"]] + [member] if member else [])
    if len(singles) > 1:
        cut = min(singles[1:], key=lambda i: i["ckpt_bytes"])
        chosen.append({**cut, "max_chunks": 1})
    return [i for i in chosen if i["kind"] != "member"] + [i for i in chosen
                                                            if i["kind"] == "member"]


# ---------------------------------------------------------------------------------------------
# 3. A worker: one item, in its own process


def train_chunks(item: dict, data, *, scale: str, device: str, runs: Path, until: float,
                 chunk_s: float) -> dict:
    """Train item's run in chunks that each end with a checkpoint, the last ending before `until`
    (seconds since the epoch). The first chunk is short (a quarter of a chunk by the estimate,
    at most half the run): it measures the speed, and the next resumes from its checkpoint, as
    the next session does. `item["max_chunks"]` (the dry run's) stops it after that many."""
    from vqlit.experiments import get_experiment, train_experiment
    name, out = item["name"], runs / item["dir"]
    extra = {"seed": item["seed"]} if item["kind"] == "seed" else {}
    total = get_experiment(name).config(scale, len(data.train_images)).steps
    progress = run_progress(out)
    done = progress["step"] if progress else 0
    rate = done / progress["train_s"] if progress and progress["train_s"] > 0 \
        else 1 / item["step_s"]                                          # steps per second
    first, chunks = True, 0
    while done < total and chunks < item.get("max_chunks", float("inf")):
        left = until - time.time()
        steps = int(rate * min(chunk_s, 0.8 * left - 3))
        if first:                          # a quarter of a chunk, by the estimate or a past run
            steps = min(steps // 4, max(1, (total - done) // 2))
        if steps < 1:
            break
        began = time.perf_counter()
        _, _, result, config = train_experiment(
            name, scale=scale, device=device, out=out, max_steps=min(total, done + steps),
            resume=True, data=data, progress=False, **extra)
        rate = max(result.steps - done, 1) / (time.perf_counter() - began)
        done, total, first, chunks = result.steps, config.steps, False, chunks + 1
        print(f"{item['id']}: step {done} of {total} ({rate:.1f} steps/s, "
              f"{result.wall_time:.0f} s of training)", flush=True)
    progress = run_progress(out) or {"step": 0, "steps": total, "train_s": 0.0}
    progress["train_s"] = round(progress["train_s"], 1)
    return {**progress, "chunks": chunks,
            "state": "trained" if progress["step"] >= progress["steps"] else "partial"}


def work(item: dict, *, scale: str, device: str, dataset: str, results: Path, runs: Path,
         deadline: float, chunk_s: float) -> dict:
    """Do one queue item; what became of it."""
    from vqlit.experiments import GROUPS, get_experiment, prepare_data, reproduce, reproduce_group
    if item["kind"] == "member":
        group = GROUPS[item["group"]]
        # The group narrowed to this member, in this process only: reproduce_group records every
        # member from its own seeds, so this is the group's record of the member, from the same
        # run directories (runs/GROUP/MEMBER-SCALE-seedS).
        GROUPS[group.name] = dataclasses.replace(group, members=(item["name"],))
        paths = reproduce_group(group.name, scale=scale, out=results, runs=runs, device=device,
                                dataset=dataset, progress=False)
        return {"state": "recorded", "records": [p.name for p in paths]}
    protocol = get_experiment(GROUPS[item["group"]].members[0] if item["kind"] == "seed"
                              else item["name"])        # whose data run_group would load
    data = prepare_data(protocol, scale, dataset=dataset, verbose=True)
    until = deadline - (item["eval_s"] if item["kind"] == "single" else 0) - 5
    outcome = train_chunks(item, data, scale=scale, device=device, runs=runs, until=until,
                           chunk_s=chunk_s)
    if item["kind"] == "single" and outcome["state"] == "trained" \
            and time.time() + item["eval_s"] < deadline:
        path = reproduce(item["name"], scale=scale, out=results, runs=runs, device=device,
                         dataset=dataset, progress=False)        # resumes the finished run
        outcome.update(state="recorded", records=[path.name])
    return outcome


# ---------------------------------------------------------------------------------------------
# 4. The session


@dataclasses.dataclass
class Running:
    item: dict
    proc: subprocess.Popen
    log: Path
    outcome: Path
    started: float


def run_queue(items: list[dict], *, args, settings: dict, deadline: float, logs: Path,
              log: Log) -> list[dict]:
    """Run the items in worker processes, `args.workers` at a time, until done or `deadline`."""
    trained = {i["id"] for i in items if i["kind"] == "seed" and i["state"] == "trained"}
    training = [i for i in items if i["kind"] != "member" and i["id"] not in trained]
    records = [i for i in items if i["kind"] == "member"]
    running: list[Running] = []
    finished: list[dict] = []
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(args.workers, 1)))

    def ready_record():                # a member whose seeds are all trained: record it first
        for item in records:
            if all(n in trained for n in item["needs"]):
                records.remove(item)
                return item
        return None

    committed = 0                      # bytes of checkpoints that may have to be carried back

    def admit(item, left):
        nonlocal committed
        if left < 30:
            return False
        if item["cost_s"] + 15 < left:                       # expected to finish here
            return True
        if committed + item["ckpt_bytes"] <= RUNS_CAP:        # else it resumes next session
            committed += item["ckpt_bytes"]
            return True
        return False

    def start(item):
        outcome = logs / f"{item['id'].replace(':', '_')}.json"
        logfile = logs / f"{item['id'].replace(':', '_')}.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--work", json.dumps(item),
               "--settings", json.dumps({**settings, "deadline": deadline}),
               "--outcome", str(outcome)]
        with open(logfile, "w") as f:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        running.append(Running(item, proc, logfile, outcome, time.time()))
        log(f"  started {item['id']} ({item['state']}, expected {item['cost_s']:.0f} s)")

    while True:
        for r in list(running):
            if r.proc.poll() is None:
                continue
            running.remove(r)
            result = (json.loads(r.outcome.read_text()) if r.outcome.is_file()
                      else {"state": "failed", "error": f"exit status {r.proc.returncode}"})
            result["seconds"] = round(time.time() - r.started, 1)
            finished.append({"item": r.item, **result})
            if result["state"] in ("trained", "recorded") and r.item["kind"] == "seed":
                trained.add(r.item["id"])
            log(f"  {r.item['id']}: {result['state']}"
                + (f" at step {result['step']} of {result['steps']}" if "step" in result else "")
                + (f", recorded {', '.join(result['records'])}" if result.get("records") else "")
                + f" ({result['seconds']:.0f} s)")
            if result["state"] == "failed":              # its log's end, here as well
                tail = r.log.read_text().strip().splitlines()[-15:] if r.log.is_file() else []
                log("\n".join(f"    | {line}" for line in tail) or f"    {result.get('error')}")
        left = deadline - time.time()
        if left <= 0:
            for r in running:                        # the last chunk's checkpoint stays
                log(f"  stopping {r.item['id']}: the budget is spent")
                os.killpg(r.proc.pid, signal.SIGTERM)
            for r in running:
                try:
                    r.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(r.proc.pid, signal.SIGKILL)
                    r.proc.wait()
                progress = r.item["dir"] and run_progress(Path(settings["runs"]) / r.item["dir"])
                finished.append({"item": r.item, "state": "stopped", **(progress or {})})
            break
        while len(running) < args.workers:
            item = ready_record()
            while item is None and training:
                candidate = training.pop(0)
                if admit(candidate, left):
                    item = candidate
                else:
                    finished.append({"item": candidate, "state": "not started", "error": (
                        "under 30 s left" if left < 30 else "it would not finish in the time "
                        "left, and its checkpoint would not fit those carried back")})
            if item is None:
                break
            start(item)
        if not running:
            break
        time.sleep(0.5)
    return finished


def pack(out: Path, *, results: Path, runs: Path, began: float, keep: list[dict],
         logs: Path, log: Log) -> dict:
    """records.tar.gz, runs.tar.gz and logs.tar.gz in `out`; what went where."""
    written = sorted(p for p in results.rglob("*.json") if p.stat().st_mtime >= began)
    if written:
        with tarfile.open(out / "records.tar.gz", "w:gz") as tar:
            for p in written:
                tar.add(p, arcname=f"book/results/{p.relative_to(results).as_posix()}")
    carried, dropped, size = [], [], 0
    for item in sorted(keep, key=lambda i: -i.get("train_s", 0)):  # most training first
        folder = runs / item["dir"]
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        need = sum(p.stat().st_size for p in files)
        if size + need <= RUNS_CAP:
            carried.append((item["dir"], files))
            size += need
        else:
            dropped.append(item["dir"])
    if carried:
        with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
            for name, files in carried:
                for p in files:                       # not .lock: its process is of this machine
                    tar.add(p, arcname=f"runs/{name}/{p.name}")
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        tar.add(logs, arcname="logs")
    for name in dropped:
        log(f"  not carried (over {RUNS_CAP / 2**20:.0f} MiB of checkpoints): {name}; "
            "it restarts next session")
    return {"records": [p.relative_to(results).as_posix() for p in written],
            "carried": [name for name, _ in carried], "dropped": dropped,
            "runs_mib": round(size / 2**20, 1)}


def queue_dataset(name: str, dry_run: bool, log: Log) -> str | None:
    """The data set of the queue's records: `name` where it is here; else, in a dry run, what
    `dataset="auto"` picks, and in a session none (the queue is skipped)."""
    from vqlit.data import DatasetUnavailable, load_dataset
    try:
        load_dataset(name, verbose=False)
        return name
    except DatasetUnavailable as err:
        if not dry_run:
            log(f"{name} is not here, so no record is trained: {err}. `python tools/stage_gpu.py` "
                "puts its files in .gpu/data, which the session must carry")
            return None
        chosen = load_dataset("auto", verbose=False).name
        log(f"{name} is not here; the dry run's records are on {chosen}")
        return chosen


def timed_command(cmd: list[str], *, timeout: float, logfile: Path) -> dict:
    """Run cmd in the tree with a time limit; its output to logfile."""
    began = time.time()
    with open(logfile, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            status = proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status = "timed out"
    lines = [line for line in logfile.read_text().splitlines() if line.strip()]
    return {"status": status, "seconds": round(time.time() - began, 1),
            "last_line": lines[-1] if lines else ""}


def session(args) -> int:
    began = time.time()
    deadline = began + 60 * args.budget_min
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "session.log")
    scratch = Path(tempfile.mkdtemp(prefix="vqlit-session-"))
    results = Path(args.results) if args.results else (
        scratch / "results" if args.dry_run else ROOT / "book" / "results")
    runs = Path(args.runs) if args.runs else (scratch / "runs" if args.dry_run else STAGE / "runs")
    scale = args.scale or ("smoke" if args.dry_run else "full")
    device = args.device or ("cpu" if args.dry_run else "cuda")
    logs = scratch / "logs"
    logs.mkdir()
    log(f"GPU session{' (dry run)' if args.dry_run else ''}, {now_iso()}: budget "
        f"{args.budget_min:g} min, {args.workers} workers, scale {scale}, device {device}, "
        f"data set {args.dataset}")
    summary = {"started": now_iso(), "dry_run": args.dry_run, "budget_min": args.budget_min,
               "scale": scale, "device": device, "dataset": args.dataset,
               "results": str(results), "runs": str(runs),
               "environment": prepare_environment(log)}
    log("environment:", json.dumps(summary["environment"]))
    import torch
    if device.startswith("cuda") and not torch.cuda.is_available():
        log("no CUDA device here: nothing to do (use --dry-run on a CPU)")
        return 2
    from vqlit.results import source_commit
    summary["commit"] = source_commit()
    summary["torch"] = torch.__version__
    log(f"commit {summary['commit']}; torch {torch.__version__}")

    # 2. the compiled CUDA tests (on a CPU they skip: the dry run checks the command)
    cap = min(180.0, 0.3 * (deadline - time.time()))
    log(f"CUDA tests ({', '.join(CUDA_TESTS)}), at most {cap:.0f} s ...")
    summary["cuda_tests"] = timed_command(
        [sys.executable, "-m", "pytest", "-q", "--noconftest", "-o", "addopts=", "-p",
         "no:cacheprovider", *CUDA_TESTS], timeout=cap, logfile=out / "cuda_tests.log")
    log(f"  {summary['cuda_tests']['last_line']} (status {summary['cuda_tests']['status']}, "
        f"{summary['cuda_tests']['seconds']:.0f} s)")

    # 3. bench, with its provenance
    bench_file = results / "benchmarks" / f"bench_{torch.device(device).type}.json"
    shown = bench_file.relative_to(ROOT) if bench_file.is_relative_to(ROOT) else bench_file
    cap = min(150.0, 0.25 * (deadline - time.time()))
    log(f"bench, at most {cap:.0f} s ...")
    summary["bench"] = timed_command(
        [sys.executable, "-m", "vqlit", "bench", "--device", device, "--json", "--out",
         str(shown), *(DRY_BENCH if args.dry_run else ())], timeout=cap,
        logfile=scratch / "bench.out")
    if bench_file.is_file() and bench_file.stat().st_mtime >= began:
        shutil.copy(bench_file, out / "bench.json")
        doc = json.loads(bench_file.read_text())
        faster = [r["dim"] for r in doc["nearest"] if r.get("ratio_to_torch", 2) < 1]
        fused = [r for r in doc["nearest"] if r["path"] == "fused"]
        summary["bench"]["last_line"] = (
            f"{bench_file.name}: {len(doc['rows'])} quantizer rows; the fused nearest kernel is "
            + ("not available" if all("skipped" in r for r in fused) else
               f"faster than the torch path at d = {faster or 'none'}"))
        log(f"  {summary['bench']['last_line']} ({summary['bench']['seconds']:.0f} s)")
    else:
        log(f"  bench failed (status {summary['bench']['status']}): "
            + (scratch / "bench.out").read_text()[-1500:])

    # 4. the queue (whatever breaks here, what was done still comes back)
    only = tuple(args.only.split(",")) if args.only else ()
    summary["queue"], summary["not_started"], keep = [], [], []
    try:
        dataset = summary["dataset"] = queue_dataset(args.dataset, args.dry_run, log)
        items, excluded = (plan(scale=scale, dataset=dataset, results=results, runs=runs,
                                only=only) if dataset else ([], []))
        for line in excluded:
            log(f"left out: {line}")
        if args.dry_run:
            items = dry_run_selection(items)
        log(f"queue: {len(items)} items; {(deadline - time.time()) / 60:.1f} min left")
        settings = {"scale": scale, "device": device, "dataset": dataset,
                    "results": str(results), "runs": str(runs), "chunk_s": args.chunk_s}
        finished = run_queue(items, args=args, settings=settings,
                             deadline=deadline - END_RESERVE_S, logs=logs, log=log)
        done_ids = {f["item"]["id"] for f in finished}
        summary["queue"] = [{"id": f["item"]["id"], **{k: v for k, v in f.items()
                                                       if k != "item"}} for f in finished]
        summary["not_started"] = [i["id"] for i in items if i["id"] not in done_ids
                                  and not (i["kind"] == "seed" and i["state"] == "trained")]
        # 5. what comes back: the runs that are not recorded yet
        left = plan(scale=scale, dataset=dataset, results=results, runs=runs, only=only)[0] \
            if dataset else []
        keep = [i for i in left if i["dir"] and (runs / i["dir"] / "checkpoint.pt").is_file()]
    except Exception:
        log("the queue broke off:\n" + traceback.format_exc())
        summary["queue_error"] = traceback.format_exc().strip().splitlines()[-1]
    summary.update(pack(out, results=results, runs=runs, began=began, keep=keep, logs=logs,
                        log=log))
    summary["recorded"] = [r for q in summary["queue"] for r in q.get("records", [])]
    summary["elapsed_s"] = round(time.time() - began, 1)
    (out / "session.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"recorded {len(summary['recorded'])}: {', '.join(summary['recorded']) or 'none'}; "
        f"carried {len(summary['carried'])} unfinished runs ({summary['runs_mib']} MiB); "
        f"{len(summary['not_started'])} items not reached; {summary['elapsed_s']:.0f} s")
    failed = [q["id"] for q in summary["queue"] if q["state"] == "failed"]
    if failed:
        log(f"FAILED: {', '.join(failed)} (their logs are in logs.tar.gz)")
    shutil.rmtree(logs, ignore_errors=True)
    return 1 if failed or "queue_error" in summary or summary["cuda_tests"]["status"] \
        not in (0, 5) or summary["bench"]["status"] != 0 else 0


# ---------------------------------------------------------------------------------------------
# 5. Back here: collect what came back


def _members(tar: tarfile.TarFile, prefix: str) -> list[tarfile.TarInfo]:
    chosen = []
    for m in tar.getmembers():
        parts = Path(m.name).parts
        if m.name.startswith("/") or ".." in parts or not m.name.startswith(prefix):
            raise ValueError(f"{tar.name}: unexpected member {m.name!r}")
        if m.isfile():
            chosen.append(m)
    return chosen


def collect(folder: Path, *, root: Path = ROOT, stage: Path | None = None) -> dict:
    """Records into root/book/results, checkpoints into stage/runs (default root/.gpu)."""
    stage = stage or root / ".gpu"
    done = {"records": [], "runs": [], "removed": []}
    if (folder / "records.tar.gz").is_file():
        with tarfile.open(folder / "records.tar.gz") as tar:
            for m in _members(tar, "book/results/"):
                if not m.name.endswith(".json"):
                    raise ValueError(f"records.tar.gz: {m.name} is not a record")
                tar.extract(m, root, **({"filter": "data"} if hasattr(tarfile, "data_filter")
                                        else {}))
                done["records"].append(m.name)
    if (folder / "runs.tar.gz").is_file():
        with tarfile.open(folder / "runs.tar.gz") as tar:
            members = _members(tar, "runs/")
            for run in sorted({str(Path(m.name).parent) for m in members}):
                shutil.rmtree(stage / run, ignore_errors=True)       # the newer state replaces it
                done["runs"].append(run)
            for m in members:
                tar.extract(m, stage, **({"filter": "data"} if hasattr(tarfile, "data_filter")
                                         else {}))
    summary = folder / "session.json"
    if summary.is_file():                              # recorded runs need no checkpoint now
        info = json.loads(summary.read_text())
        for q in info.get("queue", []):
            if q.get("state") == "recorded":
                for run in stage.glob(f"runs/**/{q['id'].split(':')[1]}-*"):
                    if run.is_dir() and str(run.relative_to(stage)) not in done["runs"]:
                        shutil.rmtree(run)
                        done["removed"].append(str(run.relative_to(stage)))
    return done


def list_queue(args) -> int:
    prepare_environment(Log(None))
    scale = args.scale or "full"
    items, excluded = plan(scale=scale, dataset=args.dataset,
                           results=Path(args.results) if args.results else ROOT / "book" / "results",
                           runs=Path(args.runs) if args.runs else STAGE / "runs",
                           only=tuple(args.only.split(",")) if args.only else ())
    total = 0.0
    for i in items:
        total += i["cost_s"]
        where = f"{i.get('done', 0)}/{i['steps']}" if i["kind"] != "member" else \
            f"after {len(i['needs'])} seeds"
        print(f"{i['id']:<44} {i['state']:<8} {where:>14}  ~{i['cost_s'] / 60:6.1f} min "
              f"-> {i['record']}")
    for line in excluded:
        print(f"left out: {line}")
    print(f"{len(items)} items, about {total / 3600:.1f} GPU hours one at a time (a prior, "
          "replaced by the measured speed once a run has started)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="where the session's outputs go ($OUT on the GPU machine)")
    p.add_argument("--budget-min", type=float, default=9.0, help="minutes for the whole session")
    p.add_argument("--workers", type=int, default=3, help="training processes at once")
    p.add_argument("--dataset", default="fashion-mnist", help="the data set of the records")
    p.add_argument("--only", help="experiments or groups to work on, separated by commas")
    p.add_argument("--dry-run", action="store_true",
                   help="CPU, smoke scale, tiny bench, a few items, records in a temporary folder")
    p.add_argument("--list", action="store_true", help="print the queue and its expected cost")
    p.add_argument("--collect", metavar="DIR",
                   help="put a session's outputs (in DIR) into book/results and .gpu/runs")
    p.add_argument("--scale", choices=("smoke", "quick", "full"), help=argparse.SUPPRESS)
    p.add_argument("--device", help=argparse.SUPPRESS)
    p.add_argument("--results", help=argparse.SUPPRESS)
    p.add_argument("--runs", help=argparse.SUPPRESS)
    p.add_argument("--chunk-s", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)                  # a worker's item (JSON)
    p.add_argument("--settings", help=argparse.SUPPRESS)
    p.add_argument("--outcome", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.work:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        s = json.loads(args.settings)
        try:
            outcome = work(json.loads(args.work), scale=s["scale"], device=s["device"],
                           dataset=s["dataset"], results=Path(s["results"]),
                           runs=Path(s["runs"]), deadline=s["deadline"], chunk_s=s["chunk_s"])
        except BaseException as err:                # the parent reads why from the outcome
            traceback.print_exc()
            outcome = {"state": "failed", "error": f"{type(err).__name__}: {err}"}
        Path(args.outcome).write_text(json.dumps(outcome))
        return 0 if outcome["state"] != "failed" else 1
    if args.collect:
        done = collect(Path(args.collect))
        print(f"records: {len(done['records'])} into book/results "
              f"({', '.join(Path(r).name for r in done['records']) or 'none'}); "
              f"checkpoints of {len(done['runs'])} unfinished runs into .gpu/runs; "
              f"removed {len(done['removed'])} recorded runs' checkpoints")
        return 0
    if args.list:
        return list_queue(args)
    if not args.out:
        p.error("--out DIR is needed (the folder the session's outputs go to)")
    if args.workers < 1 or args.budget_min <= 0:
        p.error("--workers and --budget-min must be positive")
    if args.dry_run and "--workers" not in (argv if argv is not None else sys.argv):
        args.workers = min(args.workers, os.cpu_count() or 1)
    return session(args)


if __name__ == "__main__":
    sys.exit(main())
