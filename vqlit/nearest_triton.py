# This file is generated from book/chapters/a6a_nearest_kernel.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a6a_nearest_kernel.md: ENABLED, FASTER_DIMS, FAILED
"""Nearest codes in one Triton kernel: a distance tile and a running argmin, no N x K matrix.

`vqlit.vq.nearest_code` uses it, once this module is imported (it is opt-in), on CUDA for float32
features where `fused_wanted` says so: the dimensions in FASTER_DIMS, unless ENABLED forces it on
or off. Under Triton's interpreter
(TRITON_INTERPRET=1, set before the kernels are defined) the kernels of this module and of
vqlit.sinkhorn_triton also run on CPU tensors, where `interpreter_works()` finds that they do. A
kernel that fails (one that cannot compile here) costs one warning and runs the caller's torch path
(`try_fused`).
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
    jit = triton.jit
except Exception:                    # missing (CPU-only PyTorch) or broken: the torch paths run
    triton = tl = None

    def jit(fn):
        return fn

ENABLED: bool | None = None    # nearest_code on CUDA: True the fused kernel, False the torch path,
                               # None the fused kernel for the dimensions in FASTER_DIMS only
FASTER_DIMS: frozenset[int] = frozenset()   # d where a recorded bench measured it faster: none yet
FAILED: dict[str, str] = {}    # kernel -> its error, for the kernels that failed in this process


# %% book/chapters/a6a_nearest_kernel.md: def _version, def _probe, def interpreter_works, def triton_available
def _version(text: str) -> tuple[int, int]:
    """(major, minor) of a version string such as '3.9.0+git'."""
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def _probe() -> bool:
    """Run _nearest_kernel in this process on 3 features and 20 codes (two tiles, one partial)."""
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(3, 2, generator=g), torch.randn(20, 2, generator=g)      # (N, d), (K, d)
    out = torch.full((3,), -1, dtype=torch.int64)                              # (N,)
    try:
        _nearest_kernel[(1,)](z, e, out, 3, 20, D=2, BLOCK_M=16, BLOCK_K=16)
    except Exception:          # InterpreterError, or kernels defined before TRITON_INTERPRET
        return False
    return torch.equal(out, torch.cdist(z.double(), e.double()).argmin(1))


@functools.cache
def interpreter_works() -> bool:
    """Whether Triton's interpreter runs this module's kernel here: probed once per process, in it
    where it interprets (TRITON_INTERPRET=1), else in a fresh process with the variable set."""
    if triton is None:
        return False
    if _version(triton.__version__) < (3, 7) and _version(np.__version__) >= (2, 4):
        return False           # known: range() over a kernel argument raises InterpreterError
    if os.environ.get("TRITON_INTERPRET") == "1":
        return _probe()
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys, vqlit.nearest_triton as m; sys.exit(0 if m.interpreter_works() else 1)"
    try:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              timeout=300).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def triton_available(device: torch.device | str) -> bool:
    """Whether the kernels can run on `device`: CUDA with Triton, or the CPU under an interpreter
    (TRITON_INTERPRET=1) that runs them.

    Args:
        device: the device the kernels would run on, e.g. "cuda:0" or "cpu".
    """
    if triton is None:
        return False
    if torch.device(device).type == "cuda":
        return True
    return os.environ.get("TRITON_INTERPRET") == "1" and interpreter_works()


# %% book/chapters/a6a_nearest_kernel.md: class FusedKernelWarning, def try_fused, def fused_wanted
class FusedKernelWarning(RuntimeWarning):
    """A fused kernel failed here (it could not compile, say); its caller ran the torch path."""


def try_fused(kernel: str, launch, *args, silence: str, **kwargs) -> Tensor | None:
    """``launch(*args, **kwargs)``, or None where `kernel` fails, now or earlier in this process:
    the caller then runs its torch path. The first failure warns (FusedKernelWarning).

    Args:
        kernel: the kernel's name, the key of FAILED ("nearest", "sinkhorn").
        launch: the function that runs the kernel and returns its result.
        args: the positional arguments of `launch`.
        silence: the end of the warning's sentence "To silence this, ...": how to keep the torch
            path and so avoid the kernel.
        kwargs: the keyword arguments of `launch`.
    """
    if kernel in FAILED:
        return None
    try:
        return launch(*args, **kwargs)
    except torch.cuda.OutOfMemoryError:
        raise                                  # not the kernel's fault; the torch path needs more
    except Exception as err:                   # Triton's compile errors share no base class
        FAILED[kernel] = f"{type(err).__name__}: {str(err)[:300]}"
        warnings.warn(f"vqlit: the fused Triton kernel {kernel!r} failed ({FAILED[kernel]}); the "
                      f"torch path runs in its place in this process. To silence this, "
                      f"{silence}.", FusedKernelWarning, stacklevel=3)
        return None


def fused_wanted(device: torch.device | str, dim: int) -> bool:
    """Whether nearest_code runs the fused kernel: on CUDA with Triton only, for dim in
    FASTER_DIMS, unless ENABLED forces it.

    Args:
        device: the device of the float32 features.
        dim: d, the dimension of the features and codes.
    """
    if torch.device(device).type != "cuda" or not triton_available(device):
        return False
    return dim in FASTER_DIMS if ENABLED is None else bool(ENABLED)


# %% book/chapters/a6a_nearest_kernel.md: def _nearest_kernel
@jit
def _nearest_kernel(Z, E, OUT, N, K, D: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """OUT_i = argmin_k sum_j (Z_ij - E_kj)^2 for this program's BLOCK_M rows, Eq. (1.1)."""
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < N
    best = tl.full([BLOCK_M], float("inf"), tl.float32)                    # (BLOCK_M,)
    arg = tl.zeros([BLOCK_M], tl.int64)                                    # (BLOCK_M,)
    for k0 in range(0, K, BLOCK_K):
        cols = k0 + tl.arange(0, BLOCK_K)
        cmask = cols < K
        dist = tl.zeros([BLOCK_M, BLOCK_K], tl.float32)                    # (BLOCK_M, BLOCK_K)
        for j in tl.static_range(D):                                       # exact, no expansion
            zj = tl.load(Z + rows.to(tl.int64) * D + j, mask=rmask, other=0.0)   # (BLOCK_M,)
            ej = tl.load(E + cols.to(tl.int64) * D + j, mask=cmask, other=0.0)   # (BLOCK_K,)
            diff = zj[:, None] - ej[None, :]
            dist += diff * diff
        dist = tl.where(dist == dist, dist, float("-inf"))                # NaN first, as torch
        dist = tl.where(cmask[None, :], dist, float("inf"))                # no code past K
        tile_best = tl.min(dist, axis=1)                                   # (BLOCK_M,)
        tile_arg = tl.argmin(dist, axis=1).to(tl.int64) + k0               # lowest index on ties
        better = tile_best < best                                          # earlier tiles win ties
        best = tl.where(better, tile_best, best)
        arg = tl.where(better, tile_arg, arg)
    tl.store(OUT + rows, tl.minimum(arg, K - 1), mask=rmask)               # in the codebook


