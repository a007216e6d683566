# This file is generated from book/chapters/a4b_runs.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4b_runs.md: def _run_info, _RUN_KEYS, def _run_label
"""Training, measuring and recording the named experiments of vqlit.registry: one run, what it
costs before it starts, and a group over seeds (the engine behind `python -m vqlit`)."""
from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vqlit.data import load_dataset
from vqlit.data_batching import ImageData
from vqlit.data_formats import DatasetUnavailable
from vqlit.evaluation import evaluate, perceptual_metrics
from vqlit.registry import Experiment, get_experiment, get_group
from vqlit.results import record_result
from vqlit.train import fit
from vqlit.train_checkpoints import claim_dir, load_checkpoint
from vqlit.train_config import (SCALES, TrainConfig, resolve_device, resolve_precision,
                                resolve_scale)
from vqlit.train_distributed import distributed


def _run_info(directory: Path) -> dict:
    path = Path(directory) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a training directory (no run.json); "
                                "`python -m vqlit train NAME --out DIR` makes one")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(info, dict) or not set(_RUN_KEYS) <= set(info):
        raise ValueError(f"{path} must name {', '.join(_RUN_KEYS)}; it holds {info!r:.200}")
    return info


_RUN_KEYS = ("experiment", "scale", "dataset", "seed")


def _run_label(info: dict) -> str:
    """What a run is, as its checkpoint keeps it (TrainConfig.label)."""
    return f"{info['experiment']} at {info['scale']} on {info['dataset']}, seed {info['seed']}"


# %% book/chapters/a4b_runs.md: def prepare_data
def prepare_data(experiment: Experiment, scale: str, *, dataset: str | None = None,
                 verbose: bool = True, data: ImageData | None = None) -> ImageData:
    """The experiment's data set, subset for `scale` (a smoke run falls back to a local one).

    Args:
        experiment: the protocol, whose data set, image size and subset sizes are read.
        scale: "smoke", "quick" or "full"; only "smoke" may replace a missing data set.
        dataset: a name of `vqlit.data.DATASETS` to load instead; None: the experiment's.
        verbose: print what is loaded or downloaded.
        data: images already loaded, only subset here; None: load them.
    """
    name = dataset or experiment.dataset
    try:
        if data is None:
            data = load_dataset(name, image_size=experiment.image_size, verbose=verbose)
    except DatasetUnavailable as err:
        if scale != "smoke":
            raise
        data = load_dataset("auto", image_size=experiment.image_size, verbose=verbose)
        print(f"note: {name} is not available here ({str(err).split('.')[0]}); the smoke run "
              f"uses {data.name} instead")
    recipe = experiment.recipes[scale]
    return data.subset(recipe.get("train"), recipe.get("test"))


