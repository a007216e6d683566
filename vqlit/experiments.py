# This file is generated from book/chapters/a4_experiments.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4_experiments.md:75
"""The papers' protocols as named experiments, and training, evaluating and recording them (the
engine behind `python -m vqlit`)."""
from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from vqlit.data import DATASETS, DatasetUnavailable, ImageData, load_dataset
from vqlit.evaluation import evaluate, perceptual_metrics
from vqlit.family import BalancedSoftQuantizer
from vqlit.fsq import FSQuantizer
from vqlit.models import residual_autoencoder, small_cnn_autoencoder
from vqlit.optvq import SinkhornQuantizer
from vqlit.results import load_result, record_result, results_dir
from vqlit.sinkhorn import OPTVQ_SOLVER, SinkhornSolver
from vqlit.soft import BayesianQuantizer
from vqlit.train import (SCALES, TrainConfig, claim_dir, distributed, fit, load_checkpoint,
                         resolve_device, resolve_precision, resolve_scale)
from vqlit.vq import EMAVectorQuantizer, VectorQuantizer, nearest_code
from vqlit.wasserstein import WassersteinQuantizer


# %% book/chapters/a4_experiments.md:128
@dataclass(frozen=True)
class Experiment:
    """One paper's protocol for one row of one of its tables."""

    name: str                                      # e.g. "vq_nn_mnist"
    chapter: str                                   # the chapter that derives the method
    summary: str                                   # one line for `reproduce --list`
    dataset: str                                   # the paper's data set
    model: Callable[[ImageData], nn.Module]        # data -> a model with .loss(x)
    recipes: dict[str, dict]                       # scale -> TrainConfig fields, "epochs", subsets
    image_size: int | None = 32                    # resize to this side (None: native size)
    metrics: Callable[[nn.Module, ImageData, str], dict] | None = None  # None: reconstruction
    paper: dict[str, float] = field(default_factory=dict)           # the paper's numbers
    source: str = ""                               # where the paper prints them
    evaluation: dict[str, dict] = field(default_factory=dict)       # scale -> metric settings

    def config(self, scale: str, train_size: int, **overrides) -> TrainConfig:
        """The TrainConfig of this experiment at `scale` for a training set of train_size."""
        recipe = {k: v for k, v in self.recipes[scale].items()
                  if k not in ("train", "test", "model")}
        if "epochs" in recipe:                                 # epochs -> steps, rounded up
            recipe["steps"] = math.ceil(recipe.pop("epochs") * train_size / recipe["batch_size"])
        return TrainConfig(**{**recipe, **overrides})

    def build(self, data: ImageData, scale: str) -> nn.Module:
        """The model this experiment trains at `scale` on `data` (the recipe's own, if any)."""
        return self.recipes[scale].get("model", self.model)(data)


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    if missing := {"smoke", "quick", "full"} - set(experiment.recipes):
        raise ValueError(f"experiment {experiment.name!r} has no recipe for {sorted(missing)}")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"no experiment named {name!r}; `python -m vqlit reproduce --list` "
                         f"names them: {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


# %% book/chapters/a4_experiments.md:192
_OPTVQ_RECIPE = dict(lr=4.6e-3, optimizer="adamw", eps=1e-7, weight_decay=0.05,
                     schedule="onecycle", grad_clip=1.0)
VQ_SCALES = {      # Chapter 1's live sizes; full: OptVQ's protocol
    "smoke": dict(_OPTVQ_RECIPE, steps=60, batch_size=128, train=4096, test=1000, log_every=2),
    "quick": dict(_OPTVQ_RECIPE, steps=500, batch_size=128, log_every=16),
    "full": dict(_OPTVQ_RECIPE, epochs=100, batch_size=1024, log_every=100),
}
OPTVQ_SCALES = {   # Chapter 4's live sizes; full: OptVQ's protocol
    "smoke": dict(_OPTVQ_RECIPE, steps=40, batch_size=16, train=2048, test=500, log_every=1),
    "quick": dict(_OPTVQ_RECIPE, steps=500, batch_size=64, log_every=16),
    "full": dict(_OPTVQ_RECIPE, epochs=100, batch_size=1024, log_every=100),
}
_WAE_RECIPE = dict(lr=1e-3, optimizer="adam")
VQWAE_SCALES = {
    "smoke": dict(_WAE_RECIPE, steps=30, batch_size=32, train=1024, test=256, log_every=10),
    "quick": dict(_WAE_RECIPE, steps=1500, batch_size=32, test=2000, log_every=100),
    "full": dict(_WAE_RECIPE, epochs=100, batch_size=32, log_every=500),
}
VQWAE_LIVE_SCALES = {   # Chapter 3's live image run and its |C| sweep (sweep_steps), its backbone
    "smoke": dict(_WAE_RECIPE, steps=20, sweep_steps=5, batch_size=32, train=2048, test=256,
                  backbone="small CNN"),
    "quick": dict(_WAE_RECIPE, steps=500, sweep_steps=250, batch_size=32, test=2000,
                  backbone="small CNN"),
    "full": dict(_WAE_RECIPE, steps=2000, sweep_steps=1000, batch_size=32, backbone="residual CNN"),
}
# The papers' numbers for the rows registered here (labelled as the papers' wherever shown).
_OPTVQ_BASELINE = {"mnist": {"psnr": 9.02, "usage": 0.0020},
                   "cifar10": {"psnr": 14.57, "usage": 0.0010}}
