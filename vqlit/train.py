# This file is generated from book/chapters/a3_training.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3_training.md:69
"""The training loop: one dataclass config, device and scale detection, atomic checkpoints, exact
resume and JSON-lines metrics. Scoring is in vqlit.evaluation, recorded results in vqlit.results."""
from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from vqlit.data import Batcher


# %% book/chapters/a3_training.md:129
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


# %% book/chapters/a3_training.md:148
SCALES = ("smoke", "quick", "full")


def resolve_scale(scale: str = "auto", device: str | torch.device = "auto") -> str:
    """"auto" -> "quick" on every device (the papers' protocols are scale="full", asked for by
    name); the others are returned as they are. `device` is checked, and kept for callers."""
    resolve_device(device)
    if scale == "auto":
        return "quick"
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)} or 'auto', got {scale!r}")
    return scale


# %% book/chapters/a3_training.md:186
PRECISIONS = ("auto", "bf16", "fp32")


def bf16_capable(device: str | torch.device) -> bool:
    """Whether `device` has bfloat16 arithmetic: a CUDA GPU of compute capability 8.0 or more."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """"auto" -> "bf16" (bfloat16 autocast for the networks; quantizers keep float32) on a CUDA
    GPU of compute capability 8.0 or more, else "fp32"; "bf16" on an older GPU is refused."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = torch.device(device)
    if precision == "auto":
        return "bf16" if bf16_capable(device) else "fp32"
    if precision == "bf16" and device.type == "cuda" and not bf16_capable(device):
        major, minor = torch.cuda.get_device_capability(device)
        raise ValueError(f"precision 'bf16' needs a GPU of compute capability 8.0 or more; "
                         f"{torch.cuda.get_device_name(device)} has {major}.{minor}, where "
                         "bfloat16 is emulated and slower: use 'fp32' or 'auto'")
    return precision


# %% book/chapters/a3_training.md:236
def distributed() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# %% book/chapters/a3_training.md:245
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


# %% book/chapters/a3_training.md:270
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# %% book/chapters/a3_training.md:289
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
    precision: str = "auto"           # "auto" (bf16 from CUDA capability 8.0) | "bf16" | "fp32"
    compile: bool = False             # torch.compile the step (worth it for long GPU runs)
    stop_at: int | None = None        # end this call at that step (checkpointed); resume later
    label: str = ""                   # what the run is (Appendix D), kept in its checkpoints

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
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")


# %% book/chapters/a3_training.md:336
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


# %% book/chapters/a3_training.md:351
def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """The learning-rate schedule, stepped once per optimisation step (None for a constant rate)."""
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                   total_steps=config.steps, pct_start=0.01,
                                                   anneal_strategy="cos")
    return None


# %% book/chapters/a3_training.md:389
def save_checkpoint(path: str | Path, state: dict) -> Path:
    """torch.save to a temporary file, fsync, then an atomic rename over `path`.

    A write that fails (a full disk, a lost mount) raises OSError naming the file and the reason;
    the previous checkpoint stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:           # torch reports a full disk as RuntimeError
        chain = [err]
        while chain[-1].__cause__ or chain[-1].__context__:
            chain.append(chain[-1].__cause__ or chain[-1].__context__)
        full = any(getattr(e, "errno", None) == errno.ENOSPC or "No space left" in str(e)
                   for e in chain)
        reason = "no space left on the device" if full else f"{type(err).__name__}: {err}"
        raise OSError(f"could not write the checkpoint {path} ({reason}); the previous "
                      "checkpoint, if any, is intact") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


# %% book/chapters/a3_training.md:419
def load_checkpoint(path: str | Path, map_location=None) -> dict:
    """Load a checkpoint without unpickling arbitrary objects (weights_only=True). A file that is
    not a readable checkpoint (truncated, corrupt, another format) raises ValueError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:                  # torch's own text advises weights_only=False: no
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}): it is "
                         "truncated, corrupt or not a vqlit checkpoint. Delete it, or restore a "
                         "copy, to train from the start; never load an untrusted file with "
                         "weights_only=False, which runs any code it holds") from None


# %% book/chapters/a3_training.md:503
@dataclass
class FitResult:
    """What `fit` returns: the logged rows, the steps done, the time spent, where it resumed."""

    history: list[dict]        # one row per logging window: step, averaged logs, lr, time
    steps: int                 # steps completed
    wall_time: float           # seconds, summed over resumptions
    resumed_from: int = 0      # the step the run resumed from (0: a fresh run)


# %% book/chapters/a3_training.md:519
def _rng_state(device: torch.device) -> dict:
    """The state of PyTorch's generators: the CPU's, and the device's on CUDA."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


# %% book/chapters/a3_training.md:529
def _set_rng_state(state: dict, device: torch.device) -> None:
    """Put back a state from `_rng_state` (loaded on any device)."""
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# %% book/chapters/a3_training.md:548
def _keep_rows(path: Path, last_step: int) -> None:
    """Drop the rows of a metrics file written after `last_step` (atomically). A torn last line
    (a kill during its write) is dropped; any other unreadable line is a ValueError naming the
    file."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line]
        rows = []
        for i, line in enumerate(lines):
            try:
                step = json.loads(line)["step"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                if i == len(lines) - 1:
                    break                                   # torn by a kill: rewritten below
                raise ValueError(f"{path}, line {i + 1}, is not a metrics row ({err}); move the "
                                 "file away to resume without it") from None
            if step <= last_step:
                rows.append(line)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(r + "\n" for r in rows))
        os.replace(tmp, path)


