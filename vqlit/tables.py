# This file is generated from book/chapters/a4c_tables.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4c_tables.md: statements
"""The recorded results beside the papers' numbers, as Markdown tables: one experiment per row,
or a group's mean ± sd over seeds."""
from __future__ import annotations

from pathlib import Path

from vqlit.data import DATASETS
from vqlit.registry import get_experiment, get_group
from vqlit.results import load_result, results_dir


# %% book/chapters/a4c_tables.md: _FORMATS, HEADERS, def _cell, def _measured, ...
_FORMATS = {"usage": "{:.2%}", "cluster_acc": "{:.2%}", "probe_acc": "{:.2%}", "psnr": "{:.2f}",
            "nn_usage": "{:.2%}", "alone_agreement": "{:.1%}", "ssim": "{:.3f}",
            "perplexity": "{:.1f}", "bits_per_image": "{:.0f}", "step_ms": "{:.0f}",
            "fid": "{:.2f}", "fid_cond": "{:.2f}", "prior_bits": "{:.1f}", "cfd": "{:.3g}",
            "prior_bits_cond": "{:.1f}", "cfd_cond": "{:.3g}", "class_agreement": "{:.1%}"}
HEADERS = {   # metric -> its column header, in words with units
    "psnr": "PSNR (dB)", "ssim": "SSIM", "usage": "codebook usage", "perplexity": "perplexity",
    "lpips": "LPIPS", "rfid": "rFID", "mse": "mean squared error", "nmi": "NMI",
    "cluster_acc": "clustering accuracy", "probe_acc": "linear-probe accuracy",
    "nn_usage": "usage of the nearest codes", "alone_agreement": "codes unchanged alone",
    "bits_per_image": "bits per image", "step_ms": "time per step (ms)",
    "fid": "FID, unconditional prior", "fid_cond": "FID, class-conditional prior",
    "prior_bits": "prior's bits per image", "cfd": "classifier Fréchet distance",
    "prior_bits_cond": "prior's bits per image, given the class",
    "cfd_cond": "classifier Fréchet distance, class-conditional prior",
    "class_agreement": "samples in the class asked for"}


def _cell(metrics: dict | None, key: str) -> str:
    if metrics is None or metrics.get(key) is None:
        return "—"
    value = metrics[key]
    return value if isinstance(value, str) else _FORMATS.get(key, "{:.4g}").format(value)


def _measured(record: dict) -> dict:
    """The record's metrics, with "not computed" for each that its notes say was not."""
    missing = {key: "not computed" for key, word in HEADERS.items()
               if any(note.startswith(f"{word} not computed") for note in record["notes"])}
    return {**missing, **record["metrics"]}


def header(key: str) -> str:
    """The column header of a metric.

    Args:
        key: the metric's key in a record, e.g. "psnr"; a key HEADERS lacks is its own header.
    """
    return HEADERS.get(key, key)


def metric_text(key: str, value: float) -> str:
    """A metric's value as the tables print it, e.g. a share as a percentage.

    Args:
        key: the metric's key in a record, e.g. "usage".
        value: its value.
    """
    return _cell({key: value}, key)


# %% book/chapters/a4c_tables.md: def results_table
def results_table(names: list[str], metrics: tuple[str, ...], *,
                  labels: dict[str, str] | None = None, directory: str | Path | None = None) -> str:
    """A Markdown table of experiments NAMES: the paper's row, this book's record on the paper's
    data set (or "not yet recorded"), and this book's records on other data sets.

    Args:
        names: registered experiments, one group of rows each, in this order.
        metrics: the metric keys of the columns, e.g. ("psnr", "usage").
        labels: experiment -> the name shown in the model column; None: the experiment's name.
        directory: where the records are; None: `results_dir()` (book/results in a checkout).
    """
    folder = Path(directory) if directory is not None else results_dir()
    head = "| data set | model | " + " | ".join(map(header, metrics)) + " | source |"
    lines = [head, "|" + "---|" * (len(metrics) + 3)]
    for name in names:
        experiment = get_experiment(name)
        label = (labels or {}).get(name, name)
        base = name.removesuffix(f"_{experiment.dataset}")
        others = [d for d in DATASETS if (folder / f"{base}_{d}.json").exists()]
        if experiment.paper:
            cells = " | ".join(_cell(experiment.paper, m) for m in metrics)
            lines.append(f"| {experiment.dataset} | {label} | {cells} | {experiment.source} "
                         "(paper) |")
        for ds in [experiment.dataset] + [d for d in others if d != experiment.dataset]:
            record = load_result(f"{base}_{ds}", folder)
            if record is not None and record["experiment"] != name:     # another protocol's run
                continue
            if record is None:
                cells = " | ".join("not yet recorded" for _ in metrics)
                lines.append(f"| {ds} | {label} | {cells} | this book, full scale |")
                continue
            prov = record["provenance"]
            cells = " | ".join(_cell(_measured(record), m) for m in metrics)
            lines.append(f"| {ds} | {label} | {cells} | this book, {prov['scale']} scale: "
                         f"{prov['device']}, {prov['date'][:10]}, commit "
                         f"{prov['commit'][:8].strip()} |")
    return "\n".join(lines)


# %% book/chapters/a4c_tables.md: def load_group, def group_table
def load_group(name: str, dataset: str, directory: str | Path | None = None) -> dict | None:
    """Experiment -> recorded summary of group NAME on `dataset`, or None unless every member is
    recorded; each summary carries its record's provenance under "provenance".

    Args:
        name: the group, e.g. "compare".
        dataset: the data set the records were made on, e.g. "fashion-mnist".
        directory: where the records are; None: `results_dir()` (book/results in a checkout).
    """
    records = {}
    for member in get_group(name).members:
        experiment = get_experiment(member)
        record = load_result(member.removesuffix(f"_{experiment.dataset}") + f"_{dataset}",
                             directory)
        if record is None or record["experiment"] != member:
            return None
        records[member] = {**record["metrics"], "provenance": record["provenance"]}
    return records


def group_table(summary: dict[str, dict], metrics: tuple[str, ...], *,
                labels: dict[str, str] | None = None) -> str:
    """A Markdown table, one row per experiment of `summary`, as mean ± sd over its seeds.

    Args:
        summary: experiment -> metrics, their "<metric>_sd" and "seeds", as `summarize` returns
            or `load_group` reads them; a single seed shows no ± sd.
        metrics: the metric keys of the columns, e.g. ("psnr", "usage").
        labels: experiment -> the name shown in the method column; None: the experiment's name.
    """
    def cell(row: dict, key: str) -> str:
        if row.get(key) is None or row.get("seeds", 1) < 2:
            return _cell(row, key)
        return f"{_cell(row, key)} ± {_cell({key: row[f'{key}_sd']}, key)}"
    lines = ["| method | " + " | ".join(map(header, metrics)) + " |",
             "|" + "---|" * (len(metrics) + 1)]
    for name, row in summary.items():
        cells = " | ".join(cell(row, m) for m in metrics)
        lines.append(f"| {(labels or {}).get(name, name)} | {cells} |")
    return "\n".join(lines)


__all__ = ['HEADERS', 'header', 'metric_text', 'results_table', 'load_group', 'group_table']