_VQWAE_VQVAE = {  # VQ-WAE Table 1 (ICLR text): its VQ-VAE rows
    "mnist": {"ssim": 0.98, "psnr": 33.37, "lpips": 0.02, "rfid": 4.8, "perplexity": 47.2},
    "cifar10": {"ssim": 0.70, "psnr": 23.14, "lpips": 0.35, "rfid": 77.3, "perplexity": 69.8}}


def _small_cnn(quantizer: Callable[[], nn.Module]) -> Callable[[ImageData], nn.Module]:
    return lambda data: small_cnn_autoencoder(quantizer(), channels=data.image_shape[0],
                                              code_dim=8)


for _ds in ("mnist", "cifar10"):
    register(Experiment(
        f"vq_nn_{_ds}", "01_vq_preliminaries",
        f"OptVQ Table 2 baseline: nearest-neighbour VQ, {_ds}", _ds,
        _small_cnn(lambda: VectorQuantizer(num_codes=1024, dim=8)), VQ_SCALES,
        paper=_OPTVQ_BASELINE[_ds], source="OptVQ Table 2"))
    register(Experiment(
        f"vq_ema_{_ds}", "01_vq_preliminaries",
        f"OptVQ Table 2 setting with the EMA codebook, {_ds}", _ds,
        _small_cnn(lambda: EMAVectorQuantizer(num_codes=1024, dim=8)), VQ_SCALES))
    register(Experiment(
        f"wae_vqvae_{_ds}", "03_vq_wae", f"VQ-WAE Table 1 baseline: VQ-VAE with the residual CNN, "
        f"{_ds}", _ds,
        lambda data: residual_autoencoder(VectorQuantizer(num_codes=512, dim=64),
                                          channels=data.image_shape[0]),
        VQWAE_SCALES, paper=_VQWAE_VQVAE[_ds], source="VQ-WAE Table 1"))


# %% book/chapters/a4_experiments.md:268
_VQWAE_PAPER = {  # VQ-WAE Table 1 (ICLR text): the VQ-WAE rows
    "mnist": {"ssim": 0.99, "psnr": 35.61, "lpips": 0.01, "rfid": 2.4, "perplexity": 507.7},
    "cifar10": {"ssim": 0.80, "psnr": 25.93, "lpips": 0.23, "rfid": 54.9, "perplexity": 505.0},
}
_VQWAE_SWEEP = {  # VQ-WAE Table 2: perplexity of VQ-WAE at |C| = 64, 128, 256, 512
    "mnist": {64: 63.8, 128: 127.7, 256: 255.1, 512: 507.7},
    "cifar10": {64: 63.4, 128: 126.1, 256: 252.0, 512: 505.0},
}
_VQVAE_SWEEP = {  # VQ-WAE Table 2: perplexity of its VQ-VAE baseline at the same sizes
    "mnist": {64: 47.8, 128: 70.3, 256: 52.0, 512: 47.2},
    "cifar10": {64: 24.3, 128: 44.9, 256: 85.1, 512: 69.8},
}


def _vqwae_quantizer(num_codes: int, dim: int, iters: int = 300) -> nn.Module:
    """The official code's quantizer: one problem per position of the 8 x 8 grid, learned pi."""
    return WassersteinQuantizer(
        num_codes=num_codes, dim=dim, ws_weight=1e-3, per_position=True, learned_weights=True,
        positions=64, kl_weight=1.0, init="normal",
        solver=SinkhornSolver(epsilon=100.0, iters=iters, normalize=True))


def _wasserstein_model(num_codes: int) -> Callable[[ImageData], nn.Module]:
    return lambda data: residual_autoencoder(_vqwae_quantizer(num_codes, 64),
                                             channels=data.image_shape[0])


for _ds in ("mnist", "cifar10"):
    register(Experiment(
        f"wae_vqwae_{_ds}", "03_vq_wae", f"VQ-WAE Table 1: Wasserstein quantizer, |C| = 512, {_ds}",
        _ds, _wasserstein_model(512), VQWAE_SCALES, paper=_VQWAE_PAPER[_ds],
        source="VQ-WAE Table 1"))
    for _k, _ppl in _VQWAE_SWEEP[_ds].items():
        register(Experiment(
            f"wae_sweep_k{_k}_{_ds}", "03_vq_wae", f"VQ-WAE Table 2: |C| = {_k}, {_ds}", _ds,
            _wasserstein_model(_k), VQWAE_SCALES, paper={"perplexity": _ppl},
            source="VQ-WAE Table 2"))
        register(Experiment(
            f"wae_vqvae_sweep_k{_k}_{_ds}", "03_vq_wae", f"VQ-WAE Table 2 baseline: VQ-VAE, "
            f"|C| = {_k}, {_ds}", _ds,
            lambda data, k=_k: residual_autoencoder(VectorQuantizer(num_codes=k, dim=64),
                                                    channels=data.image_shape[0]),
            VQWAE_SCALES, paper={"perplexity": _VQVAE_SWEEP[_ds][_k]}, source="VQ-WAE Table 2"))


