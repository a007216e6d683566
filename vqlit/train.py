# This file is generated from book/chapters/a3_training.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3_training.md:63
"""The training loop: one dataclass config, device and scale detection, atomic checkpoints, exact
resume, JSON-lines metrics, whole-test-set evaluation, and results recorded with provenance."""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqlit.data import Batcher
from vqlit.metrics import code_histogram, perplexity, psnr, usage


# %% book/chapters/a3_training.md:116
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


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bf16" on CUDA (the networks in bfloat16; quantizers keep float32), else "fp32"."""
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cuda" else "fp32"
    return precision


def distributed() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed(device: str | torch.device = "auto") -> torch.device:
    """Join the process group that torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK), if any.

    Returns this process's device: cuda:LOCAL_RANK on GPUs (NCCL), the CPU otherwise (gloo).
    """
    dev = resolve_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return dev
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# %% book/chapters/a3_training.md:198
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
    precision: str = "auto"           # "auto" (bf16 on CUDA, else fp32) | "bf16" | "fp32"
    compile: bool = False             # torch.compile the step (worth it for long GPU runs)
    stop_at: int | None = None        # end this call at that step (checkpointed); resume later

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
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {self.precision!r}")


# %% book/chapters/a3_training.md:243
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


# %% book/chapters/a3_training.md:294
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


# %% book/chapters/a3_training.md:365
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


class _StepLoss(nn.Module):
    """model.loss as a forward pass, so that DDP's gradient hooks and torch.compile see it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor):
        return self.model.loss(x)


def _quiet_finite_checks(model: nn.Module) -> list[nn.Module]:
    """Turn off the per-step NaN checks (a host sync each) of the quantizers inside `model`."""
    quieted = [m for m in model.modules() if getattr(m, "check_finite", False) is True]
    for m in quieted:
        m.check_finite = False
    return quieted


def fit(model: nn.Module, images: Tensor, config: TrainConfig | None = None, *,
        device: str | torch.device = "auto") -> FitResult:
    """Train `model` on uint8 images (N, C, H, W); resumable from config.out_dir.

    Under torchrun (an initialised process group) every process trains a slice of each batch in
    DistributedDataParallel; rank 0 writes the logs and checkpoints.
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    device = resolve_device(device)
    rank, world = distributed()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by the {world} "
                         "processes")
    bf16 = resolve_precision(config.precision, device) == "bf16"
    model.to(device)
    batcher = Batcher(images.to(device), config.batch_size, seed=config.seed)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config)
    out = Path(config.out_dir) if config.out_dir else None
    ckpt = out / "checkpoint.pt" if out else None
    writer = out is not None and rank == 0
    if writer:
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
        if writer:
            _keep_rows(out / "metrics.jsonl", start)
    else:
        seed_everything(config.seed)
        if writer:
            _keep_rows(out / "metrics.jsonl", 0)              # a fresh run starts a fresh log

    def checkpoint(step: int) -> None:
        if writer:
            save_checkpoint(ckpt, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "batcher": batcher.state_dict(), "rng": _rng_state(device), "step": step,
                "history": history, "wall_time": spent + time.perf_counter() - began,
                "window": {"sums": sums, "count": count}, "config": dataclasses.asdict(config)})
        if world > 1:
            torch.distributed.barrier()                   # nobody runs ahead of the checkpoint

    step_loss = _StepLoss(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        ids = [device.index] if device.type == "cuda" else None
        step_loss = DistributedDataParallel(step_loss, device_ids=ids, broadcast_buffers=False)
    if config.compile:
        step_loss = torch.compile(step_loss)
    quieted = _quiet_finite_checks(model) if device.type == "cuda" else []
    model.train()
    began = time.perf_counter()
    step = start
    try:
        with tqdm(total=config.steps, initial=start, disable=not config.progress or rank > 0,
                  desc="training", dynamic_ncols=True) as bar:
            last = min(config.steps, config.stop_at or config.steps)
            for step in range(start + 1, last + 1):
                x = batcher.next()                                       # (B, C, H, W)
                if world > 1:
                    x = x.chunk(world)[rank]                             # (B / world, C, H, W)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss, logs = step_loss(x)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                for k, v in logs.items():                                # stays on the device
                    v = v.detach().float()
                    sums[k] = sums[k] + v if k in sums else v.clone()
                count += 1
                if step % config.log_every == 0 or step == config.steps:
                    values = torch.stack(list(sums.values())) / count    # (logs,)
                    if world > 1:
                        torch.distributed.all_reduce(values)
                        values /= world
                    row = {"step": step, **dict(zip(sums, values.tolist())),   # one host sync
                           "lr": optimizer.param_groups[0]["lr"],
                           "time": round(spent + time.perf_counter() - began, 3)}
                    if not math.isfinite(row.get("loss", 0.0)):
                        raise FloatingPointError(
                            f"the loss is {row['loss']} in the window ending at step {step}; "
                            "lower the learning rate or check the data")
                    history.append(row)
                    sums, count = {}, 0
                    if writer:
                        with open(out / "metrics.jsonl", "a") as f:
                            f.write(json.dumps(row) + "\n")
                    bar.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "usage") if k in row})
                every = config.checkpoint_every
                if ckpt is not None and every and step % every == 0:
                    checkpoint(step)
                bar.update(1)
        if ckpt is not None and step > start:
            checkpoint(step)
    finally:
        for m in quieted:
            m.check_finite = True
    return FitResult(history, step, spent + time.perf_counter() - began, start)


