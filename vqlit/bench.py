# This file is generated from book/chapters/a4_experiments.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4_experiments.md:1020
"""Quantizers timed side by side: one training step each, as ratios measured in the same run."""
from __future__ import annotations

import statistics
import time
from dataclasses import replace
from functools import partial
from typing import Callable

import torch
from torch import nn

from vqlit.optvq import SinkhornQuantizer
from vqlit.sinkhorn import OPTVQ_SOLVER
from vqlit.soft import BayesianQuantizer
from vqlit.train import quiet_finite_checks, resolve_device
from vqlit.vq import EMAVectorQuantizer, Quantizer, VectorQuantizer
from vqlit.wasserstein import WassersteinQuantizer

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
    """Construct the bench quantizer `name` with its defaults."""
    if name not in QUANTIZERS:
        raise ValueError(f"no quantizer named {name!r}; expected one of {', '.join(QUANTIZERS)}")
    return QUANTIZERS[name](num_codes=num_codes, dim=dim)


# %% book/chapters/a4_experiments.md:1074
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(quantizer: nn.Module, z: torch.Tensor, *, repeats: int = 10,
              warmup: int = 3) -> tuple[float, int | None]:
    """Median seconds of forward + backward, and peak bytes above the inputs (CUDA only).

    On CUDA the quantizers' finite checks are off during the timing, as in `fit`.
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
    before (CUDA only)."""
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


# %% book/chapters/a4_experiments.md:1132
def bench(*, device: str | torch.device = "auto", tokens: int = 8192, codes: int = 16384,
          dim: int = 64, repeats: int = 10, warmup: int = 3, names=None,
          seed: int = 0) -> list[dict]:
    """The distance product's row (LIMIT), then one row per quantizer: median step time, peak
    memory, the ratio to "nn" and the ratio to the distance product."""
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


# %% book/chapters/a4_experiments.md:1174
def format_bench(rows: list[dict]) -> str:
    """The rows as an aligned text table."""
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


__all__ = ['QUANTIZERS', 'LIMIT', 'make_quantizer', 'time_step', 'time_call', 'bench', 'format_bench']
