# This file is generated from book/chapters/a3_training.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3_training.md:60
"""The training loop: one dataclass config, device and scale detection, atomic checkpoints, exact
resume, JSON-lines metrics, whole-test-set evaluation, and results recorded with provenance."""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vqlit.data import Batcher
from vqlit.metrics import code_histogram, perplexity, psnr, usage


# %% book/chapters/a3_training.md:111
SCALES = ("smoke", "quick", "full")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> the first CUDA device if there is one, else the CPU; anything else is checked."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"not a device: {device!r} (expected 'auto', 'cpu', 'cuda' or "
                         "'cuda:N')") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but this machine has no CUDA device; "
                         "use 'cpu' or 'auto'")
    return dev


def resolve_scale(scale: str = "auto", device: str | torch.device = "auto") -> str:
    """"auto" -> "full" on a CUDA device, "quick" otherwise; the others are returned as they are."""
    if scale == "auto":
        return "full" if resolve_device(device).type == "cuda" else "quick"
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)} or 'auto', got {scale!r}")
    return scale


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# %% book/chapters/a3_training.md:163
@dataclass
class TrainConfig:
    """Everything that defines a training run (the model and the data aside)."""

    steps: int = 1000                 # optimisation steps
    batch_size: int = 256
    lr: float = 1e-3                  # peak learning rate
    optimizer: str = "adam"           # "adam" | "adamw"
    eps: float = 1e-8                 # Adam's epsilon (OptVQ uses 1e-7)
    weight_decay: float = 0.0         # on Linear / Conv weights only (not biases, not codebooks)
    schedule: str = "constant"        # "constant" | "onecycle" (cosine, 1 % warm-up, as OptVQ)
    grad_clip: float | None = None    # max global gradient norm
    seed: int = 0
    log_every: int = 50               # steps per row of metrics.jsonl
    checkpoint_every: int = 0         # steps between checkpoints; 0: only at the end
    out_dir: str | None = None        # where checkpoint.pt and metrics.jsonl go; None: keep nothing
    resume: bool = True               # continue from out_dir/checkpoint.pt if it exists
    progress: bool = True             # a tqdm progress bar

    def __post_init__(self):
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("constant", "onecycle"):
            raise ValueError(f"schedule must be 'constant' or 'onecycle', got {self.schedule!r}")
        for name in ("steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


# %% book/chapters/a3_training.md:203
def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam(W) with weight decay on Linear/Conv weights only."""
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    decayed = {id(m.weight) for m in model.modules() if isinstance(m, layers)}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) in decayed], "weight_decay": config.weight_decay},
        {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
    ]
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=config.lr, eps=config.eps)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """The learning-rate schedule, stepped once per optimisation step (None for a constant rate)."""
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                   total_steps=config.steps, pct_start=0.01,
                                                   anneal_strategy="cos")
    return None


# %% book/chapters/a3_training.md:254
def save_checkpoint(path: str | Path, state: dict) -> Path:
    """torch.save to a temporary file, fsync, then an atomic rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location=None) -> dict:
    """Load a checkpoint without unpickling arbitrary objects (weights_only=True)."""
    return torch.load(path, map_location=map_location, weights_only=True)


# %% book/chapters/a3_training.md:308
_RECIPE = ("batch_size", "lr", "optimizer", "eps", "weight_decay", "schedule", "grad_clip", "seed")


@dataclass
class FitResult:
    history: list[dict]        # one row per logging window: step, averaged logs, lr, time
    steps: int                 # steps completed
    wall_time: float           # seconds, summed over resumptions
    resumed_from: int = 0      # the step the run resumed from (0: a fresh run)


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _keep_rows(path: Path, last_step: int) -> None:
    """Drop the rows of a metrics file written after `last_step` (atomically)."""
    if path.exists():
        rows = [line for line in path.read_text().splitlines()
                if line and json.loads(line)["step"] <= last_step]
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(r + "\n" for r in rows))
        os.replace(tmp, path)


