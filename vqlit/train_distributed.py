# This file is generated from book/chapters/a3c_distributed.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3c_distributed.md: statements
"""Several processes under torchrun: the process group (NCCL on GPUs, gloo on CPUs), and the step
wrapped for DistributedDataParallel and torch.compile."""
from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from vqlit.train_config import resolve_device


# %% book/chapters/a3c_distributed.md: def distributed
def distributed() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# %% book/chapters/a3c_distributed.md: def init_distributed
def init_distributed(device: str | torch.device = "auto") -> torch.device:
    """Join the process group that torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK), if any.

    Args:
        device: the device asked for, as in resolve_device; under torchrun a CUDA device becomes
            cuda:LOCAL_RANK.

    Returns:
        This process's device, the GPU of index LOCAL_RANK under NCCL, else the CPU under gloo.
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


# %% book/chapters/a3c_distributed.md: class _StepLoss
class _StepLoss(nn.Module):
    """model.loss as a forward pass, so that DDP's gradient hooks and torch.compile see it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor):
        return self.model.loss(x)


# %% book/chapters/a3c_distributed.md: def wrap_step
def wrap_step(model: nn.Module, device: torch.device, world: int, compile: bool) -> nn.Module:
    """The module the loop calls for the loss: `_StepLoss`, in DDP across processes, compiled.

    Args:
        model: the model whose `loss(x) -> (loss, logs)` the step computes.
        device: this process's device; on CUDA, DDP keeps the module on its index.
        world: the number of processes; above 1 the step is wrapped in DistributedDataParallel.
        compile: wrap the step in torch.compile.
    """
    step_loss = _StepLoss(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        ids = [device.index] if device.type == "cuda" else None
        step_loss = DistributedDataParallel(step_loss, device_ids=ids, broadcast_buffers=False)
    if compile:
        step_loss = torch.compile(step_loss)
    return step_loss


__all__ = ['distributed', 'init_distributed', 'wrap_step']