# %% book/chapters/a4_experiments.md:322
_OPTVQ_PAPER = {"mnist": {"psnr": 34.28, "usage": 1.0}, "cifar10": {"psnr": 28.78, "usage": 1.0}}


def _sinkhorn_quantizer(use_proj: bool = False) -> nn.Module:
    return SinkhornQuantizer(num_codes=1024, dim=8, heads=4, solver=OPTVQ_SOLVER,  # eps 10, 5 it.
                             codebook_weight=0.25, use_proj=use_proj)


for _ds in ("mnist", "cifar10"):
    register(Experiment(
        f"optvq_{_ds}", "04_optvq", f"OptVQ Table 2: Sinkhorn VQ, 4 heads, K = 1024, {_ds}", _ds,
        _small_cnn(_sinkhorn_quantizer), OPTVQ_SCALES, paper=_OPTVQ_PAPER[_ds],
        source="OptVQ Table 2"))
    register(Experiment(
        f"optvq_proj_{_ds}", "04_optvq", f"OptVQ with the official configs' projected codebook "
        f"(use_proj), {_ds}", _ds, _small_cnn(lambda: _sinkhorn_quantizer(use_proj=True)),
        OPTVQ_SCALES, source="OptVQ's official configurations (not a row of its Table 2)"))


# %% book/chapters/a4_experiments.md:350
SOFT_SCALES = {
    "smoke": dict(steps=40, batch_size=32, lr=3e-4, optimizer="adam", train=1000, test=500,
                  log_every=1),
    "quick": dict(steps=1500, batch_size=32, lr=3e-4, optimizer="adam", train=20000, test=5000,
                  log_every=37),
    "full": dict(steps=40000, batch_size=32, lr=3e-4, optimizer="adam", log_every=1000),
}
_SOFT_KMEANS_INITS = {"smoke": 2, "quick": 10, "full": 100}
_SOFT_PAPER = {  # Table 1 of Wu & Flierl, MNIST, d = 64: clustering acc., NMI, classification acc.
    "ae": {"cluster_acc": 0.5261, "nmi": 0.5301, "probe_acc": 0.9191},
    "vqvae": {"cluster_acc": 0.5148, "nmi": 0.3541, "probe_acc": 0.8162},
    "bayes": {"cluster_acc": 0.7764, "nmi": 0.7188, "probe_acc": 0.9354},
}


def _soft_model(row: str, noise_std: float = 0.0) -> Callable[[ImageData], nn.Module]:
    from vqlit.models import mlp_autoencoder
    from vqlit.soft import soft_mlp_autoencoder

    def build(data: ImageData) -> nn.Module:
        shape = dict(image_shape=data.image_shape, latent_dim=64)
        if row == "ae":
            return mlp_autoencoder(None, **shape)
        if row == "vqvae":
            vq = VectorQuantizer(num_codes=128, dim=64, commitment_weight=0.25,
                                 init="unit_scaling")                 # the paper's initialisation
            return mlp_autoencoder(vq, **shape)
        pixel_var = float((data.train_images.float() / 255).var())
        return soft_mlp_autoencoder(num_codes=128, commitment_weight=2.5, noise_std=noise_std,
                                    quantizer_weight=3 * pixel_var, **shape)
    return build


def _latent_metrics(model: nn.Module, data: ImageData, scale: str) -> dict:
    from vqlit.downstream import latent_evaluation
    return latent_evaluation(model, data, n_init=_SOFT_KMEANS_INITS[scale], seed=0)


for _row, _what in (("ae", "baseline autoencoder"), ("vqvae", "VQ-VAE, K = 128"),
                    ("bayes", "soft VQ-VAE (Bayesian estimator), K = 128")):
    register(Experiment(
        f"soft_{_row}_mnist", "02_soft_vq", f"Soft VQ-VAE Table 1: {_what}, mnist", "mnist",
        _soft_model(_row), SOFT_SCALES, image_size=None, metrics=_latent_metrics,
        paper=_SOFT_PAPER[_row], source="Wu & Flierl Table 1",
        evaluation={s: {"kmeans_inits": n} for s, n in _SOFT_KMEANS_INITS.items()}))


