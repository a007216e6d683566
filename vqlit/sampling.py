# This file is generated from book/chapters/a4e_sample.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4e_sample.md: statements
"""A trained run's second stage: a prior fitted to its code grids (resumable, kept in the run's
directory) and decoded samples with their metrics, behind `python -m vqlit sample`."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from vqlit.bench import time_call
from vqlit.generate import (bits_per_image, decode_grids, encode_grids, grid_quantizer,
                            tile_images)
from vqlit.prior import GatedPixelCNN, sample_grids
from vqlit.prior_transformer import CausalTransformerPrior, sample_grids_cached
from vqlit.runs import load_run
from vqlit.train_checkpoints import load_checkpoint
from vqlit.train_config import resolve_device
from vqlit.train_prior import PRIOR_RECIPES, fit_prior


# %% book/chapters/a4e_sample.md: def sample_run
def sample_run(directory: str | Path, *, num: int = 64, out: str | Path,
               device: str | torch.device = "auto", class_conditional: bool = False,
               temperature: float = 1.0, top_k: int | None = None, seed: int = 0,
               progress: bool = True) -> dict:
    """New images from a trained run (its codes, its prior, trained once and kept, decoded draws)
    into OUT/samples.png (a row per class when class-conditional) and OUT/metrics.json (returned).

    Args:
        directory: a run of `python -m vqlit train NAME --out DIR`; the prior is kept there.
        num: how many grids to draw (at least 1).
        out: the directory of samples.png and metrics.json, created where missing.
        device: "auto", "cpu", "cuda" or "cuda:N", as in `train_experiment`.
        class_conditional: train and sample a prior given the class, which the data set must have.
        temperature: T of the draws (`vqlit.prior.sample_codes`); 0 takes the most likely code.
        top_k: draw among the k most likely codes; None among all.
        seed: the seed of the draws (the prior trains with the run's seed).
        progress: show the prior's progress bar while it trains.
    """
    directory, out = Path(directory), Path(out)
    if num < 1 or not temperature >= 0 or (top_k is not None and top_k < 1):
        raise ValueError(f"need num >= 1, temperature >= 0 and top_k >= 1, got num={num}, "
                         f"temperature={temperature}, top_k={top_k}")
    device = resolve_device(device)
    info, model, data, _ = load_run(directory, device=device)
    classes = (len(data.classes) or int(data.train_labels.max()) + 1) if class_conditional else 0
    if class_conditional and classes < 2:
        raise ValueError(f"{data.name} has no class labels; sample without --class-conditional")
    num_codes = grid_quantizer(model).num_codes
    if top_k is not None and top_k > num_codes:
        raise ValueError(f"top_k must lie in [1, {num_codes}], got {top_k}")
    grids, held_out = encode_grids(model, data.train_images), encode_grids(model, data.test_images)
    recipe = PRIOR_RECIPES[info["scale"]]
    torch.manual_seed(info["seed"])
    prior = GatedPixelCNN(num_codes=num_codes, shape=tuple(grids.shape[1:]), num_classes=classes,
                          channels=recipe["channels"], layers=recipe["layers"]).to(device)
    path = directory / ("prior-classes.pt" if classes else "prior.pt")
    before = load_checkpoint(path, map_location="cpu")["step"] if path.exists() else 0
    fit_prior(prior, grids, data.train_labels if classes else None, steps=recipe["steps"],
              batch_size=recipe["batch_size"], lr=recipe["lr"], seed=info["seed"], out=path,
              progress=progress)
    labels = torch.arange(num) % classes if classes else None
    drawn = sample_grids(prior, num, labels=labels, temperature=temperature, top_k=top_k,
                         generator=torch.Generator(device).manual_seed(seed))
    rows = classes if classes and num % classes == 0 else next(
        r for r in range(int(math.sqrt(num)), 0, -1) if num % r == 0)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib.pyplot as plt                      # only the files need it
    plt.imsave(out / "samples.png", tile_images(decode_grids(model, drawn), rows=rows).numpy())
    metrics = {
        "run": str(directory), "experiment": info["experiment"], "scale": info["scale"],
        "dataset": info["dataset"], "run_seed": info["seed"], "prior": str(path),
        "prior_steps": recipe["steps"], "prior_trained_now": recipe["steps"] - before,
        "bits_per_image": bits_per_image(prior, held_out, data.test_labels if classes else None),
        "uniform_bits": grids.shape[1] * grids.shape[2] * math.log2(num_codes),
        "held_out_images": len(held_out), "code_usage": drawn.unique().numel() / num_codes,
        "options": {"num": num, "device": str(device), "class_conditional": class_conditional,
                    "temperature": temperature, "top_k": top_k, "seed": seed}}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


# %% book/chapters/a4e_sample.md: def bench_priors, def format_priors
def bench_priors(*, device: str | torch.device = "auto", codes: int = 512, grid=(8, 8),
                 batch: int = 32, repeats: int = 5, warmup: int = 1, seed: int = 0) -> list[dict]:
    """Median milliseconds of a training step (Adam, batch of random grids) of each prior and of
    drawing one grid: the Gated PixelCNN, the transformer without and with its cache.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        codes: K, the codebook size the priors model.
        grid: (h, w), the grid.
        batch: grids per training step.
        repeats, warmup: timed and untimed calls per row.
        seed: the seed of the priors, the grids and the draws.
    """
    device = resolve_device(device)
    if min(codes - 1, batch, repeats, *grid) < 1:
        raise ValueError(f"need codes >= 2 and batch, repeats, h, w >= 1, got {codes=}, "
                         f"{batch=}, {repeats=}, {grid=}")
    torch.manual_seed(seed)
    grids = torch.randint(codes, (batch, *grid), device=device)
    priors = {"Gated PixelCNN": GatedPixelCNN(num_codes=codes, shape=grid),
              "transformer": CausalTransformerPrior(num_codes=codes, shape=grid)}
    rows, timing = [], dict(repeats=repeats, warmup=warmup)
    for name, prior in priors.items():
        prior = prior.to(device).train()
        optimizer = torch.optim.Adam(prior.parameters(), lr=1e-4)

        def step():
            loss = -prior.log_prob(grids).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        rows.append({"prior": name, "task": f"training step, batch {batch}",
                     "ms": 1e3 * time_call(step, device, **timing)[0]})
        draw = torch.Generator(device).manual_seed(seed)
        rows.append({"prior": name, "task": "one grid" + (", no cache" if name != "Gated "
                                                              "PixelCNN" else ""),
                     "ms": 1e3 * time_call(lambda: sample_grids(prior, 1, generator=draw),
                                           device, **timing)[0]})
    rows.append({"prior": "transformer", "task": "one grid, key/value cache",
                 "ms": 1e3 * time_call(lambda: sample_grids_cached(
                     priors["transformer"], 1, generator=draw), device, **timing)[0]})
    for row in rows:
        row.update(device=str(device), codes=codes, grid=list(grid))
    rows[-1]["speedup_over_no_cache"] = rows[-2]["ms"] / rows[-1]["ms"]
    return rows


def format_priors(rows: list[dict]) -> str:
    """The rows of `bench_priors` as an aligned text table.

    Args:
        rows: what `bench_priors` returned.
    """
    lines = [f"{'prior':<16}{'task':<28}{'ms':>10}"]
    lines += [f"{r['prior']:<16}{r['task']:<28}{r['ms']:>10.2f}" for r in rows]
    r = rows[-1]
    lines.append(f"(K={r['codes']} codes, grid {r['grid'][0]}x{r['grid'][1]}, {r['device']}; the "
                 f"cache draws {r['speedup_over_no_cache']:.1f}x faster than no cache)")
    return "\n".join(lines)


__all__ = ['sample_run', 'bench_priors', 'format_priors']