def fit(model: nn.Module, images: Tensor, config: TrainConfig | None = None, *,
        device: str | torch.device = "auto") -> FitResult:
    """Train `model` on uint8 images (N, C, H, W); resumable from config.out_dir."""
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    device = resolve_device(device)
    model.to(device)
    batcher = Batcher(images.to(device), config.batch_size, seed=config.seed)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config)
    out = Path(config.out_dir) if config.out_dir else None
    ckpt = out / "checkpoint.pt" if out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    history, start, spent, sums, count = [], 0, 0.0, {}, 0

    if ckpt is not None and config.resume and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=device)
        changed = [k for k in _RECIPE if state["config"].get(k) != getattr(config, k)]
        if config.schedule == "onecycle" and state["config"]["steps"] != config.steps:
            changed.append("steps")
        if changed:
            raise ValueError(f"{ckpt} was written with a different recipe ({', '.join(changed)}); "
                             "use another out_dir, or resume=False to start over")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        batcher.load_state_dict(state["batcher"])
        _set_rng_state(state["rng"], device)
        history, start, spent = state["history"], state["step"], state["wall_time"]
        sums, count = state["window"]["sums"], state["window"]["count"]
        _keep_rows(out / "metrics.jsonl", start)
    else:
        seed_everything(config.seed)
        if out is not None:
            _keep_rows(out / "metrics.jsonl", 0)              # a fresh run starts a fresh log

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "batcher": batcher.state_dict(), "rng": _rng_state(device), "step": step,
            "history": history, "wall_time": spent + time.perf_counter() - began,
            "window": {"sums": sums, "count": count}, "config": dataclasses.asdict(config)})

    model.train()
    began = time.perf_counter()
    step = start
    with tqdm(total=config.steps, initial=start, disable=not config.progress, desc="training",
              dynamic_ncols=True) as bar:
        for step in range(start + 1, config.steps + 1):
            loss, logs = model.loss(batcher.next())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            for k, v in logs.items():                                   # stays on the device
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            if step % config.log_every == 0 or step == config.steps:
                row = {"step": step, **{k: float(v) / count for k, v in sums.items()},   # one sync
                       "lr": optimizer.param_groups[0]["lr"],
                       "time": round(spent + time.perf_counter() - began, 3)}
                history.append(row)
                sums, count = {}, 0
                if out is not None:
                    with open(out / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(row) + "\n")
                bar.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "usage") if k in row})
            if ckpt is not None and config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint(step)
            bar.update(1)
    if ckpt is not None and step > start:
        checkpoint(step)
    return FitResult(history, step, spent + time.perf_counter() - began, start)


# %% book/chapters/a3_training.md:480
@dataclass
class Evaluation:
    psnr: float                          # dB, mean over images, data range 1
    mse: float                           # mean squared error per pixel, in [0, 1] units
    usage: float | None = None           # fraction of codes chosen at least once
    perplexity: float | None = None      # exp(entropy) of the code histogram
    counts: Tensor | None = field(default=None, repr=False)   # (K,) how often each code was chosen

    def as_dict(self) -> dict[str, float]:
        fields = dataclasses.asdict(self).items()
        return {k: v for k, v in fields if k != "counts" and v is not None}


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, *, batch_size: int = 1000) -> Evaluation:
    """PSNR, MSE and whole-set codebook statistics of an autoencoder on uint8 images.

    Runs on the model's device; the images are moved there one batch at a time.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    psnr_sum = mse_sum = 0.0
    counts = None
    for block in images.split(batch_size):
        x = block.to(device).float() / 255                                      # (b, C, H, W)
        out = model(x)
        recon = out.reconstruction.float().clamp(0, 1)
        psnr_sum += float(psnr(recon, x).sum())
        mse_sum += float((recon - x).square().flatten(1).mean(1).sum())
        if out.quantizer is not None:
            hist = code_histogram(out.quantizer.indices, model.quantizer.num_codes)  # (K,)
            counts = hist if counts is None else counts + hist
    model.train(was_training)
    n = len(images)
    if counts is None:
        return Evaluation(psnr_sum / n, mse_sum / n)
    return Evaluation(psnr_sum / n, mse_sum / n, float(usage(counts)), float(perplexity(counts)),
                      counts.cpu())


# %% book/chapters/a3_training.md:536
def results_dir() -> Path:
    """book/results of the checkout we run in (found from the working directory upwards)."""
    here = Path.cwd().resolve()
    for base in (here, *here.parents):
        if (base / "book" / "results").is_dir():
            return base / "book" / "results"
    return here / "book" / "results"


def provenance(device: str | torch.device, *, scale: str, wall_time: float) -> dict:
    """Where and how a result was produced."""
    device = torch.device(device)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        commit += "+uncommitted changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"commit": commit, "device": name, "torch": torch.__version__,
            "python": platform.python_version(), "date": now,
            "wall_time_s": round(wall_time, 1), "scale": scale}


def record_result(name: str, metrics: dict, *, device, scale: str, wall_time: float,
                  config: dict | None = None, paper: dict | None = None,
                  directory: str | Path | None = None) -> Path:
    """Write directory/NAME.json atomically: metrics, the paper's numbers, recipe, provenance."""
    directory = Path(directory) if directory is not None else results_dir()
    directory.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "metrics": metrics, "paper": paper, "config": config,
              "provenance": provenance(device, scale=scale, wall_time=wall_time)}
    path = directory / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def load_result(name: str, directory: str | Path | None = None) -> dict | None:
    """The recorded result NAME, or None if it has not been recorded."""
    path = (Path(directory) if directory is not None else results_dir()) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


__all__ = ['SCALES', 'resolve_device', 'resolve_scale', 'seed_everything', 'TrainConfig', 'make_optimizer', 'make_scheduler', 'save_checkpoint', 'load_checkpoint', 'FitResult', 'fit', 'Evaluation', 'evaluate', 'results_dir', 'provenance', 'record_result', 'load_result']
