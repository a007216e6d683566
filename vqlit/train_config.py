# This file is generated from book/chapters/a3a_config.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3a_config.md: statements
"""The recipe of a training run: device, scale and precision detection, seeds, the TrainConfig
dataclass, and the optimiser and schedule it builds."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


# %% book/chapters/a3a_config.md: def resolve_device
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> the first CUDA device if there is one, else the CPU; anything else is checked.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N" (or a torch.device); a CUDA device on a machine
            without one is a ValueError.
    """
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


# %% book/chapters/a3a_config.md: SCALES, def resolve_scale
SCALES = ("smoke", "quick", "full")


def resolve_scale(scale: str = "auto", device: str | torch.device = "auto") -> str:
    """"auto" -> "quick" on every device (the papers' protocols are scale="full", asked for by
    name); the others are returned as they are.

    Args:
        scale: "auto", or one of SCALES: "smoke", "quick" or "full".
        device: the run's device, checked by resolve_device; the scale does not depend on it.
    """
    resolve_device(device)
    if scale == "auto":
        return "quick"
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)} or 'auto', got {scale!r}")
    return scale


# %% book/chapters/a3a_config.md: PRECISIONS, def bf16_capable, def resolve_precision
PRECISIONS = ("auto", "bf16", "fp32")


def bf16_capable(device: str | torch.device) -> bool:
    """Whether `device` has bfloat16 arithmetic: a CUDA GPU of compute capability 8.0 or more.

    Args:
        device: the device to ask about, e.g. "cpu", "cuda" or torch.device("cuda:1").
    """
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """"auto" -> "bf16" (bfloat16 autocast for the networks; quantizers keep float32) on a CUDA
    GPU of compute capability 8.0 or more, else "fp32"; "bf16" on an older GPU is refused.

    Args:
        precision: one of PRECISIONS: "auto", "bf16" or "fp32".
        device: the device the run computes on.
    """
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


# %% book/chapters/a3a_config.md: def seed_everything
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (every device).

    Args:
        seed: the seed of all three (NumPy's is taken modulo 2**32).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# %% book/chapters/a3a_config.md: class TrainConfig
@dataclass
class TrainConfig:
    """Everything that defines a training run (the model and the data aside).

    Args:
        steps: the optimisation steps of the whole run.
        batch_size: the images of one step, split evenly between the processes under torchrun.
        lr: the learning rate; with the one-cycle schedule, its peak.
        optimizer: "adam", or "adamw" (weight decay decoupled from the gradient).
        eps: Adam's epsilon (OptVQ uses 1e-7).
        weight_decay: the decay, applied to Linear / Conv weights only (not to biases or codebooks).
        schedule: "constant", or "onecycle": a cosine warm-up over the first 1 % of the steps to
            lr, then a cosine decay, as OptVQ.
        grad_clip: the largest global gradient norm; None clips nothing.
        seed: seeds Python, NumPy, PyTorch and the batcher's permutation.
        log_every: steps per logging window, one row of metrics.jsonl each.
        checkpoint_every: steps between checkpoints; 0 writes one only at the end.
        out_dir: where checkpoint.pt and metrics.jsonl go; None keeps nothing.
        resume: continue from out_dir/checkpoint.pt where it exists; False starts over.
        progress: show a tqdm progress bar.
        precision: "auto" (bf16 from CUDA capability 8.0, else fp32), "bf16" or "fp32".
        compile: torch.compile the step (worth it for long GPU runs).
        stop_at: end this call at that step, with a checkpoint, to resume later; None runs to steps.
        label: what the run is (Appendix E sets it), kept in its checkpoints: a checkpoint of
            another label is not resumed.
    """

    steps: int = 1000
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "constant"
    grad_clip: float | None = None
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 0
    out_dir: str | None = None
    resume: bool = True
    progress: bool = True
    precision: str = "auto"
    compile: bool = False
    stop_at: int | None = None
    label: str = ""

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


# %% book/chapters/a3a_config.md: def make_optimizer
def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam(W) with weight decay on Linear/Conv weights only.

    Args:
        model: the module whose trainable parameters are optimised.
        config: the recipe: its optimizer, lr, eps and weight_decay.
    """
    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    decayed = {id(m.weight) for m in model.modules() if isinstance(m, layers)}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) in decayed], "weight_decay": config.weight_decay},
        {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
    ]
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=config.lr, eps=config.eps)


# %% book/chapters/a3a_config.md: def make_scheduler
def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """The learning-rate schedule, stepped once per optimisation step (None for a constant rate).

    Args:
        optimizer: the optimiser whose learning rate the schedule sets.
        config: the recipe: its schedule, lr (the peak) and steps.
    """
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                   total_steps=config.steps, pct_start=0.01,
                                                   anneal_strategy="cos")
    return None


__all__ = ['resolve_device', 'SCALES', 'resolve_scale', 'PRECISIONS', 'bf16_capable', 'resolve_precision', 'seed_everything', 'TrainConfig', 'make_optimizer', 'make_scheduler']