# %% book/chapters/a4_experiments.md:403
SOFT_NOISES = (0.0, 0.03, 0.1, 0.3, 1.0)   # noise_std of Chapter 2's sweep (the released code: 0)
for _noise in SOFT_NOISES:
    register(Experiment(
        f"soft_noise{_noise:g}_mnist", "02_soft_vq",
        f"Soft VQ-VAE with latent noise of std {_noise:g}, mnist", "mnist",
        _soft_model("bayes", _noise), SOFT_SCALES, image_size=None, metrics=_latent_metrics,
        source="this book, Chapter 2 (the paper states no noise level)",
        evaluation={s: {"kmeans_inits": n} for s, n in _SOFT_KMEANS_INITS.items()}))


# %% book/chapters/a4_experiments.md:437
COMPARE_SCALES = {   # one recipe for every method: OptVQ's optimiser, Chapter 5's sizes
    "smoke": dict(_OPTVQ_RECIPE, steps=10, batch_size=32, train=1024, test=128, log_every=2),
    "quick": dict(_OPTVQ_RECIPE, steps=150, batch_size=32, test=1000, log_every=5),
    "full": dict(_OPTVQ_RECIPE, epochs=100, batch_size=1024, log_every=100),
}
COMPARE_SEEDS = {"smoke": 2, "quick": 3, "full": 3}
_VQWAE_ITERS = 20    # Sinkhorn iterations of VQ-WAE in the comparison (its code: 300)
_K, _D = 1024, 8
_OPTVQ_WEIGHTS = dict(codebook_weight=0.25, commitment_weight=1.0)
_COMPARE = {   # label -> (experiment slug, quantizer)
    "nearest neighbour": ("nn", lambda: VectorQuantizer(num_codes=_K, dim=_D)),
    "EMA": ("ema", lambda: EMAVectorQuantizer(num_codes=_K, dim=_D)),
    "EMA + k-means init": ("ema_kmeans", lambda: EMAVectorQuantizer(num_codes=_K, dim=_D,
                                                                    kmeans_init=True)),
    "EMA + dead-code replacement": ("ema_dead", lambda: EMAVectorQuantizer(
        num_codes=_K, dim=_D, dead_code_threshold=2.0)),
    "Soft VQ": ("soft", lambda: BayesianQuantizer(num_codes=_K, dim=_D, init="normal")),
    "VQ-WAE (Sinkhorn)": ("vqwae", lambda: _vqwae_quantizer(_K, _D, iters=_VQWAE_ITERS)),
    "OptVQ, 1 head": ("optvq_h1", lambda: SinkhornQuantizer(num_codes=_K, dim=_D, heads=1)),
    "OptVQ, 4 heads": ("optvq_h4", _sinkhorn_quantizer),
    "soft and balanced": ("corner", lambda: BalancedSoftQuantizer(num_codes=_K, dim=_D)),
    "FSQ": ("fsq", lambda: FSQuantizer(levels=(4, 4, 2, 2, 2, 2, 2, 2))),
    "NN, OptVQ's weights": ("nn_w", lambda: VectorQuantizer(num_codes=_K, dim=_D,
                                                            **_OPTVQ_WEIGHTS)),
    "NN, 4 heads, OptVQ's weights": ("nn_h4_w", lambda: VectorQuantizer(
        num_codes=_K, dim=_D, heads=4, **_OPTVQ_WEIGHTS)),
}
COMPARE_METHODS = {label: f"compare_{slug}_mnist" for label, (slug, _) in _COMPARE.items()}
for _label, (_slug, _quantizer) in _COMPARE.items():
    register(Experiment(
        COMPARE_METHODS[_label], "05_family", f"Chapter 5 at equal budget: {_label}, mnist",
        "mnist", _small_cnn(_quantizer), COMPARE_SCALES,
        metrics=lambda model, data, scale: compare_metrics(model, data),
        source="this book, Chapter 5"))


# %% book/chapters/a4_experiments.md:478
@dataclass(frozen=True)
class Group:
    """Experiments run together, each over several seeds, and recorded as mean and sd."""

    name: str
    summary: str
    members: tuple[str, ...]          # experiment names
    seeds: dict[str, int]             # scale -> number of seeds (0, 1, ...)


GROUPS = {"compare": Group("compare", "Chapter 5: every method at equal budget, mnist",
                           tuple(COMPARE_METHODS.values()), COMPARE_SEEDS)}


# %% book/chapters/a4_experiments.md:523
def prepare_data(experiment: Experiment, scale: str, *, dataset: str | None = None,
                 verbose: bool = True, data: ImageData | None = None) -> ImageData:
    """The experiment's data set (or `dataset`, or the loaded `data`), subset for `scale`."""
    name = dataset or experiment.dataset
    try:
        if data is None:
            data = load_dataset(name, image_size=experiment.image_size, verbose=verbose)
    except DatasetUnavailable as err:
        if scale != "smoke":
            raise
        data = load_dataset("auto", image_size=experiment.image_size, verbose=verbose)
        print(f"note: {name} is not available here ({str(err).split('.')[0]}); the smoke run "
              f"uses {data.name} instead")
    recipe = experiment.recipes[scale]
    return data.subset(recipe.get("train"), recipe.get("test"))


