# This file is generated from book/chapters/06c_real_codes.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/06c_real_codes.md: def _grid_quantizer, def encode_grids
"""The second stage on real codes: the code grids of a trained VQ autoencoder, a Gated PixelCNN
fitted to them (resumable), its bits per image, and new images drawn from it for a trained run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from vqlit.prior import GatedPixelCNN, check_grid, check_labels, sample_grids
from vqlit.runs import load_run
from vqlit.train_checkpoints import load_checkpoint, save_checkpoint
from vqlit.train_config import resolve_device


def _grid_quantizer(model: nn.Module) -> nn.Module:
    """The model's quantizer, refused unless it is a one-head codebook quantizer."""
    quantizer = getattr(model, "quantizer", None)
    if quantizer is None or not hasattr(quantizer, "lookup") or not hasattr(model, "decode"):
        raise ValueError(f"{type(model).__name__} is not a VQ autoencoder: it needs encode, a "
                         "quantizer with a codebook (lookup) and decode")
    if getattr(quantizer, "heads", 1) != 1:
        raise ValueError(f"the quantizer has {quantizer.heads} heads; a grid holds one code per "
                         "position, so only one-head quantizers are supported")
    return quantizer


@torch.no_grad()
def encode_grids(model: nn.Module, images: Tensor, *, batch_size: int = 256) -> Tensor:
    """The grid of nearest-code indices of each image, (N, h, w) int64 on the CPU, as the trained
    autoencoder assigns them.

    Args:
        model: a VQ autoencoder (encode, a one-head quantizer, decode), e.g. a registry model.
        images: (N, C, H, W), uint8 in [0, 255] or floating point in [0, 1].
        batch_size: images encoded at once; changes memory, not the result.
    """
    quantizer = _grid_quantizer(model)
    if images.ndim != 4 or not len(images) or batch_size < 1:
        raise ValueError(f"expected images (N, C, H, W), N >= 1, and batch_size >= 1, got "
                         f"shape {tuple(images.shape)} and batch_size {batch_size}")
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    grids = []
    for batch in images.split(batch_size):
        x = batch.to(device).float() / (255 if batch.dtype == torch.uint8 else 1)
        indices = quantizer(model.encode(x)).indices
        if indices.ndim != 3:
            raise ValueError(f"the encoder gives indices of shape {tuple(indices.shape)}, not "
                             "a grid (B, h, w)")
        grids.append(indices.cpu())
    model.train(was_training)
    return torch.cat(grids)


# %% book/chapters/06c_real_codes.md: def decode_grids, def tile_images
@torch.no_grad()
def decode_grids(model: nn.Module, grids: Tensor, *, batch_size: int = 256) -> Tensor:
    """Images from grids of code indices, the decoder applied to their codebook vectors: (N, C, H,
    W) floats clamped to [0, 1], on the CPU.

    Args:
        model: the VQ autoencoder whose codebook the indices point into.
        grids: (N, h, w) integer code indices in [0, K).
        batch_size: grids decoded at once; changes memory, not the result.
    """
    quantizer = _grid_quantizer(model)
    check_grid(grids, quantizer.num_codes)
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    out = [model.decode(quantizer.lookup(batch.to(device))).clamp(0, 1).cpu()
           for batch in grids.split(max(batch_size, 1))]
    model.train(was_training)
    return torch.cat(out)


def tile_images(images: Tensor, *, rows: int) -> Tensor:
    """Images laid out as one RGB picture, row by row, with a one-pixel gap: (rows (H + 1) - 1,
    cols (W + 1) - 1, 3) floats in [0, 1] (for plots and files).

    Args:
        images: (N, C, H, W) in [0, 1], N a multiple of `rows`; C is 1 or 3.
        rows: the number of rows; each holds N / rows images.
    """
    n, c, height, width = images.shape
    if rows < 1 or n % rows or c not in (1, 3):
        raise ValueError(f"need 1 or 3 channels and a number of images divisible by rows, got "
                         f"{n} images of {c} channels in {rows} rows")
    cols = n // rows
    sheet = torch.ones(rows * (height + 1) - 1, cols * (width + 1) - 1, 3)
    for i, image in enumerate(images.float().clamp(0, 1).expand(-1, 3, -1, -1)):
        r, col = divmod(i, cols)
        sheet[r * (height + 1):r * (height + 1) + height,
              col * (width + 1):col * (width + 1) + width] = image.permute(1, 2, 0).cpu()
    return sheet


# %% book/chapters/06c_real_codes.md: def bits_per_image, PRIOR_RECIPES
@torch.no_grad()
def bits_per_image(prior: GatedPixelCNN, grids: Tensor, labels: Tensor | None = None, *,
                   batch_size: int = 512) -> float:
    """The mean -log2 p(c) over grids, in bits per image (held-out grids measure the prior).

    Args:
        prior: a prior with `log_prob` in nats and `num_codes`, `shape`, `num_classes`.
        grids: (N, h, w) integer code indices.
        labels: (N,) class indices for a class-conditional prior, else None.
        batch_size: grids scored at once; changes memory, not the result.
    """
    check_grid(grids, prior.num_codes, shape=prior.shape)
    check_labels(labels, prior.num_classes, len(grids))
    if len(grids) == 0:
        raise ValueError("bits_per_image needs at least one grid")
    device, was_training = next(prior.parameters()).device, prior.training
    prior.eval()
    total = 0.0
    for start in range(0, len(grids), max(batch_size, 1)):
        part = slice(start, start + max(batch_size, 1))
        y = None if labels is None else labels[part].to(device)
        total += -prior.log_prob(grids[part].to(device), y).double().sum().item()
    prior.train(was_training)
    return total / len(grids) / math.log(2)


PRIOR_RECIPES = {   # the prior's training per scale; which numbers come from where: see the page
    "smoke": dict(steps=60, batch_size=16, lr=1e-2, channels=16, layers=7),
    "quick": dict(steps=250, batch_size=32, lr=5e-3, channels=16, layers=7),
    "full": dict(steps=20000, batch_size=32, lr=3e-4, channels=64, layers=12),
}


# %% book/chapters/06c_real_codes.md: def fit_prior
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


# %% book/chapters/06c_real_codes.md: def sample_run
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
    num_codes = _grid_quantizer(model).num_codes
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


__all__ = ['encode_grids', 'decode_grids', 'tile_images', 'bits_per_image', 'PRIOR_RECIPES', 'fit_prior', 'sample_run']
