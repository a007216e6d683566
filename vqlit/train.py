# This file is generated from book/chapters/a3d_loop.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3d_loop.md: statements
"""The training loop: one dataclass config, device and scale detection, atomic checkpoints, exact
resume and JSON-lines metrics. Scoring is in vqlit.evaluation, recorded results in vqlit.results."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from vqlit.data_batching import Batcher
from vqlit.train_checkpoints import (check_finite_state, claim_dir, load_checkpoint,
                                     save_checkpoint)
from vqlit.train_config import (PRECISIONS, SCALES, TrainConfig, bf16_capable, make_optimizer,
                                make_scheduler, resolve_device, resolve_precision, resolve_scale,
                                seed_everything)
from vqlit.train_distributed import distributed, init_distributed, wrap_step


# %% book/chapters/a3d_loop.md: class FitResult
@dataclass
class FitResult:
    """What `fit` returns: the logged rows, the steps done, the time spent, where it resumed.

    Attributes:
        history: one row per logging window: its last step, the mean of each log, lr and time.
        steps: the last step done, counted from the start of the run (resumptions included).
        wall_time: seconds of training, summed over resumptions.
        resumed_from: the step the run resumed from; 0 for a fresh run.
    """

    history: list[dict]
    steps: int
    wall_time: float
    resumed_from: int = 0


# %% book/chapters/a3d_loop.md: def _rng_state, def _set_rng_state
def _rng_state(device: torch.device) -> dict:
    """The state of PyTorch's generators: the CPU's, and the device's on CUDA."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    """Put back a state from `_rng_state` (loaded on any device)."""
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# %% book/chapters/a3d_loop.md: def _keep_rows
def _keep_rows(path: Path, last_step: int) -> None:
    """Drop the rows of a metrics file written after `last_step` (atomically). A torn last line
    (a kill during its write) is dropped; any other unreadable line is a ValueError."""
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


# %% book/chapters/a3d_loop.md: _RECIPE, def _check_recipe
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


# %% book/chapters/a3d_loop.md: def _snapshot, def _restore
def _snapshot(parts: dict, *, device: torch.device, step: int, history: list[dict],
              wall_time: float, window: dict, config: TrainConfig) -> dict:
    """A checkpoint: each part's state_dict, the generators, the log so far and the recipe."""
    states = {k: None if p is None else p.state_dict() for k, p in parts.items()}
    return {**states, "rng": _rng_state(device), "step": step, "history": history,
            "wall_time": wall_time, "window": window, "config": dataclasses.asdict(config)}


def _restore(state: dict, parts: dict, device: torch.device) -> None:
    """Load a `_snapshot` back into the parts, then the generators."""
    for k, p in parts.items():
        if p is not None:
            p.load_state_dict(state[k])
    _set_rng_state(state["rng"], device)


# %% book/chapters/a3d_loop.md: class _Window
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


# %% book/chapters/a3d_loop.md: def _run_files, def _append_row
def _run_files(config: TrainConfig, rank: int) -> tuple[Path | None, Path | None]:
    """(checkpoint, metrics log) of a run in config.out_dir; the log is rank 0's (else None)."""
    if not config.out_dir:
        return None, None
    out = Path(config.out_dir)
    if rank > 0:
        return out / "checkpoint.pt", None
    return out / "checkpoint.pt", out / "metrics.jsonl"          # claim_dir creates out


def _append_row(row: dict, history: list[dict], log: Path | None) -> None:
    """Add a window's row to the history and, where there is a log, as a line of JSON to it."""
    history.append(row)
    if log is not None:
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")


# %% book/chapters/a3d_loop.md: def _start
def _start(ckpt: Path | None, config: TrainConfig, parts: dict, device: torch.device,
           log: Path | None) -> tuple[list[dict], int, float, _Window]:
    """Resume from `ckpt` if asked and it exists, else seed a fresh run; cut `log` to the start.
    Returns the history so far, the step to start after, the time already spent and the window."""
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


# %% book/chapters/a3d_loop.md: def _train_step
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


# %% book/chapters/a3d_loop.md: def quiet_finite_checks
def quiet_finite_checks(model: nn.Module) -> list[nn.Module]:
    """Turn off the per-step NaN checks (a host sync each) of the quantizers inside `model`.

    Returns the modules switched off; set their `check_finite` back to True when the run ends.

    Args:
        model: the module whose submodules with `check_finite` True are switched off.
    """
    quieted = [m for m in model.modules() if getattr(m, "check_finite", False) is True]
    for m in quieted:
        m.check_finite = False
    return quieted


# %% book/chapters/a3d_loop.md: def fit
def fit(model: nn.Module, images: Tensor, config: TrainConfig | None = None, *,
        device: str | torch.device = "auto") -> FitResult:
    """Train `model` on uint8 images (N, C, H, W); resumable from config.out_dir.

    Under torchrun (an initialised process group) every process trains a slice of each batch in
    DistributedDataParallel; rank 0 writes the logs and checkpoints.

    Args:
        model: any module with a `loss(x) -> (loss, logs)` method, such as an AutoEncoder.
        images: the training images, uint8 (N, C, H, W), moved to the device once.
        config: the recipe; None takes TrainConfig's defaults.
        device: "auto" (the first GPU, else the CPU) or a device, as in resolve_device.
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    device = resolve_device(device)
    rank, world = distributed()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
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

    step_loss = wrap_step(model, device, world, config.compile)
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


__all__ = ['FitResult', 'quiet_finite_checks', 'fit']