# %% book/chapters/a3_training.md:595
_RECIPE = ("batch_size", "lr", "optimizer", "eps", "weight_decay", "schedule", "grad_clip", "seed")


def _check_recipe(saved: dict, config: TrainConfig, path: Path) -> None:
    """Refuse to resume the checkpoint `path`, written with config `saved`, under another recipe."""
    changed = [k for k in _RECIPE if saved.get(k) != getattr(config, k)]
    if saved.get("label", config.label) != config.label:          # another experiment's run
        changed.append("label")
    if config.schedule == "onecycle" and saved["steps"] != config.steps:
        changed.append("steps")
    if changed:
        raise ValueError(f"{path} was written with a different recipe ({', '.join(changed)}); "
                         "use another out_dir, or resume=False to start over")


# %% book/chapters/a3_training.md:633
def _snapshot(parts: dict, *, device: torch.device, step: int, history: list[dict],
              wall_time: float, window: dict, config: TrainConfig) -> dict:
    """A checkpoint: each part's state_dict, the generators, the log so far and the recipe."""
    states = {k: None if p is None else p.state_dict() for k, p in parts.items()}
    return {**states, "rng": _rng_state(device), "step": step, "history": history,
            "wall_time": wall_time, "window": window, "config": dataclasses.asdict(config)}


# %% book/chapters/a3_training.md:643
def _restore(state: dict, parts: dict, device: torch.device) -> None:
    """Load a `_snapshot` back into the parts, then the generators."""
    for k, p in parts.items():
        if p is not None:
            p.load_state_dict(state[k])
    _set_rng_state(state["rng"], device)


# %% book/chapters/a3_training.md:677
class _Window:
    """The logs of one logging window, summed on the device; read on the host once, at its end."""

    def __init__(self, sums: dict[str, Tensor] | None = None, count: int = 0):
        self.sums, self.count = {} if sums is None else sums, count

    def add(self, logs: dict[str, Tensor]) -> None:
        for k, v in logs.items():                                    # stays on the device
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.count += 1

    def state_dict(self) -> dict:
        return {"sums": self.sums, "count": self.count}

    def close(self, step: int, world: int = 1) -> dict[str, float]:
        """The mean of each log over the window (and the processes); the window starts afresh."""
        values = torch.stack(list(self.sums.values())) / self.count              # (logs,)
        if world > 1:
            torch.distributed.all_reduce(values)
            values /= world
        means = dict(zip(self.sums, values.tolist()))                            # one host sync
        if not math.isfinite(means.get("loss", 0.0)):
            raise FloatingPointError(f"the loss is {means['loss']} in the window ending at step "
                                     f"{step}; lower the learning rate or check the data")
        self.sums, self.count = {}, 0
        return means


# %% book/chapters/a3_training.md:727
def claim_dir(out: str | Path) -> Callable[[], None]:
    """Claim directory `out` for this process (out/.lock holds its pid) and remove the temporary
    files of interrupted saves; returns the function that releases it (a no-op where this process
    holds it already). ValueError if a live process holds it, or `out` is not a directory."""
    out = Path(out)
    if out.exists() and not out.is_dir() or any(p.is_file() for p in out.parents):
        raise ValueError(f"{out} is not a directory; out_dir must be one, or not exist yet")
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".lock"
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder == os.getpid():
                return lambda: None                                  # held by this process
            if holder and _alive(holder):
                raise ValueError(f"{out} is in use by another training (process {holder}); wait "
                                 "for it to end, or choose another output directory") from None
            lock.unlink(missing_ok=True)                             # its process is gone
            print(f"note: {lock} was held by process {holder}, which has ended; taking it over")
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        for tmp in out.glob(".checkpoint.pt.*.tmp"):                # from saves a kill cut short
            tmp.unlink(missing_ok=True)
        return lambda: lock.unlink(missing_ok=True)
    raise ValueError(f"could not claim {out}: its lock file keeps changing")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                          # another user's process: alive
        return True
    return True


# %% book/chapters/a3_training.md:804
def _run_files(config: TrainConfig, rank: int) -> tuple[Path | None, Path | None]:
    """(checkpoint, metrics log) of a run in config.out_dir; the log is rank 0's (else None)."""
    if not config.out_dir:
        return None, None
    out = Path(config.out_dir)
    if rank > 0:
        return out / "checkpoint.pt", None
    return out / "checkpoint.pt", out / "metrics.jsonl"          # claim_dir creates out


# %% book/chapters/a3_training.md:816
def _append_row(row: dict, history: list[dict], log: Path | None) -> None:
    """Add a window's row to the history and, where there is a log, as a line of JSON to it."""
    history.append(row)
    if log is not None:
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")


