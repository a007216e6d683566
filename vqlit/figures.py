# This file is generated from book/chapters/01c_ema_pitfall.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/01c_ema_pitfall.md: statements
"""The book's shared figures: the Voronoi cells of a 2-D codebook, the 2-D toy dynamics of any
quantizer, and the image experiments' training curves and reconstructions (matplotlib: the
notebook extra)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from vqlit.vq import Quantizer, nearest_code


# %% book/chapters/01c_ema_pitfall.md: def voronoi
def voronoi(ax, codes: Tensor, lim: float = 3.0, alpha: float = 0.25, cmap: str = "tab20") -> None:
    """Colour a square of `ax` by the nearest code: each code's Voronoi cell, Eq. (1.12).

    Args:
        ax: the matplotlib axes to draw on.
        codes: the codes, (K, 2), on any device.
        lim: the half-width of the square [-lim, lim]^2, in data units.
        alpha: the opacity of the colours.
        cmap: the matplotlib colour map: one colour per code.
    """
    grid = torch.linspace(-lim, lim, 400)
    xx, yy = torch.meshgrid(grid, grid, indexing="xy")                     # (400, 400) each
    points = torch.stack([xx.flatten(), yy.flatten()], 1)                   # (400^2, 2)
    cells = nearest_code(points, codes.detach().cpu()).view(400, 400)       # row i: y = grid[i]
    ax.imshow(cells, origin="lower", extent=(-lim, lim, -lim, lim), cmap=cmap, alpha=alpha,
              interpolation="nearest", vmin=0, vmax=max(len(codes) - 1, 1))
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])


# %% book/chapters/01c_ema_pitfall.md: def toy_dynamics
def toy_dynamics(data: Tensor, quantizer: Quantizer, *, start: Tensor | None = None,
                 steps: int = 400, lr: float = 0.05,
                 anchor: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """The 2-D toy of Chapter 1 for any quantizer, plain SGD on Eq. (1.14): returns the
    codebook path (steps + 1, K, d), the final features (N, d) and the codes used in eval mode.

    Args:
        data: the data points x, (N, d); the features z start there.
        quantizer: trained in place, with the features; its train/eval mode is restored.
        start: the codebook's first value, (K, d); None: the quantizer's own.
        steps: SGD steps.
        lr: the SGD learning rate, for the features and the quantizer's parameters.
        anchor: alpha of Eq. (1.14), the pull of each feature to its data point.
    """
    if start is not None:
        with torch.no_grad():
            quantizer.codebook.copy_(start)
    z = data.clone().requires_grad_(True)                                   # (N, d) features
    opt = torch.optim.SGD([z, *quantizer.parameters()], lr=lr)
    was_training = quantizer.training
    quantizer.train()
    path = [quantizer.codebook.detach().clone()]
    for _ in range(steps):
        loss = (anchor * (z - data).square().sum(-1).mean()                # z stays near x
                + quantizer.dim * quantizer(z).loss)                       # a sum over d
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(quantizer.codebook.detach().clone())
    quantizer.eval()
    with torch.no_grad():
        used = quantizer(z.detach()).indices.unique()                      # (used,)
    quantizer.train(was_training)
    return torch.stack(path), z.detach(), used                              # (T+1, K, d), ...


# %% book/chapters/01c_ema_pitfall.md: def draw_dynamics
def draw_dynamics(ax, data: Tensor, path: Tensor, used: Tensor, title: str, *,
                  cells: bool = False, lim: float | None = 3.2) -> None:
    """Draw a `toy_dynamics` run on `ax`: code tracks, used codes as stars, dead ones as crosses.

    Args:
        ax: the matplotlib axes to draw on.
        data: the data points, (N, 2).
        path: the codebook path, (T+1, K, 2).
        used: the indices of the codes used at the end.
        title: the panel's title; the count of used codes is appended.
        cells: also colour the final Voronoi cells (needs lim).
        lim: the square [-lim, lim]^2 shown; None: matplotlib's limits.
    """
    final = path[-1]                                                        # (K, 2)
    if cells:
        voronoi(ax, final, lim=lim)
    ax.scatter(*data.T, s=2, c="grey", alpha=0.5)
    for k in range(path.shape[1]):
        ax.plot(*path[:, k].T, color="black", lw=0.7)
    alive = torch.zeros(path.shape[1], dtype=torch.bool)                    # (K,)
    alive[used] = True
    ax.scatter(*final[alive].T, marker="*", s=110, c="black", label="used")
    ax.scatter(*final[~alive].T, marker="x", s=45, c="crimson", label="dead")
    if lim is not None:
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim))
    ax.set(aspect="equal", xticks=[], yticks=[])
    ax.set_title(f"{title}: {int(alive.sum())} of {path.shape[1]} codes used", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


# %% book/chapters/01c_ema_pitfall.md: def plot_training
def plot_training(runs: dict, scores: dict, num_codes: int, *, panel: str = "usage",
                  recon_label: str = "reconstruction loss"):
    """The image experiments' figure, one line per run: the reconstruction loss and the panel's
    statistic over training, and the test-set code histogram, sorted. Returns the figure.

    Args:
        runs: name -> FitResult; its .history rows hold "step", "recon" and the panel's key.
        scores: name -> Evaluation, for the same names; its .counts (K,) is the histogram.
        num_codes: the codebook size K.
        panel: "usage", the batch usage in %, or "perplexity", the batch perplexity.
        recon_label: the y label of the reconstruction loss.
    """
    import matplotlib.pyplot as plt                               # the notebook extra
    if panel not in ("usage", "perplexity"):
        raise ValueError(f"panel must be 'usage' or 'perplexity', got {panel!r}")
    unit = 100 if panel == "usage" else 1                         # usage in %
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for name, run in runs.items():
        steps = [r["step"] for r in run.history]
        axes[0].plot(steps, [r["recon"] for r in run.history], label=name)
        axes[1].plot(steps, [unit * r[panel] for r in run.history], label=name)
        counts = scores[name].counts.float().sort(descending=True).values.clamp_min(0.5)  # (K,)
        axes[2].plot(range(1, num_codes + 1), counts, label=name)
    axes[0].set(xlabel="step", ylabel=recon_label, yscale="log", title="training")
    ylabel, title = {"usage": ("codes used in the batch (%)", "batch usage"),
                     "perplexity": ("perplexity of the batch", "batch perplexity")}[panel]
    axes[1].set(xlabel="step", ylabel=ylabel, title=title)
    axes[2].set(xlabel="code rank", ylabel="times chosen (test set)", yscale="log", xscale="log",
                title="code histogram, sorted")
    axes[2].axhline(0.5, color="grey", lw=0.5)
    axes[2].text(1.2, 0.6, "never chosen", fontsize=7, color="grey")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# %% book/chapters/01c_ema_pitfall.md: def show_reconstructions
@torch.no_grad()
def show_reconstructions(models: dict[str, nn.Module], images: Tensor, device):
    """A figure: the images in the first row and each model's reconstructions in a row below.

    Args:
        models: name -> autoencoder (its output has .reconstruction); eval mode, then restored.
        images: the inputs, (n, C, H, W), uint8 or floats in [0, 1].
        device: the device the models are on.
    """
    import matplotlib.pyplot as plt                               # the notebook extra
    x = images.to(device)
    x = x.float() if x.is_floating_point() else x.float() / 255           # (n, C, H, W)
    rows = [("input", x)]
    for name, model in models.items():
        was_training = model.training
        rows.append((name, model.eval()(x).reconstruction.clamp(0, 1)))
        model.train(was_training)
    fig, axes = plt.subplots(len(rows), len(x), figsize=(len(x), 1.07 * len(rows)), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c, img in enumerate(imgs):
            axes[r, c].imshow(img.permute(1, 2, 0).squeeze(-1).cpu(), cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].set_title(label, fontsize=8, loc="left")
    return fig


__all__ = ['voronoi', 'toy_dynamics', 'draw_dynamics', 'plot_training', 'show_reconstructions']