# %% book/chapters/a4b_runs.md: def train_experiment
def train_experiment(name: str, *, scale: str = "auto", device: str | torch.device = "auto",
                     out: str | Path | None = None, max_steps: int | None = None,
                     resume: bool = True, dataset: str | None = None, progress: bool = True,
                     data: ImageData | None = None, recipes: str | None = None, **overrides):
    """Train experiment NAME; returns (model, data, FitResult, TrainConfig).

    Args:
        name: the experiment whose model is trained, e.g. "vq_nn_mnist".
        scale: "smoke", "quick" or "full"; "auto" is "quick" (a paper's protocol is "full").
        device: "auto" (CUDA when there is one), "cpu", "cuda", "cuda:N" or a torch.device.
        out: the directory for checkpoint.pt, metrics.jsonl and run.json; None: keep nothing.
        max_steps: end this call at that step, checkpointed to resume later; None: train out.
        resume: continue from `out`'s checkpoint where it holds this same run.
        dataset: train on this data set instead of the experiment's; None: the experiment's.
        progress: show a progress bar.
        data: already loaded images (a chapter's), subset here as the protocol says.
        recipes: train NAME's model with that experiment's recipes (two models at one budget).
        overrides: TrainConfig fields that replace the protocol's, e.g. seed or precision.
    """
    experiment = get_experiment(name)
    protocol = get_experiment(recipes) if recipes else experiment
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    rank, _ = distributed()
    data = prepare_data(protocol, scale, dataset=dataset or (None if data else experiment.dataset),
                        verbose=rank == 0, data=data)
    config = protocol.config(scale, len(data.train_images), out_dir=str(out) if out else None,
                             resume=resume, progress=progress, stop_at=max_steps, **overrides)
    if out is not None and not config.checkpoint_every:
        config.checkpoint_every = max(config.steps // 20, 1)       # a checkpoint every 5 %
    info = {"experiment": name, "scale": scale, "dataset": data.name, "seed": config.seed}
    config.label = _run_label(info)                    # the checkpoint knows which run it is
    torch.manual_seed(config.seed)
    model = experiment.build(data, scale)
    release = lambda: None
    if out is not None and rank == 0:
        release = claim_dir(out)                       # one training per directory, from here
        try:
            done = [(Path(out) / f).exists() for f in ("checkpoint.pt", "run.json")]
            if resume and all(done):
                saved = _run_info(out)                 # checked before anything is rewritten
                if {k: saved[k] for k in _RUN_KEYS} != info:
                    raise ValueError(f"{out} holds a run of {saved}, not of {info}; resume it "
                                     "with its own settings, or choose another output directory")
            (Path(out) / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        except BaseException:
            release()
            raise
    try:
        result = fit(model, data.train_images, config, device=device)
    finally:
        release()
    return model, data, result, config


# %% book/chapters/a4b_runs.md: def _step_seconds, def _duration, def expected_cost
def _step_seconds(experiment: Experiment, scale: str, data: ImageData, device: torch.device,
                  precision: str, timed_steps: int) -> float:
    """Seconds per training step of `experiment`'s recipe at `scale`, timed on `device`."""
    config = dataclasses.replace(
        experiment.config(scale, len(data.train_images)), steps=timed_steps + 1, log_every=1,
        out_dir=None, progress=False, checkpoint_every=0, stop_at=None, precision=precision)
    torch.manual_seed(0)
    model = experiment.build(data, scale)
    images = data.train_images[: 2 * config.batch_size]
    times = [row["time"] for row in fit(model, images, config, device=device).history]  # per step
    return statistics.median(b - a for a, b in zip(times, times[1:]))   # robust to one slow step


def _duration(seconds: float) -> str:
    return (f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400
            else f"{seconds / 3600:.1f} h")


def expected_cost(runs: dict[str, int] | list[tuple[str | Experiment, int]], *,
                  data: ImageData, scale: str = "auto", device: str | torch.device = "auto",
                  precision: str = "auto", timed_steps: int = 4,
                  verbose: bool = True) -> dict[str, float]:
    """Expected training seconds of `runs` at each scale on `device`, measured as the section
    above says; prints a summary naming the data set, device, precision and scale.

    Args:
        runs: experiment name -> number of runs (e.g. seeds), or (name or Experiment, number).
        data: the training images the runs will use (their size scales the full run's steps).
        scale, device: the scale and the device the runs will use, as in `train_experiment`.
        precision: "auto" (bf16 on a GPU that has it, else fp32), "bf16" or "fp32".
        timed_steps: steps timed per recipe, after one warm-up step; the median counts.
        verbose: print the summary.
    """
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    precision = resolve_precision(precision, device)
    total = dict.fromkeys(SCALES, 0.0)
    runs = list(runs.items() if isinstance(runs, dict) else runs)
    for name, count in runs:
        experiment = name if isinstance(name, Experiment) else get_experiment(name)
        timed = {scale: _step_seconds(experiment, scale, data, device, precision, timed_steps)}
        batch = {s: experiment.recipes[s]["batch_size"] for s in SCALES}
        for other in SCALES:
            size = min(experiment.recipes[other].get("train") or len(data.train_images),
                       len(data.train_images))
            steps = experiment.config(other, size).steps
            other_model = experiment.recipes[other].get("model", experiment.model)
            if other not in timed and (device.type == "cuda" or other_model is not
                                       experiment.recipes[scale].get("model", experiment.model)):
                timed[other] = _step_seconds(experiment, other, data, device, precision,
                                             timed_steps)
            per_step = timed.get(other, timed[scale] * batch[other] / batch[scale])
            total[other] += count * steps * per_step
    if verbose:
        where = (torch.cuda.get_device_name(device) if device.type == "cuda"
                 else f"the CPU ({torch.get_num_threads()} threads)")
        print(f"device: {where}; precision: {precision}; scale: {scale}; data: {data.name}, "
              f"{len(data.train_images):,} training images")
        how = ("timed at each scale's batch" if device.type == "cuda" else
               f"timed at the {scale} scale and for each other network, the others scaled by the "
               "images they process")
        print(f"expected training time on this device ({sum(c for _, c in runs)} runs; {how}): "
              + ", ".join(f"{s} {_duration(t)}" + (" (this run)" if s == scale else "")
                          for s, t in total.items()))
    return total


# %% book/chapters/a4b_runs.md: def measure, def load_run, def evaluate_run, def reproduce
def measure(experiment: Experiment, model: nn.Module, data: ImageData, scale: str) -> dict:
    """The experiment's metrics on the test set, with "notes" on any that could not be computed.

    Args:
        experiment: the protocol: its own `metrics`, or else Appendix C's, LPIPS and rFID.
        model: the trained model.
        data: the images; the test set is measured.
        scale: the scale, which an experiment's own metrics may read (k-means restarts).
    """
    if experiment.metrics is not None:
        return experiment.metrics(model, data, scale)
    scores = evaluate(model, data.test_images).as_dict()
    extra, notes = perceptual_metrics(model, data.test_images)
    return {**scores, **extra, **({"notes": notes} if notes else {})}


def load_run(directory: str | Path, *, device: str | torch.device = "auto"):
    """The run trained into `directory`: (its run.json, the model in eval mode, its data, step).

    Args:
        directory: a training directory of `train_experiment` (run.json and checkpoint.pt).
        device: where to put the model, as in `train_experiment`.
    """
    info = _run_info(directory)
    experiment = get_experiment(info["experiment"])
    data = prepare_data(experiment, info["scale"], dataset=info["dataset"], verbose=False)
    torch.manual_seed(info["seed"])
    model = experiment.build(data, info["scale"])
    path = Path(directory) / "checkpoint.pt"
    state = load_checkpoint(path, map_location="cpu")
    label = state["config"].get("label")               # absent in checkpoints of older versions
    if label and label != _run_label(info):
        raise ValueError(f"{path} holds a run of {label}, but run.json describes "
                         f"{_run_label(info)}; restore run.json, or train afresh elsewhere")
    model.load_state_dict(state["model"])
    return info, model.to(resolve_device(device)).eval(), data, state["step"]


def evaluate_run(directory: str | Path, *, device: str | torch.device = "auto") -> dict:
    """The metrics of the run trained into `directory`, with its experiment, scale and data set.

    Args:
        directory, device: as in `load_run`.
    """
    info, model, data, step = load_run(directory, device=device)
    return {"experiment": info["experiment"], "scale": info["scale"], "dataset": data.name,
            "step": step, **measure(get_experiment(info["experiment"]), model, data, info["scale"])}


def reproduce(name: str, *, scale: str = "auto", out: str | Path | None = None,
              runs: str | Path = "runs", device: str | torch.device = "auto",
              dataset: str | None = None, precision: str = "auto",
              progress: bool = True) -> Path:
    """Train and evaluate experiment NAME and record it (`record_run`); the record's path.

    Args:
        name: the experiment, e.g. "vq_nn_mnist".
        scale, device, dataset, progress: as in `train_experiment` (a record says its data set).
        out: the directory of the record; None: `records_out()` (book/results in a checkout).
        runs: the directory under which the training directory NAME-SCALE is kept.
        precision: "auto" (bf16 on a GPU that has it, else fp32), "bf16" or "fp32".
    """
    experiment, device = get_experiment(name), resolve_device(device)
    scale = resolve_scale(scale, device)
    model, data, result, config = train_experiment(
        name, scale=scale, device=device, out=Path(runs) / f"{name}-{scale}", dataset=dataset,
        progress=progress, precision=precision)
    metrics = measure(experiment, model, data, scale)
    return record_run(name, model, data, config, metrics, scale=scale, device=device,
                      wall_time=result.wall_time, out=out)


# %% book/chapters/a4b_runs.md: def _record_source, def record_run
def _record_source(experiment: Experiment, dataset: str) -> str:
    """A record's source: the experiment's on its own data set, else what this book ran where."""
    if dataset == experiment.dataset:
        return experiment.source
    protocol = experiment.source.removeprefix("this book, ") or experiment.name
    if protocol.startswith("this book: "):             # this book's grid: its name, not its data
        protocol = protocol.removeprefix("this book: ").split(" (")[0]
    row = "the paper's row is" if experiment.paper else "the protocol is"
    return (f"this book: the protocol of {protocol}, run on {dataset} "
            f"({row} on {experiment.dataset})")


def record_run(name: str, model: nn.Module, data: ImageData, config: TrainConfig, metrics: dict,
               *, scale: str, device, wall_time: float, out: str | Path | None = None) -> Path:
    """Record a trained run of experiment NAME as a results record; the record's path.

    Args:
        name: the experiment that was trained.
        model: the trained model, described in the record by its class and quantizer's repr.
        data: the data it was trained and measured on; the record is named for `data.name`.
        config: the TrainConfig that ran; its precision is recorded as it resolved on `device`.
        metrics: metric -> value, with an optional "notes" list (e.g. why LPIPS is missing).
        scale, device: the scale and the device it ran at and on (the provenance names both).
        wall_time: the seconds `fit` spent training (summed over seeds for a group's record).
        out: the directory of the record; None: `records_out()` (book/results in a checkout).
    """
    experiment = get_experiment(name)
    metrics = dict(metrics)
    notes = metrics.pop("notes", [])
    if data.name != experiment.dataset:
        notes.append(f"trained and evaluated on {data.name}, not the paper's {experiment.dataset}")
    quantizer = getattr(model, "quantizer", None)
    described = {"model": type(model).__name__,
                 "quantizer": None if quantizer is None else repr(quantizer),
                 "quantizer_weight": getattr(model, "quantizer_weight", None)}
    train = {k: v for k, v in vars(config).items() if k not in ("out_dir", "progress")}
    paper_row = data.name == experiment.dataset                  # only then the paper's numbers
    return record_result(
        name.removesuffix(f"_{experiment.dataset}") + f"_{data.name}", metrics,
        experiment=name, dataset=data.name, source=_record_source(experiment, data.name),
        notes=notes, config={"train": train, "model": described,
                             "evaluation": experiment.evaluation.get(scale, {})},
        paper=experiment.paper if paper_row else None, device=device, scale=scale,
        wall_time=wall_time, precision=resolve_precision(config.precision, device),
        directory=out)


# %% book/chapters/a4b_runs.md: class GroupRun, def run_group
@dataclass
class GroupRun:
    """One trained run of a group.

    Attributes:
        experiment: the member's experiment name.
        seed: the seed it trained with.
        model: the trained model.
        fit: what `fit` returned (vqlit.train.FitResult): history, steps and wall time.
        config: the TrainConfig that ran.
        data: the data it was trained and measured on.
        metrics: its metrics (`measure`) plus "step_ms", milliseconds per training step.
    """

    experiment: str
    seed: int
    model: nn.Module
    fit: object
    config: TrainConfig
    data: ImageData
    metrics: dict


def run_group(name: str, *, scale: str = "auto", device: str | torch.device = "auto",
              dataset: str | None = None, data: ImageData | None = None,
              seeds: int | None = None, runs: str | Path | None = None,
              precision: str = "auto", progress: bool = True) -> list[GroupRun]:
    """Train and measure every member of group NAME for each of its seeds.

    Args:
        name: the group, e.g. "compare".
        scale, device, dataset, precision: as in `reproduce`, for every member.
        data: images already loaded, shared by every run; None: load them once.
        seeds: seeds 0 to seeds - 1; None: the group's number for the scale.
        runs: a directory for each run's checkpoints, so that calling again resumes the group
            where it stopped (finished runs are loaded, not trained again); None: keep none.
        progress: one progress bar over the runs.
    """
    from tqdm.auto import tqdm
    group = get_group(name)
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    first = get_experiment(group.members[0])
    data = prepare_data(first, scale, dataset=dataset, data=data, verbose=progress)
    seeds = group.seeds[scale] if seeds is None else seeds
    done = []
    with tqdm(total=len(group.members) * seeds, desc=name, disable=not progress) as bar:
        for member in group.members:
            for seed in range(seeds):
                bar.set_postfix_str(f"{member} seed {seed}")
                out = None if runs is None else Path(runs) / f"{member}-{scale}-seed{seed}"
                model, used, result, config = train_experiment(
                    member, scale=scale, device=device, data=data, seed=seed, out=out,
                    progress=False, precision=precision)
                metrics = measure(get_experiment(member), model, used, scale)
                metrics["step_ms"] = 1000 * result.wall_time / max(result.steps, 1)
                done.append(GroupRun(member, seed, model, result, config, used, metrics))
                bar.update()
    return done


# %% book/chapters/a4b_runs.md: def summarize, def reproduce_group
def summarize(runs: list[GroupRun]) -> dict[str, dict[str, float]]:
    """Experiment -> {metric: mean over seeds, metric_sd: sample sd (0 for one seed), seeds}.

    Args:
        runs: the runs of `run_group`; every numeric metric is summarized.
    """
    by_name: dict[str, list[dict]] = {}
    for run in runs:
        by_name.setdefault(run.experiment, []).append(run.metrics)
    summary = {}
    for name, rows in by_name.items():
        keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
        values = {k: torch.tensor([float(r[k]) for r in rows], dtype=torch.float64) for k in keys}
        summary[name] = {"seeds": len(rows)}
        for k, v in values.items():
            summary[name][k] = float(v.mean())
            summary[name][f"{k}_sd"] = float(v.std()) if len(v) > 1 else 0.0
    return summary


def reproduce_group(name: str, *, scale: str = "auto", out: str | Path | None = None,
                    runs: str | Path = "runs", device: str | torch.device = "auto",
                    dataset: str | None = None, precision: str = "auto",
                    progress: bool = True) -> list[Path]:
    """Run group NAME (`run_group`) and record each member's mean and sd over seeds; the paths.

    Args:
        name: the group, e.g. "compare".
        scale, device, dataset, precision: as in `reproduce`, for every member.
        out: the directory of the records; None: `records_out()` (book/results in a checkout).
        runs: the directory under which the group's training directories are kept (resumable).
        progress: one progress bar over the runs.
    """
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    began = time.perf_counter()
    done = run_group(name, scale=scale, device=device, dataset=dataset, progress=progress,
                     runs=Path(runs) / name, precision=precision)
    summary, paths = summarize(done), []
    for run in done:
        if run.seed == 0:
            spent = sum(r.fit.wall_time for r in done if r.experiment == run.experiment)
            paths.append(record_run(run.experiment, run.model, run.data, run.config,
                                    summary[run.experiment], scale=scale, device=device,
                                    wall_time=spent, out=out))
    print(f"{name}: {len(done)} runs in {time.perf_counter() - began:.0f} s")
    return paths


__all__ = ['prepare_data', 'train_experiment', 'expected_cost', 'measure', 'load_run', 'evaluate_run', 'reproduce', 'record_run', 'GroupRun', 'run_group', 'summarize', 'reproduce_group']