# %% book/chapters/a4_experiments.md:555
def _run_info(directory: Path) -> dict:
    path = Path(directory) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a training directory (no run.json); "
                                "`python -m vqlit train NAME --out DIR` makes one")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(info, dict) or not set(_RUN_KEYS) <= set(info):
        raise ValueError(f"{path} must name {', '.join(_RUN_KEYS)}; it holds {info!r:.200}")
    return info


_RUN_KEYS = ("experiment", "scale", "dataset", "seed")


def _run_label(info: dict) -> str:
    """What a run is, as its checkpoint keeps it (TrainConfig.label)."""
    return f"{info['experiment']} at {info['scale']} on {info['dataset']}, seed {info['seed']}"


def train_experiment(name: str, *, scale: str = "auto", device: str | torch.device = "auto",
                     out: str | Path | None = None, max_steps: int | None = None,
                     resume: bool = True, dataset: str | None = None, progress: bool = True,
                     data: ImageData | None = None, recipes: str | None = None, **overrides):
    """Train experiment NAME; returns (model, data, FitResult, TrainConfig).

    `data`: already loaded images (a chapter's), subset here as the protocol says; `recipes`:
    train NAME's model with the recipes of that experiment instead (two models at one budget);
    `overrides`: TrainConfig fields that replace the protocol's (e.g. seed).
    """
    experiment = get_experiment(name)
    protocol = get_experiment(recipes) if recipes else experiment
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    rank, _ = distributed()
    data = prepare_data(protocol, scale, dataset=dataset or (None if data else experiment.dataset),
                        verbose=rank == 0, data=data)
    config = protocol.config(scale, len(data.train_images), out_dir=str(out) if out else None,
                             resume=resume, progress=progress, stop_at=max_steps, **overrides)
    if out is not None and not config.checkpoint_every:
        config.checkpoint_every = max(config.steps // 20, 1)       # a checkpoint every 5 %
    info = {"experiment": name, "scale": scale, "dataset": data.name, "seed": config.seed}
    config.label = _run_label(info)                    # the checkpoint knows which run it is
    torch.manual_seed(config.seed)
    model = experiment.build(data, scale)
    release = lambda: None
    if out is not None and rank == 0:
        release = claim_dir(out)                       # one training per directory, from here
        try:
            done = [(Path(out) / f).exists() for f in ("checkpoint.pt", "run.json")]
            if resume and all(done):
                saved = _run_info(out)                 # checked before anything is rewritten
                if {k: saved[k] for k in _RUN_KEYS} != info:
                    raise ValueError(f"{out} holds a run of {saved}, not of {info}; resume it "
                                     "with its own settings, or choose another output directory")
            (Path(out) / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        except BaseException:
            release()
            raise
    try:
        result = fit(model, data.train_images, config, device=device)
    finally:
        release()
    return model, data, result, config


# %% book/chapters/a4_experiments.md:647
def _step_seconds(experiment: Experiment, scale: str, data: ImageData, device: torch.device,
                  precision: str, timed_steps: int) -> float:
    """Seconds per training step of `experiment`'s recipe at `scale`, timed on `device`."""
    config = dataclasses.replace(
        experiment.config(scale, len(data.train_images)), steps=timed_steps + 1, log_every=1,
        out_dir=None, progress=False, checkpoint_every=0, stop_at=None, precision=precision)
    torch.manual_seed(0)
    model = experiment.build(data, scale)
    images = data.train_images[: 2 * config.batch_size]
    times = [row["time"] for row in fit(model, images, config, device=device).history]  # per step
    return statistics.median(b - a for a, b in zip(times, times[1:]))   # robust to one slow step


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def expected_cost(runs: dict[str, int] | list[tuple[str | Experiment, int]], *,
                  data: ImageData, scale: str = "auto", device: str | torch.device = "auto",
                  precision: str = "auto", timed_steps: int = 4,
                  verbose: bool = True) -> dict[str, float]:
    """Expected training seconds at each scale on `device` of `runs` (experiment name -> number
    of runs of it, e.g. seeds; or (name or unregistered Experiment, number) pairs) on `data`,
    measured as the section above says; prints a summary naming the data set, device, precision
    and scale."""
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    precision = resolve_precision(precision, device)
    total = dict.fromkeys(SCALES, 0.0)
    runs = list(runs.items() if isinstance(runs, dict) else runs)
    for name, count in runs:
        experiment = name if isinstance(name, Experiment) else get_experiment(name)
        timed = {scale: _step_seconds(experiment, scale, data, device, precision, timed_steps)}
        batch = {s: experiment.recipes[s]["batch_size"] for s in SCALES}
        for other in SCALES:
            size = min(experiment.recipes[other].get("train") or len(data.train_images),
                       len(data.train_images))
            steps = experiment.config(other, size).steps
            other_model = experiment.recipes[other].get("model", experiment.model)
            if other not in timed and (device.type == "cuda" or other_model is not
                                       experiment.recipes[scale].get("model", experiment.model)):
                timed[other] = _step_seconds(experiment, other, data, device, precision,
                                             timed_steps)
            per_step = timed.get(other, timed[scale] * batch[other] / batch[scale])
            total[other] += count * steps * per_step
    if verbose:
        where = (torch.cuda.get_device_name(device) if device.type == "cuda"
                 else f"the CPU ({torch.get_num_threads()} threads)")
        print(f"device: {where}; precision: {precision}; scale: {scale}; data: {data.name}, "
              f"{len(data.train_images):,} training images")
        how = ("timed at each scale's batch" if device.type == "cuda" else
               f"timed at the {scale} scale and for each other network, the others scaled by the "
               "images they process")
        print(f"expected training time on this device ({sum(c for _, c in runs)} runs; {how}): "
              + ", ".join(f"{s} {_duration(t)}" + (" (this run)" if s == scale else "")
                          for s, t in total.items()))
    return total


# %% book/chapters/a4_experiments.md:726
def measure(experiment: Experiment, model: nn.Module, data: ImageData, scale: str) -> dict:
    """The experiment's metrics on the whole test set of `data`."""
    if experiment.metrics is not None:
        return experiment.metrics(model, data, scale)
    scores = evaluate(model, data.test_images).as_dict()
    extra, notes = perceptual_metrics(model, data.test_images)
    return {**scores, **extra, **({"notes": notes} if notes else {})}


def evaluate_run(directory: str | Path, *, device: str | torch.device = "auto") -> dict:
    """The metrics of the run trained into `directory`."""
    info = _run_info(directory)
    experiment = get_experiment(info["experiment"])
    data = prepare_data(experiment, info["scale"], dataset=info["dataset"], verbose=False)
    torch.manual_seed(info["seed"])
    model = experiment.build(data, info["scale"])
    path = Path(directory) / "checkpoint.pt"
    state = load_checkpoint(path, map_location="cpu")
    label = state["config"].get("label")               # absent in checkpoints of older versions
    if label and label != _run_label(info):
        raise ValueError(f"{path} holds a run of {label}, but run.json describes "
                         f"{_run_label(info)}; restore run.json, or train afresh elsewhere")
    model.load_state_dict(state["model"])
    model.to(resolve_device(device))
    return {"experiment": info["experiment"], "scale": info["scale"], "dataset": data.name,
            "step": state["step"], **measure(experiment, model, data, info["scale"])}


# %% book/chapters/a4_experiments.md:761
@torch.no_grad()
def compare_metrics(model: nn.Module, data: ImageData, *, alone: int = 32) -> dict:
    """Appendix C's image metrics of the test set, plus: bits_per_image (indices per image x
    log2 K), nn_usage (the usage of the nearest codes of the same features) and alone_agreement
    (the share of the codes of `alone` test images that are unchanged when each image is
    quantized alone rather than in a batch of up to 1,000)."""
    scores = evaluate(model, data.test_images).as_dict()
    q, device = model.quantizer, next(model.parameters()).device
    was_training = model.training
    model.eval()
    counts = torch.zeros(q.num_codes, dtype=torch.long, device=device)              # (K,)
    for i, block in enumerate(data.test_images.split(1000)):
        z = model.encode(block.to(device).float() / 255)                          # (b, h, w, d)
        own = q(z).indices.reshape(len(z), -1)                                     # (b, tokens)
        codes = own if isinstance(q, FSQuantizer) else nearest_code(   # FSQ: no feature space
            z.reshape(-1, q.code_dim).float(), q.codebook.float())
        counts += torch.bincount(codes.reshape(-1), minlength=q.num_codes)
        if i == 0:
            n = min(alone, len(z))
            batch = own[:n]                                                        # (n, tokens)
            single = torch.stack([q(z[j:j + 1]).indices.reshape(-1) for j in range(n)])
            agreement = float((batch == single).float().mean())
            bits = batch.shape[1] * math.log2(q.num_codes)
    model.train(was_training)
    return {**scores, "bits_per_image": bits, "nn_usage": float((counts > 0).float().mean()),
            "alone_agreement": agreement}


# %% book/chapters/a4_experiments.md:812
def reproduce(name: str, *, scale: str = "auto", out: str | Path | None = None,
              runs: str | Path = "runs", device: str | torch.device = "auto",
              dataset: str | None = None, precision: str = "auto",
              progress: bool = True) -> Path:
    """Train and evaluate experiment NAME and write out/NAME.json (default: `records_out()`).

    On another data set than the paper's, the record is named for it (vq_nn_mnist run on
    fashion-mnist is recorded as vq_nn_fashion-mnist) and carries no paper numbers.
    """
    experiment = get_experiment(name)
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    model, data, result, config = train_experiment(
        name, scale=scale, device=device, out=Path(runs) / f"{name}-{scale}", dataset=dataset,
        progress=progress, precision=precision)
    metrics = measure(experiment, model, data, scale)
    return record_run(name, model, data, config, metrics, scale=scale, device=device,
                      wall_time=result.wall_time, out=out)


# %% book/chapters/a4_experiments.md:837
def record_run(name: str, model: nn.Module, data: ImageData, config: TrainConfig, metrics: dict,
               *, scale: str, device, wall_time: float, out: str | Path | None = None) -> Path:
    """Record a trained run of experiment NAME in out/ (default: `records_out()`); its path.
    `wall_time`: the seconds `fit` spent training (FitResult.wall_time, summed over seeds for a
    group's record); the precision recorded is the one `config.precision` resolved to."""
    experiment = get_experiment(name)
    metrics = dict(metrics)
    notes = metrics.pop("notes", [])
    if data.name != experiment.dataset:
        notes.append(f"trained and evaluated on {data.name}, not the paper's {experiment.dataset}")
    quantizer = getattr(model, "quantizer", None)
    described = {"model": type(model).__name__,
                 "quantizer": None if quantizer is None else repr(quantizer),
                 "quantizer_weight": getattr(model, "quantizer_weight", None)}
    train = {k: v for k, v in vars(config).items() if k not in ("out_dir", "progress")}
    paper_row = data.name == experiment.dataset
    return record_result(
        name.removesuffix(f"_{experiment.dataset}") + f"_{data.name}", metrics,
        experiment=name, dataset=data.name, source=experiment.source,
        notes=notes, config={"train": train, "model": described,
                             "evaluation": experiment.evaluation.get(scale, {})},
        paper=experiment.paper if paper_row else None, device=device, scale=scale,
        wall_time=wall_time, precision=resolve_precision(config.precision, device),
        directory=out)


# %% book/chapters/a4_experiments.md:869
_FORMATS = {"usage": "{:.2%}", "cluster_acc": "{:.2%}", "probe_acc": "{:.2%}", "psnr": "{:.2f}",
            "nn_usage": "{:.2%}", "alone_agreement": "{:.1%}", "ssim": "{:.3f}",
            "perplexity": "{:.1f}", "bits_per_image": "{:.0f}", "step_ms": "{:.0f}"}


def _cell(metrics: dict | None, key: str) -> str:
    if metrics is None or metrics.get(key) is None:
        return "—"
    return _FORMATS.get(key, "{:.4g}").format(metrics[key])


def results_table(names: list[str], metrics: tuple[str, ...], *,
                  labels: dict[str, str] | None = None, directory: str | Path | None = None) -> str:
    """A Markdown table of experiments NAMES: the paper's row, this book's record on the paper's
    data set (or "not yet recorded"), and this book's records on other data sets."""
    folder = Path(directory) if directory is not None else results_dir()
    head = "| data set | model | " + " | ".join(metrics) + " | source |"
    lines = [head, "|" + "---|" * (len(metrics) + 3)]
    for name in names:
        experiment = get_experiment(name)
        label = (labels or {}).get(name, name)
        base = name.removesuffix(f"_{experiment.dataset}")
        others = [d for d in DATASETS if (folder / f"{base}_{d}.json").exists()]
        if experiment.paper:
            cells = " | ".join(_cell(experiment.paper, m) for m in metrics)
            lines.append(f"| {experiment.dataset} | {label} | {cells} | {experiment.source} "
                         "(paper) |")
        for ds in [experiment.dataset] + [d for d in others if d != experiment.dataset]:
            record = load_result(f"{base}_{ds}", folder)
            if record is not None and record["experiment"] != name:     # another protocol's run
                continue
            if record is None:
                cells = " | ".join("not yet recorded" for _ in metrics)
                lines.append(f"| {ds} | {label} | {cells} | this book, full scale |")
                continue
            prov = record["provenance"]
            cells = " | ".join(_cell(record["metrics"], m) for m in metrics)
            lines.append(f"| {ds} | {label} | {cells} | this book: {prov['device']}, "
                         f"{prov['date'][:10]}, commit {prov['commit'][:8].strip()} |")
    return "\n".join(lines)


# %% book/chapters/a4_experiments.md:956
@dataclass
class GroupRun:
    """One trained run of a group: the experiment, its seed, the model, its fit and metrics."""

    experiment: str
    seed: int
    model: nn.Module
    fit: object                       # vqlit.train.FitResult
    config: TrainConfig
    data: ImageData                   # the data it was trained and measured on
    metrics: dict


def get_group(name: str) -> Group:
    if name not in GROUPS:
        raise ValueError(f"no group named {name!r}; the groups are {', '.join(sorted(GROUPS))}")
    return GROUPS[name]


def run_group(name: str, *, scale: str = "auto", device: str | torch.device = "auto",
              dataset: str | None = None, data: ImageData | None = None,
              seeds: int | None = None, runs: str | Path | None = None,
              precision: str = "auto", progress: bool = True) -> list[GroupRun]:
    """Train and measure every member of group NAME for each of its seeds (or `seeds`);
    `runs`: a directory that keeps each run's checkpoints, so that calling again resumes the
    group where it stopped (finished runs are loaded, not trained again); `progress`: one
    progress bar over the runs."""
    from tqdm.auto import tqdm
    group = get_group(name)
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    first = get_experiment(group.members[0])
    data = prepare_data(first, scale, dataset=dataset, data=data, verbose=progress)
    seeds = group.seeds[scale] if seeds is None else seeds
    done = []
    with tqdm(total=len(group.members) * seeds, desc=name, disable=not progress) as bar:
        for member in group.members:
            for seed in range(seeds):
                bar.set_postfix_str(f"{member} seed {seed}")
                out = None if runs is None else Path(runs) / f"{member}-{scale}-seed{seed}"
                model, used, result, config = train_experiment(
                    member, scale=scale, device=device, data=data, seed=seed, out=out,
                    progress=False, precision=precision)
                metrics = measure(get_experiment(member), model, used, scale)
                metrics["step_ms"] = 1000 * result.wall_time / max(result.steps, 1)
                done.append(GroupRun(member, seed, model, result, config, used, metrics))
                bar.update()
    return done


# %% book/chapters/a4_experiments.md:1008
def summarize(runs: list[GroupRun]) -> dict[str, dict[str, float]]:
    """Experiment -> {metric: mean over seeds, metric_sd: sample sd (0 for one seed), seeds}."""
    by_name: dict[str, list[dict]] = {}
    for run in runs:
        by_name.setdefault(run.experiment, []).append(run.metrics)
    summary = {}
    for name, rows in by_name.items():
        keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
        values = {k: torch.tensor([float(r[k]) for r in rows], dtype=torch.float64) for k in keys}
        summary[name] = {"seeds": len(rows)}
        for k, v in values.items():
            summary[name][k] = float(v.mean())
            summary[name][f"{k}_sd"] = float(v.std()) if len(v) > 1 else 0.0
    return summary


# %% book/chapters/a4_experiments.md:1036
def reproduce_group(name: str, *, scale: str = "auto", out: str | Path | None = None,
                    runs: str | Path = "runs", device: str | torch.device = "auto",
                    dataset: str | None = None, precision: str = "auto",
                    progress: bool = True) -> list[Path]:
    """Run group NAME (`run_group`) and record each member's mean and sd over seeds in out/
    (default: book/results/), named for the data set used; the paths."""
    device = resolve_device(device)
    scale = resolve_scale(scale, device)
    began = time.perf_counter()
    done = run_group(name, scale=scale, device=device, dataset=dataset, progress=progress,
                     runs=Path(runs) / name, precision=precision)
    summary, paths = summarize(done), []
    for run in done:
        if run.seed == 0:
            spent = sum(r.fit.wall_time for r in done if r.experiment == run.experiment)
            paths.append(record_run(run.experiment, run.model, run.data, run.config,
                                    summary[run.experiment], scale=scale, device=device,
                                    wall_time=spent, out=out))
    print(f"{name}: {len(done)} runs in {time.perf_counter() - began:.0f} s")
    return paths


# %% book/chapters/a4_experiments.md:1063
def load_group(name: str, dataset: str, directory: str | Path | None = None) -> dict | None:
    """Experiment -> recorded summary of group NAME on `dataset`, or None unless every member is
    recorded; each summary carries its record's provenance under "provenance"."""
    records = {}
    for member in get_group(name).members:
        experiment = get_experiment(member)
        record = load_result(member.removesuffix(f"_{experiment.dataset}") + f"_{dataset}",
                             directory)
        if record is None or record["experiment"] != member:
            return None
        records[member] = {**record["metrics"], "provenance": record["provenance"]}
    return records


def group_table(summary: dict[str, dict], metrics: tuple[str, ...], *,
                labels: dict[str, str] | None = None) -> str:
    """A Markdown table, one row per experiment of `summary` (see `summarize`), mean ± sd;
    `labels`: experiment -> the name shown."""
    def cell(row: dict, key: str) -> str:
        if row.get(key) is None or row.get("seeds", 1) < 2:
            return _cell(row, key)
        return f"{_cell(row, key)} ± {_cell({key: row[f'{key}_sd']}, key)}"
    lines = ["| method | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
    for name, row in summary.items():
        cells = " | ".join(cell(row, m) for m in metrics)
        lines.append(f"| {(labels or {}).get(name, name)} | {cells} |")
    return "\n".join(lines)


__all__ = ['Experiment', 'EXPERIMENTS', 'register', 'get_experiment', 'VQ_SCALES', 'OPTVQ_SCALES', 'VQWAE_SCALES', 'VQWAE_LIVE_SCALES', 'SOFT_SCALES', 'SOFT_NOISES', 'COMPARE_SCALES', 'COMPARE_SEEDS', 'COMPARE_METHODS', 'Group', 'GROUPS', 'prepare_data', 'train_experiment', 'expected_cost', 'measure', 'evaluate_run', 'compare_metrics', 'reproduce', 'record_run', 'results_table', 'GroupRun', 'get_group', 'run_group', 'summarize', 'reproduce_group', 'load_group', 'group_table']
