# This file is generated from book/chapters/a4d_bench.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4d_bench.md: statements
"""Quantizers timed side by side: one training step each, as ratios measured in the same run;
the two paths of the nearest-code search per dimension; and the run's provenance."""
from __future__ import annotations

import datetime
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Callable

import torch
from torch import nn

from vqlit import nearest_triton
from vqlit import sinkhorn_triton  # noqa: F401  (imported: "sinkhorn" times the fused kernels)
from vqlit.optvq import SinkhornQuantizer
from vqlit.results import source_commit
from vqlit.sinkhorn import OPTVQ_SOLVER
from vqlit.soft import BayesianQuantizer
from vqlit.distances import nearest_code
from vqlit.ema import EMAVectorQuantizer
from vqlit.train import quiet_finite_checks
from vqlit.train_config import resolve_device
from vqlit.vq import Quantizer, VectorQuantizer
from vqlit.wasserstein import WassersteinQuantizer


# %% book/chapters/a4d_bench.md: QUANTIZERS, _EXACT_OT_LIMIT, LIMIT, def make_quantizer
QUANTIZERS: dict[str, Callable[..., Quantizer]] = {    # bench name -> class (or variant)
    "nn": VectorQuantizer,
    "ema": EMAVectorQuantizer,
    "bayes": BayesianQuantizer,
    "wasserstein-exact": WassersteinQuantizer,
    "sinkhorn": SinkhornQuantizer,
    "sinkhorn-torch": partial(SinkhornQuantizer, backend="torch"),
    "sinkhorn-textbook": partial(SinkhornQuantizer,
                                 solver=replace(OPTVQ_SOLVER, method="textbook")),
}
_EXACT_OT_LIMIT = 2**22                           # N * K above which exact OT is not timed
LIMIT = "distance product"                        # bench's first row: Z E^T alone, float32


def make_quantizer(name: str, *, num_codes: int, dim: int) -> Quantizer:
    """Construct the bench quantizer `name` with its defaults.

    Args:
        name: a key of QUANTIZERS ("nn", "ema", "bayes", "sinkhorn", ...).
        num_codes: K, the codebook size.
        dim: d, the feature dimension.
    """
    if name not in QUANTIZERS:
        raise ValueError(f"no quantizer named {name!r}; expected one of {', '.join(QUANTIZERS)}")
    return QUANTIZERS[name](num_codes=num_codes, dim=dim)


# %% book/chapters/a4d_bench.md: def _sync, def time_step, def time_call
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(quantizer: nn.Module, z: torch.Tensor, *, repeats: int = 10,
              warmup: int = 3) -> tuple[float, int | None]:
    """Median seconds of forward + backward, and peak bytes above the inputs (CUDA only); on
    CUDA the quantizers' finite checks are off during the timing, as in `fit`.

    Args:
        quantizer: the module timed, in training mode.
        z: the features, (N, d), with requires_grad so that the backward reaches them.
        repeats: timed steps; their median is returned.
        warmup: untimed steps first (compilation, caches, the allocator).
    """
    quantizer.train()
    quieted = quiet_finite_checks(quantizer) if z.device.type == "cuda" else []

    def step():
        out = quantizer(z)
        (out.quantized.float().square().mean() + out.loss).backward()
        z.grad = None

    try:
        return time_call(step, z.device, repeats=repeats, warmup=warmup)
    finally:
        for m in quieted:
            m.check_finite = True


def time_call(step: Callable[[], object], device: torch.device, *, repeats: int = 10,
              warmup: int = 3) -> tuple[float, int | None]:
    """Median seconds of step() after `warmup` calls, and peak bytes above what was allocated
    before (CUDA only).

    Args:
        step: the call timed, without arguments.
        device: where it runs; on CUDA each timing synchronizes before and after.
        repeats: timed calls; their median is returned.
        warmup: untimed calls first.
    """
    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else None
    return statistics.median(times), peak