# %% book/chapters/a3_training.md:617
def ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0, window: int = 11,
         sigma: float = 1.5) -> Tensor:
    """Mean SSIM per image, Eq. (ssim): (B, C, H, W) -> (B,); Gaussian window, valid region."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"expected two image batches (B, C, H, W) of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    size = min(window, x.shape[-2], x.shape[-1])
    size -= 1 - size % 2                                           # the largest odd size that fits
    dtype = torch.float32 if x.device.type == "mps" else torch.float64   # variances cancel
    t = torch.arange(size, dtype=dtype, device=x.device) - (size - 1) / 2              # (s,)
    g = torch.exp(-t.square() / (2 * sigma**2))
    g = g / g.sum()                                                                    # (s,)
    channels = x.shape[1]
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, size, size)           # (C, 1, s, s)
    blur = lambda im: F.conv2d(im, kernel, groups=channels)        # (B, C, H-s+1, W-s+1)
    x, y = x.to(dtype), y.to(dtype)
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).float()                                   # (B,), Eq. (ssim)


@dataclass
class Evaluation:
    psnr: float                          # dB, mean over images, data range 1
    mse: float                           # mean squared error per pixel, in [0, 1] units
    ssim: float                          # Eq. (ssim), mean over images
    usage: float | None = None           # fraction of codes chosen at least once
    perplexity: float | None = None      # exp(entropy) of the code histogram
    counts: Tensor | None = field(default=None, repr=False)   # (K,) how often each code was chosen

    def as_dict(self) -> dict[str, float]:
        fields = dataclasses.asdict(self).items()
        return {k: v for k, v in fields if k != "counts" and v is not None}


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, *, batch_size: int = 1000) -> Evaluation:
    """PSNR, MSE, SSIM and whole-set codebook statistics of an autoencoder on uint8 images.

    Runs on the model's device; the images are moved there one batch at a time.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    psnr_sum = mse_sum = ssim_sum = 0.0
    counts = None
    for block in images.split(batch_size):
        x = block.to(device).float() / 255                                      # (b, C, H, W)
        out = model(x)
        recon = out.reconstruction.float().clamp(0, 1)
        psnr_sum += float(psnr(recon, x).sum())
        mse_sum += float((recon - x).square().flatten(1).mean(1).sum())
        ssim_sum += float(ssim(recon, x).sum())
        if out.quantizer is not None:
            hist = code_histogram(out.quantizer.indices, model.quantizer.num_codes)  # (K,)
            counts = hist if counts is None else counts + hist
    model.train(was_training)
    n = len(images)
    if counts is None:
        return Evaluation(psnr_sum / n, mse_sum / n, ssim_sum / n)
    return Evaluation(psnr_sum / n, mse_sum / n, ssim_sum / n, float(usage(counts)),
                      float(perplexity(counts)), counts.cpu())


@torch.no_grad()
def perceptual_metrics(model: nn.Module, images: Tensor, *,
                       batch_size: int = 250) -> tuple[dict[str, float], list[str]]:
    """LPIPS (AlexNet) and rFID (Inception) where their packages and weights are available.

    Returns the metrics computed and, for each one that was not, a sentence saying why.
    """
    device = next(model.parameters()).device
    metrics, notes = {}, []
    batches = [b.to(device).float() / 255 for b in images.split(batch_size)]   # (b, C, H, W) each
    rgb = lambda t: t.expand(-1, 3, -1, -1)                                  # grey -> 3 channels
    model.eval()
    try:
        import lpips
        net = lpips.LPIPS(net="alex", verbose=False).to(device)
        total = sum(float(net(rgb(model(x).reconstruction.float().clamp(0, 1)), rgb(x),
                              normalize=True).sum()) for x in batches)
        metrics["lpips"] = total / len(images)
    except Exception as err:                   # no package, or no network for its weights
        notes.append(f"LPIPS not computed ({type(err).__name__}: {err}); it needs the `lpips` "
                     "package and its AlexNet weights (downloaded on first use)")
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        fid = FrechetInceptionDistance(normalize=True).to(device)
        for x in batches:
            fid.update(rgb(x), real=True)
            fid.update(rgb(model(x).reconstruction.float().clamp(0, 1)), real=False)
        metrics["rfid"] = float(fid.compute())
    except Exception as err:
        notes.append(f"rFID not computed ({type(err).__name__}: {err}); it needs `torchmetrics` "
                     "with `torch-fidelity` and the Inception weights (downloaded on first use)")
    return metrics, notes


# %% book/chapters/a3_training.md:753
def results_dir() -> Path:
    """book/results of the checkout we run in (found from the working directory upwards)."""
    here = Path.cwd().resolve()
    for base in (here, *here.parents):
        if (base / "book" / "results").is_dir():
            return base / "book" / "results"
    return here / "book" / "results"


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


__all__ = ['SCALES', 'resolve_device', 'resolve_scale', 'resolve_precision', 'distributed', 'init_distributed', 'seed_everything', 'TrainConfig', 'make_optimizer', 'make_scheduler', 'save_checkpoint', 'load_checkpoint', 'FitResult', 'fit', 'ssim', 'Evaluation', 'evaluate', 'perceptual_metrics', 'results_dir', 'provenance', 'record_result', 'load_result']