# %% book/chapters/a3_training.md:841
def _start(ckpt: Path | None, config: TrainConfig, parts: dict, device: torch.device,
           log: Path | None) -> tuple[list[dict], int, float, _Window]:
    """Resume from `ckpt` if asked and it exists, else seed a fresh run; cut `log` to the start.

    Returns the history so far, the step to start after, the time already spent and the window.
    """
    if ckpt is not None and config.resume and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=device)
        _check_recipe(state["config"], config, ckpt)
        _restore(state, parts, device)
        if log is not None:
            _keep_rows(log, state["step"])
        return state["history"], state["step"], state["wall_time"], _Window(**state["window"])
    seed_everything(config.seed)
    if log is not None:
        _keep_rows(log, 0)                                  # a fresh run starts a fresh log
    return [], 0, 0.0, _Window()


# %% book/chapters/a3_training.md:865
class _StepLoss(nn.Module):
    """model.loss as a forward pass, so that DDP's gradient hooks and torch.compile see it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor):
        return self.model.loss(x)


# %% book/chapters/a3_training.md:878
def _wrap_step(model: nn.Module, device: torch.device, world: int, compile: bool) -> nn.Module:
    """The module the loop calls for the loss: `_StepLoss`, in DDP across processes, compiled."""
    step_loss = _StepLoss(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        ids = [device.index] if device.type == "cuda" else None
        step_loss = DistributedDataParallel(step_loss, device_ids=ids, broadcast_buffers=False)
    if compile:
        step_loss = torch.compile(step_loss)
    return step_loss


# %% book/chapters/a3_training.md:902
def _train_step(step_loss: nn.Module, x: Tensor, *, model: nn.Module,
                optimizer: torch.optim.Optimizer, scheduler, config: TrainConfig,
                bf16: bool) -> dict[str, Tensor]:
    """One optimisation step on the batch x (B, C, H, W); returns the loss's logs."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss, logs = step_loss(x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return logs


# %% book/chapters/a3_training.md:933
def quiet_finite_checks(model: nn.Module) -> list[nn.Module]:
    """Turn off the per-step NaN checks (a host sync each) of the quantizers inside `model`.

    Returns the modules switched off; set their `check_finite` back to True when the run ends.
    """
    quieted = [m for m in model.modules() if getattr(m, "check_finite", False) is True]
    for m in quieted:
        m.check_finite = False
    return quieted


# %% book/chapters/a3_training.md:959
def check_finite_state(model: nn.Module, *, step: int, keep: Path | None = None) -> None:
    """Raise FloatingPointError if a floating-point parameter or buffer of `model` holds NaN or
    infinity (at training step `step`; `keep`: the checkpoint left untouched)."""
    floats = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    finite = torch.stack([torch.isfinite(v).all() for v in floats.values()])     # (tensors,)
    if not bool(finite.all()):
        bad = [k for k, ok in zip(floats, finite.tolist()) if not ok]
        where = f"; {keep} still holds the last good state, resume from it" if keep else ""
        raise FloatingPointError(f"at step {step} the model holds NaN or infinity in "
                                 f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}{where}")


# %% book/chapters/a3_training.md:990
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
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "batcher": batcher}
    ckpt, log = _run_files(config, rank)
    release = claim_dir(config.out_dir) if log is not None else (lambda: None)   # rank 0 writes
    try:
        history, start, spent, window = _start(ckpt, config, parts, device, log)
    except BaseException:
        release()
        raise

    def checkpoint(step: int) -> None:
        if log is not None:
            check_finite_state(model, step=step, keep=ckpt)      # never overwrite a good one
            save_checkpoint(ckpt, _snapshot(parts, device=device, step=step, history=history,
                                            wall_time=spent + time.perf_counter() - began,
                                            window=window.state_dict(), config=config))
        if world > 1:
            torch.distributed.barrier()                   # nobody runs ahead of the checkpoint

    step_loss = _wrap_step(model, device, world, config.compile)
    quieted = quiet_finite_checks(model) if device.type == "cuda" else []
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
                window.add(_train_step(step_loss, x, model=model, optimizer=optimizer,
                                       scheduler=scheduler, config=config, bf16=bf16))
                if step % config.log_every == 0 or step == config.steps:
                    row = {"step": step, **window.close(step, world),
                           "lr": optimizer.param_groups[0]["lr"],
                           "time": round(spent + time.perf_counter() - began, 3)}
                    _append_row(row, history, log)
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
        release()
    return FitResult(history, step, spent + time.perf_counter() - began, start)


__all__ = ['resolve_device', 'SCALES', 'resolve_scale', 'PRECISIONS', 'bf16_capable', 'resolve_precision', 'distributed', 'init_distributed', 'seed_everything', 'TrainConfig', 'make_optimizer', 'make_scheduler', 'save_checkpoint', 'load_checkpoint', 'FitResult', 'claim_dir', 'quiet_finite_checks', 'check_finite_state', 'fit']
