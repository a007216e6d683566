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
from torch import Tensor
from tqdm.auto import tqdm

from vqlit.generate import (bits_per_image, decode_grids, encode_grids, grid_quantizer,
                            tile_images)
from vqlit.prior import GatedPixelCNN, check_grid, check_labels, sample_grids
from vqlit.runs import load_run
from vqlit.train_checkpoints import load_checkpoint, save_checkpoint
from vqlit.train_config import resolve_device


# %% book/chapters/a4e_sample.md: PRIOR_RECIPES
PRIOR_RECIPES = {   # the prior's training per scale; every number is this book's (see the page)
    "smoke": dict(steps=60, batch_size=16, lr=1e-2, channels=16, layers=7),
    "quick": dict(steps=250, batch_size=32, lr=5e-3, channels=16, layers=7),
    "full": dict(steps=20000, batch_size=32, lr=3e-4, channels=64, layers=12),
}


# %% book/chapters/a4e_sample.md: def fit_prior
def fit_prior(prior: GatedPixelCNN, grids: Tensor, labels: Tensor | None = None, *, steps: int,
              batch_size: int, lr: float, seed: int = 0, out: str | Path | None = None,
              checkpoint_every: int | None = None, stop_at: int | None = None,
              progress: bool = True) -> list[float]:
    """Train a prior on grids with Adam, resumably; returns every step's training bits per image
    (a resumed run's earlier steps included).

    Args:
        prior: the prior to train, in place, on its own device.
        grids: (N, h, w) training grids of code indices.
        labels: (N,) class indices for a class-conditional prior, else None.
        steps: the training steps of the whole run; a finished checkpoint trains no more.
        batch_size: grids per step, drawn at random from the seed and the step alone.
        lr: Adam's learning rate.
        seed: the seed of the batches.
        out: a checkpoint file, resumed from when it holds this same training; None: none.
        checkpoint_every: steps between checkpoints; None: every 5 % of `steps`.
        stop_at: end this call at that step, checkpointed, to resume later; None: train out.
        progress: show a progress bar with the current bits per image.
    """
    check_grid(grids, prior.num_codes, shape=prior.shape)
    check_labels(labels, prior.num_classes, len(grids))
    if steps < 1 or batch_size < 1 or not lr > 0 or len(grids) == 0:
        raise ValueError(f"need steps >= 1, batch_size >= 1, lr > 0 and some grids, got steps="
                         f"{steps}, batch_size={batch_size}, lr={lr}, {len(grids)} grids")
    device = next(prior.parameters()).device
    optimizer = torch.optim.Adam(prior.parameters(), lr=lr)
    settings = {"num_codes": prior.num_codes, "shape": list(prior.shape), "seed": seed,   # resumed
                "num_classes": prior.num_classes, "channels": prior.embed.embedding_dim,  # only if
                "layers": len(prior.layers), "kernel": 2 * prior.layers[0].half + 1,    # all equal
                "steps": steps, "batch_size": batch_size, "lr": lr}
    step, history = 0, []
    if out is not None and Path(out).exists():
        state = load_checkpoint(out, map_location=device)
        if state.get("settings") != settings:
            raise ValueError(f"{out} holds a prior trained with {state.get('settings')}, not "
                             f"{settings}; delete it or choose another file")
        prior.load_state_dict(state["prior"])
        optimizer.load_state_dict(state["optimizer"])
        step, history = state["step"], list(state["history"])
    every = checkpoint_every or max(steps // 20, 1)
    end = min(steps, stop_at or steps)
    prior.train()
    with tqdm(total=steps, initial=step, desc="prior", disable=not progress, leave=False) as bar:
        while step < end:
            pick = torch.randint(len(grids), (batch_size,),
                                 generator=torch.Generator().manual_seed(seed * 1_000_003 + step))
            y = None if labels is None else labels[pick].to(device)
            loss = -prior.log_prob(grids[pick].to(device), y).mean() / math.log(2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            history.append(loss.item())
            bar.update()
            bar.set_postfix_str(f"{history[-1]:.1f} bits")
            if out is not None and (step % every == 0 or step == end):
                save_checkpoint(out, {"prior": prior.state_dict(), "step": step,
                                      "optimizer": optimizer.state_dict(), "history": history,
                                      "settings": settings})
    prior.eval()
    return history


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


__all__ = ['PRIOR_RECIPES', 'fit_prior', 'sample_run']
