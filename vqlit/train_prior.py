# This file is generated from book/chapters/a3g_prior_fit.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3g_prior_fit.md: statements
"""A prior fitted to code grids (resumable, in the book's checkpoint format), its recipe per scale,
and a trained autoencoder measured as the first stage of a generator."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vqlit.data_batching import ImageData
from vqlit.gen_metrics import (class_agreement, classifier_frechet, inception_fid,
                               train_classifier)
from vqlit.generate import bits_per_image, decode_grids, encode_grids, grid_quantizer
from vqlit.prior import GatedPixelCNN, check_grid, check_labels, sample_grids
from vqlit.train_checkpoints import load_checkpoint, save_checkpoint


# %% book/chapters/a3g_prior_fit.md: PRIOR_RECIPES
PRIOR_RECIPES = {   # the prior's training per scale; every number is this book's (see the page)
    "smoke": dict(steps=60, batch_size=16, lr=1e-2, channels=16, layers=7),
    "quick": dict(steps=250, batch_size=32, lr=5e-3, channels=16, layers=7),
    "full": dict(steps=20000, batch_size=32, lr=3e-4, channels=64, layers=12),
}


# %% book/chapters/a3g_prior_fit.md: def fit_prior
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


# %% book/chapters/a3g_prior_fit.md: GENERATION_SAMPLES, CLASSIFIER_STEPS, def generation_metrics
GENERATION_SAMPLES = {"smoke": 64, "quick": 500, "full": 10_000}   # this book's; per prior
CLASSIFIER_STEPS = {"smoke": 60, "quick": 600, "full": 3000}       # the CFD's classifier


def generation_metrics(model: torch.nn.Module, data: ImageData, scale: str, *,
                       seed: int = 0) -> dict:
    """A trained VQ autoencoder measured as a generator (VQ-WAE's Table 3 protocol): Gated
    PixelCNN priors over its grids, without and with the class, and their decoded samples.

    Args:
        model: a VQ autoencoder with a one-head codebook quantizer, on its device.
        data: the data set it was trained on, with class labels.
        scale: "smoke", "quick" or "full": the recipes of PRIOR_RECIPES, GENERATION_SAMPLES and
            CLASSIFIER_STEPS.
        seed: the seed of the priors, the classifier and the draws.

    Returns:
        The measures by name. "prior_bits" and "prior_bits_cond" are bits per held-out image,
        "cfd" and "cfd_cond" the classifier Fréchet distance of the samples to as many test
        images, "class_agreement" the share of class-conditional samples in their class, and
        "fid" and "fid_cond" are there only where FID could run; where it could not, "notes"
        lists one line for each, "FID, unconditional prior not computed (why)" and likewise.
    """
    device, recipe = next(model.parameters()).device, PRIOR_RECIPES[scale]
    classes = len(data.classes) or int(data.train_labels.max()) + 1
    grids, held_out = encode_grids(model, data.train_images), encode_grids(model, data.test_images)
    n = min(GENERATION_SAMPLES[scale], len(data.test_images))
    real, asked = data.test_images[:n], data.test_labels[:n]
    classifier = train_classifier(data.train_images, data.train_labels, num_classes=classes,
                                  steps=CLASSIFIER_STEPS[scale], seed=seed, device=device,
                                  progress=False)
    out, notes = {}, []
    for suffix, given in (("", False), ("_cond", True)):
        torch.manual_seed(seed)
        prior = GatedPixelCNN(num_codes=grid_quantizer(model).num_codes, shape=grids.shape[1:],
                              num_classes=classes if given else 0, channels=recipe["channels"],
                              layers=recipe["layers"]).to(device)
        fit_prior(prior, grids, data.train_labels if given else None, steps=recipe["steps"],
                  batch_size=recipe["batch_size"], lr=recipe["lr"], seed=seed, progress=False)
        out["prior_bits" + suffix] = bits_per_image(prior, held_out,
                                                    data.test_labels if given else None)
        drawn = decode_grids(model, sample_grids(
            prior, n, labels=asked if given else None,
            generator=torch.Generator(device).manual_seed(seed)))
        out["cfd" + suffix] = classifier_frechet(classifier, real, drawn)
        if given:
            out["class_agreement"] = class_agreement(classifier, drawn, asked)
        missing = f"FID, {'class-conditional' if given else 'unconditional'} prior not computed"
        if device.type != "cuda":                 # Inception at 299 x 299: minutes on a CPU
            notes.append(f"{missing} (it runs on a GPU only: InceptionV3 on a CPU takes minutes)")
            continue
        try:
            out["fid" + suffix] = inception_fid(real, drawn, device=device)
        except (ImportError, RuntimeError) as error:     # no pytorch-fid, or no weights
            notes.append(f"{missing} ({error})")
    return {**out, "notes": notes} if notes else out


__all__ = ['PRIOR_RECIPES', 'fit_prior', 'GENERATION_SAMPLES', 'CLASSIFIER_STEPS', 'generation_metrics']