# %% book/chapters/a6a_nearest_kernel.md: def fused_nearest
def fused_nearest(z: Tensor, codebook: Tensor, *, block_m: int = 64,
                  block_k: int = 64) -> Tensor:
    """argmin_k ||z_i - e_k||^2 in one kernel, Eq. (1.1), as (N,) int64.

    Args:
        z: the features, (N, d), float32, on a CUDA device (or the CPU under the interpreter).
        codebook: the codes, (K, d), float32, K at least 1.
        block_m: the rows (features) each program handles: the tile's height.
        block_k: the codes each step of a program's loop compares: the tile's width.
    """
    if not triton_available(z.device):
        raise RuntimeError(f"the fused nearest-code kernel needs Triton and a CUDA device (or an "
                           f"interpreter that runs it, TRITON_INTERPRET=1); got {z.device} with "
                           f"Triton {'installed' if triton else 'missing'}")
    if z.dtype != torch.float32 or codebook.dtype != torch.float32:
        raise ValueError(f"expected float32 features and codes, got {z.dtype} and {codebook.dtype}")
    if z.ndim != 2 or codebook.ndim != 2 or z.shape[1] != codebook.shape[1] or not len(codebook):
        raise ValueError(f"expected (N, d) features and a non-empty (K, d) codebook, got "
                         f"{tuple(z.shape)} and {tuple(codebook.shape)}")
    z, codebook = z.contiguous(), codebook.contiguous()
    out = torch.empty(z.shape[0], dtype=torch.int64, device=z.device)             # (N,)
    grid = (triton.cdiv(z.shape[0], block_m),)
    _nearest_kernel[grid](z, codebook, out, z.shape[0], codebook.shape[0], D=z.shape[1],
                          BLOCK_M=block_m, BLOCK_K=block_k)
    return out


__all__ = ['ENABLED', 'FASTER_DIMS', 'FAILED', 'interpreter_works', 'triton_available', 'FusedKernelWarning', 'try_fused', 'fused_wanted', 'fused_nearest']