# %% book/chapters/a4d_bench.md: def bench
def bench(*, device: str | torch.device = "auto", tokens: int = 8192, codes: int = 16384,
          dim: int = 64, repeats: int = 10, warmup: int = 3, names=None,
          seed: int = 0) -> list[dict]:
    """The distance product's row (LIMIT), then one row per quantizer: median step time, peak
    memory, the ratio to "nn" and the ratio to the distance product.

    Args:
        device: "auto" (CUDA where there is one, else the CPU), "cpu", "cuda" or "cuda:N".
        tokens: N, the features per step.
        codes: K, the codebook size.
        dim: d, the feature dimension.
        repeats: timed steps per quantizer, at least 1.
        warmup: untimed steps per quantizer first.
        names: the keys of QUANTIZERS to time, in order; None: all of them.
        seed: the seed of the random features and codes (normal), the same for every row.
    """
    device = resolve_device(device)
    for key, value in (("tokens", tokens), ("codes", codes), ("dim", dim), ("repeats", repeats)):
        if value < 1:
            raise ValueError(f"{key} must be at least 1, got {value}")
    torch.manual_seed(seed)
    z = torch.randn(tokens, dim, device=device)                                # (N, d)
    codebook = torch.randn(codes, dim, device=device)                          # (K, d)
    seconds, peak = time_call(lambda: torch.mm(z, codebook.T), device,         # (N, K) Z E^T
                              repeats=repeats, warmup=warmup)
    rows = [{"quantizer": LIMIT, "device": str(device), "tokens": tokens, "codes": codes,
             "dim": dim, "ms": 1e3 * seconds, "peak_mib": None if peak is None else peak / 2**20}]
    del z, codebook
    for name in names or QUANTIZERS:
        row = {"quantizer": name, "device": str(device), "tokens": tokens, "codes": codes,
               "dim": dim}
        if name == "wasserstein-exact" and tokens * codes > _EXACT_OT_LIMIT:
            rows.append({**row, "skipped": f"exact OT at N*K = {tokens * codes:,} > "
                                           f"{_EXACT_OT_LIMIT:,} takes minutes per solve"})
            continue
        quantizer = make_quantizer(name, num_codes=codes, dim=dim).to(device)
        torch.manual_seed(seed)
        z = torch.randn(tokens, dim, device=device, requires_grad=True)      # (N, d)
        seconds, peak = time_step(quantizer, z, repeats=repeats, warmup=warmup)
        rows.append({**row, "ms": 1e3 * seconds,
                     "peak_mib": None if peak is None else peak / 2**20})
        del quantizer, z
    base = next((r["ms"] for r in rows if r["quantizer"] == "nn" and "ms" in r), None)
    for r in rows:
        if "ms" in r:
            r["ratio_to_limit"] = r["ms"] / rows[0]["ms"]
            if base:
                r["ratio_to_nn"] = r["ms"] / base
    return rows


# %% book/chapters/a4d_bench.md: def format_bench
def format_bench(rows: list[dict]) -> str:
    """The rows as an aligned text table.

    Args:
        rows: the rows `bench` returns, the distance product's first.
    """
    lines = [f"{'quantizer':<20}{'ms / step':>12}{'x nn':>8}{'x limit':>9}{'peak MiB':>11}"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['quantizer']:<20}  skipped: {r['skipped']}")
            continue
        peak = "n/a (CPU)" if r["peak_mib"] is None else f"{r['peak_mib']:.1f}"
        ratio = r.get("ratio_to_nn", float("nan"))
        lines.append(f"{r['quantizer']:<20}{r['ms']:>12.2f}{ratio:>8.2f}"
                     f"{r['ratio_to_limit']:>9.2f}{peak:>11}")
    r0 = rows[0]
    lines.append(f"(N={r0['tokens']} tokens, K={r0['codes']} codes, d={r0['dim']}, "
                 f"{r0['device']}; median of timed repeats after warm-up)")
    return "\n".join(lines)


# %% book/chapters/a4d_bench.md: NEAREST_DIMS, NEAREST_PATHS, def nearest_path, def fused_unavailable
NEAREST_DIMS = (2, 4, 8, 16, 32, 64)             # bench's dimensions for the two nearest paths
NEAREST_PATHS = ("torch", "fused")


@contextmanager
def nearest_path(path: str):
    """Run the block with `nearest_code` on one path.

    Args:
        path: "torch" (the distance matrix and its argmin) or "fused" (the kernel).
    """
    if path not in NEAREST_PATHS:
        raise ValueError(f"path must be one of {', '.join(NEAREST_PATHS)}, got {path!r}")
    # nearest_code takes its path from vqlit.nearest_triton.ENABLED (True: the kernel, False:
    # the torch path, None: the kernel for the dimensions in FASTER_DIMS): forced for the
    # block, restored afterwards.
    saved = nearest_triton.ENABLED
    nearest_triton.ENABLED = path == "fused"
    try:
        yield
    finally:
        nearest_triton.ENABLED = saved


def fused_unavailable(device: str | torch.device) -> str | None:
    """Why the fused nearest-code kernel cannot run on `device`, or None where it can.

    Args:
        device: the device asked about.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return f"the fused kernel runs on CUDA devices, this is {device.type}"
    if not nearest_triton.triton_available(device):
        return "Triton is not installed"
    if "nearest" in nearest_triton.FAILED:
        return f"the kernel failed in this process ({nearest_triton.FAILED['nearest']})"
    return None


# %% book/chapters/a4d_bench.md: def bench_nearest
def bench_nearest(*, device: str | torch.device = "auto", tokens: int = 8192, codes: int = 16384,
                  dims=NEAREST_DIMS, repeats: int = 10, warmup: int = 3,
                  seed: int = 0) -> list[dict]:
    """Per dimension, `nearest_code` on the torch path and on the fused kernel: median ms, peak
    memory, the fused time over the torch time and the share of equal codes.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N", as for `bench`.
        tokens: N, the features.
        codes: K, the codebook size.
        dims: the dimensions d timed, each at least 1.
        repeats: timed calls per path and dimension.
        warmup: untimed calls first.
        seed: the seed of the random features and codes, the same for both paths.
    """
    device = resolve_device(device)
    unavailable = fused_unavailable(device)
    rows = []
    for dim in dims:
        if dim < 1:
            raise ValueError(f"dimensions must be at least 1, got {dim}")
        torch.manual_seed(seed)
        z = torch.randn(tokens, dim, device=device)                                # (N, d)
        codebook = torch.randn(codes, dim, device=device)                          # (K, d)
        row = {"device": str(device), "tokens": tokens, "codes": codes, "dim": dim}
        with nearest_path("torch"):
            seconds, peak = time_call(lambda: nearest_code(z, codebook), device,
                                      repeats=repeats, warmup=warmup)
            reference = nearest_code(z, codebook)                                  # (N,)
        rows.append({"path": "torch", **row, "ms": 1e3 * seconds,
                     "peak_mib": None if peak is None else peak / 2**20})
        fused = {"path": "fused", **row}
        if unavailable:
            fused["skipped"] = f"not available: {unavailable}"
        else:
            with nearest_path("fused"):
                taken = nearest_triton.fused_wanted(device, dim)
                seconds, peak = time_call(lambda: nearest_code(z, codebook), device,
                                          repeats=repeats, warmup=warmup)
                agree = float((nearest_code(z, codebook) == reference).float().mean())
            if not taken or (why := fused_unavailable(device)):  # it failed: torch path timed
                fused["skipped"] = f"not available: {why if taken else 'not taken here'}"
            else:
                fused.update(ms=1e3 * seconds, peak_mib=None if peak is None else peak / 2**20,
                             ratio_to_torch=1e3 * seconds / rows[-1]["ms"], agreement=agree)
        rows.append(fused)
        del z, codebook
    return rows


# %% book/chapters/a4d_bench.md: def format_nearest
def format_nearest(rows: list[dict]) -> str:
    """The rows of `bench_nearest` as an aligned text table, one line per dimension.

    Args:
        rows: the rows `bench_nearest` returns, a torch row then a fused row per dimension.
    """
    lines = [f"{'d':>4}{'torch ms':>11}{'fused ms':>11}{'fused/torch':>13}{'same code':>11}"]
    for torch_row, fused in zip(rows[::2], rows[1::2]):
        if "skipped" in fused:
            lines.append(f"{torch_row['dim']:>4}{torch_row['ms']:>11.3f}  fused "
                         f"{fused['skipped']}")
            continue
        lines.append(f"{torch_row['dim']:>4}{torch_row['ms']:>11.3f}{fused['ms']:>11.3f}"
                     f"{fused['ratio_to_torch']:>13.2f}{fused['agreement']:>11.2%}")
    if rows:
        lines.append(f"(nearest_code alone: N={rows[0]['tokens']} features, "
                     f"K={rows[0]['codes']} codes, {rows[0]['device']})")
    return "\n".join(lines)


# %% book/chapters/a4d_bench.md: def bench_provenance, def bench_record
def bench_provenance(device: str | torch.device) -> dict:
    """Which code ran where: commit, device, compute capability, torch, Triton, Python, date.

    Args:
        device: the device the bench ran on.
    """
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        capability = "{}.{}".format(*torch.cuda.get_device_capability(device))
    else:
        name, capability = f"{platform.machine()} CPU, {torch.get_num_threads()} threads", None
    return {"commit": source_commit(), "device": name, "capability": capability,
            "torch": torch.__version__,
            "triton": getattr(nearest_triton.triton, "__version__", None),
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def bench_record(*, device: str | torch.device = "auto", tokens: int = 8192, codes: int = 16384,
                 dim: int = 64, repeats: int = 10, warmup: int = 3, names=None,
                 nearest_dims=NEAREST_DIMS, command: str = "") -> dict:
    """`bench` and `bench_nearest` at one size, with the provenance: one JSON-ready document.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N", as for `bench`.
        tokens: N, the features per step.
        codes: K, the codebook size.
        dim: d, the dimension of `bench`'s quantizers.
        repeats: timed calls per row.
        warmup: untimed calls first.
        names: the quantizers of `bench`; None: all of QUANTIZERS.
        nearest_dims: the dimensions of `bench_nearest`.
        command: the command line that produced the record, stored in it.
    """
    device = resolve_device(device)
    began = time.perf_counter()
    rows = bench(device=device, tokens=tokens, codes=codes, dim=dim, repeats=repeats,
                 warmup=warmup, names=names)
    nearest = bench_nearest(device=device, tokens=tokens, codes=codes, dims=nearest_dims,
                            repeats=repeats, warmup=warmup)
    return {"name": f"bench_{device.type}", "command": command,
            "provenance": {**bench_provenance(device),
                           "elapsed_s": round(time.perf_counter() - began, 1)},
            "rows": rows, "nearest": nearest}


__all__ = ['QUANTIZERS', 'LIMIT', 'make_quantizer', 'time_step', 'time_call', 'bench', 'format_bench', 'NEAREST_DIMS', 'NEAREST_PATHS', 'nearest_path', 'fused_unavailable', 'bench_nearest', 'format_nearest', 'bench_provenance', 'bench_record']
