# This file is generated from book/chapters/a4a_registry.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4a_registry.md: statements
"""The papers' protocols as named experiments: data, model and recipe per scale, the papers'
numbers, Chapter 5's group, and the metrics of Chapter 5's comparison."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from vqlit.bottlenecks import GaussianBottleneck, InformationDropout
from vqlit.data_batching import ImageData
from vqlit.ema import EMAVectorQuantizer
from vqlit.evaluation import compare_metrics
from vqlit.family import BalancedSoftQuantizer
from vqlit.fsq import FSQuantizer
from vqlit.models import residual_autoencoder, small_cnn_autoencoder
from vqlit.optvq import NearestSolver, SinkhornQuantizer
from vqlit.sinkhorn import OPTVQ_SOLVER, SinkhornSolver
from vqlit.soft import BayesianQuantizer
from vqlit.train_config import TrainConfig
from vqlit.train_prior import generation_metrics
from vqlit.vq import VectorQuantizer
from vqlit.wasserstein import Solver, WassersteinQuantizer


# %% book/chapters/a4a_registry.md: class Experiment
@dataclass(frozen=True)
class Experiment:
    """One paper's protocol for one row of one of its tables.

    Attributes:
        name: `<method>_<data set>`, e.g. "vq_nn_mnist"; the name `reproduce` takes.
        chapter: the stem of the chapter that derives the method, e.g. "01_vq_preliminaries".
        summary: one line for `python -m vqlit reproduce --list`.
        dataset: the paper's data set, a name of `vqlit.data.DATASETS`.
        model: builds the model (one with `.loss(x)`) from the data, which gives its channels.
        recipes: scale ("smoke", "quick" and "full") -> TrainConfig fields, or "epochs" for
            "steps"; "train" / "test": subset sizes; "model": another network at that scale.
        image_size: the side the images are resized to; None keeps their native size.
        metrics: (model, data, scale) -> the test set's metrics; None: `vqlit.runs.measure`'s.
        paper: the paper's numbers for this row, metric -> value; empty where it prints none.
        source: where the protocol comes from: a paper's table, or "this book, ..." (its own).
        evaluation: scale -> the metric settings a record keeps, e.g. {"kmeans_inits": 100}.
    """

    name: str
    chapter: str
    summary: str
    dataset: str
    model: Callable[[ImageData], nn.Module]
    recipes: dict[str, dict]
    image_size: int | None = 32
    metrics: Callable[[nn.Module, ImageData, str], dict] | None = None
    paper: dict[str, float] = field(default_factory=dict)
    source: str = ""
    evaluation: dict[str, dict] = field(default_factory=dict)

    def config(self, scale: str, train_size: int, **overrides) -> TrainConfig:
        """The TrainConfig of this experiment at one scale.

        Args:
            scale: "smoke", "quick" or "full": which recipe.
            train_size: images in the training set; turns the recipe's epochs into steps.
            overrides: TrainConfig fields that replace the recipe's, e.g. `seed` or `out_dir`.
        """
        recipe = {k: v for k, v in self.recipes[scale].items()
                  if k not in ("train", "test", "model")}
        if "epochs" in recipe:                                 # epochs -> steps, rounded up
            recipe["steps"] = math.ceil(recipe.pop("epochs") * train_size / recipe["batch_size"])
        return TrainConfig(**{**recipe, **overrides})

    def build(self, data: ImageData, scale: str) -> nn.Module:
        """The model this experiment trains (the recipe's own network, if it names one).

        Args:
            data: the images it will train on; the model reads their channels.
            scale: "smoke", "quick" or "full": whose recipe may name another network.
        """
        return self.recipes[scale].get("model", self.model)(data)


# %% book/chapters/a4a_registry.md: EXPERIMENTS, def register, def get_experiment
EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to `EXPERIMENTS` and return it.

    Args:
        experiment: the protocol; its name must be new and it needs all three scales' recipes.
    """
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    if missing := {"smoke", "quick", "full"} - set(experiment.recipes):
        raise ValueError(f"experiment {experiment.name!r} has no recipe for {sorted(missing)}")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def get_experiment(name: str) -> Experiment:
    """The registered experiment NAME; a ValueError that lists the names otherwise.

    Args:
        name: an experiment's name, e.g. "vq_nn_mnist" (`python -m vqlit reproduce --list`).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"no experiment named {name!r}; `python -m vqlit reproduce --list` "
                         f"names them: {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


# %% book/chapters/a4a_registry.md: _OPTVQ_RECIPE, VQ_SCALES, OPTVQ_SCALES, _WAE_RECIPE, ...
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
        f"OptVQ Table 2's setting with nearest-neighbour VQ and the VQ-VAE loss, {_ds}", _ds,
        _small_cnn(lambda: VectorQuantizer(num_codes=1024, dim=8)), VQ_SCALES,
        source="this book, Chapter 1 (OptVQ Table 2's network and recipe, the VQ-VAE loss)"))
    register(Experiment(
        f"vq_nn_ce_{_ds}", "04_optvq", f"OptVQ Table 2 baseline: nearest code, the released "
        f"ce loss, {_ds}", _ds, _small_cnn(lambda: SinkhornQuantizer(
            num_codes=1024, dim=8, solver=NearestSolver(), loss="ce")), OPTVQ_SCALES,
        paper=_OPTVQ_BASELINE[_ds], source="OptVQ Table 2 (its loss: the released code's ce)"))
    register(Experiment(
        f"vq_ema_{_ds}", "01_vq_preliminaries",
        f"OptVQ Table 2 setting with the EMA codebook, {_ds}", _ds,
        _small_cnn(lambda: EMAVectorQuantizer(num_codes=1024, dim=8)), VQ_SCALES,
        source="this book, Chapter 1 (OptVQ Table 2's network and recipe, EMA codebook)"))
    register(Experiment(
        f"wae_vqvae_{_ds}", "03_vq_wae", f"VQ-WAE Table 1 baseline: VQ-VAE with the residual CNN, "
        f"{_ds}", _ds,
        lambda data: residual_autoencoder(VectorQuantizer(num_codes=512, dim=64),
                                          channels=data.image_shape[0]),
        VQWAE_SCALES, paper=_VQWAE_VQVAE[_ds], source="VQ-WAE Table 1"))


# %% book/chapters/a4a_registry.md: _VQWAE_PAPER, _VQWAE_SWEEP, _VQVAE_SWEEP, def _vqwae_quantizer, ...
_VQWAE_PAPER = {  # VQ-WAE Table 1 (ICLR text): the VQ-WAE rows
    "mnist": {"ssim": 0.99, "psnr": 35.61, "lpips": 0.01, "rfid": 2.4, "perplexity": 507.7},
    "cifar10": {"ssim": 0.80, "psnr": 25.93, "lpips": 0.23, "rfid": 54.9, "perplexity": 505.0}}
_VQWAE_SWEEP = {  # VQ-WAE Table 2: perplexity of VQ-WAE at |C| = 64, 128, 256, 512
    "mnist": {64: 63.8, 128: 127.7, 256: 255.1, 512: 507.7},
    "cifar10": {64: 63.4, 128: 126.1, 256: 252.0, 512: 505.0}}
_VQVAE_SWEEP = {  # VQ-WAE Table 2: perplexity of its VQ-VAE baseline at the same sizes
    "mnist": {64: 47.8, 128: 70.3, 256: 52.0, 512: 47.2},
    "cifar10": {64: 24.3, 128: 44.9, 256: 85.1, 512: 69.8}}


def _vqwae_quantizer(num_codes: int, dim: int, solver: Solver | None = None) -> nn.Module:
    """The official code's quantizer: one problem per position of the 8 x 8 grid, learned pi, an
    N(0, 1) codebook; solver None solves each exactly (ExactOT), as the code's ot.emd2."""
    return WassersteinQuantizer(
        num_codes=num_codes, dim=dim, ws_weight=1e-3, per_position=True, learned_weights=True,
        positions=64, kl_weight=1.0, init="normal", solver=solver)


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
_VQWAE_T3_PAPER = {  # VQ-WAE Table 3: FID of a PixelCNN prior's samples, |C| = 512: uncond, cond
    "mnist": {"vqvae": (27.01, 25.56), "vqwae": (8.17, 3.96)},
    "cifar10": {"vqvae": (117.49, 117.16), "vqwae": (87.62, 88.93)},
    "svhn": {"vqvae": (62.13, 64.24), "vqwae": (30.64, 34.24)}}
for _ds, _rows in _VQWAE_T3_PAPER.items():
    for _m, (_fid, _fid_cond) in _rows.items():
        register(Experiment(
            f"wae_t3_{_m}_{_ds}", "06_generation", f"VQ-WAE Table 3: {_m.upper()} + Gated "
            f"PixelCNN prior, |C| = 512, {_ds}", _ds, _wasserstein_model(512) if _m == "vqwae"
            else lambda data: residual_autoencoder(VectorQuantizer(num_codes=512, dim=64),
                                                   channels=data.image_shape[0]),
            VQWAE_SCALES, metrics=generation_metrics, paper={"fid": _fid, "fid_cond": _fid_cond},
            source="VQ-WAE Table 3 (its prior's recipe and sample count: this book's)"))


# %% book/chapters/a4a_registry.md: _OPTVQ_PAPER, def _sinkhorn_quantizer, OPTVQ_TABLE3_PAPER, OPTVQ_TABLE3_SIZES
_OPTVQ_PAPER = {"mnist": {"psnr": 34.28, "usage": 1.0}, "cifar10": {"psnr": 28.78, "usage": 1.0}}


def _sinkhorn_quantizer(use_proj: bool = False) -> nn.Module:
    return SinkhornQuantizer(num_codes=1024, dim=8, heads=4, solver=OPTVQ_SOLVER,  # eps 10, 5 it.
                             codebook_weight=0.25, use_proj=use_proj)


OPTVQ_TABLE3_PAPER = {  # OptVQ Table 3 (1% of ImageNet, VQGAN): reconstruction error, usage per K
    (64, "nn"): ((1.957, 2.073, 1.810, 2.002), (0.2344, 0.0391, 0.0195, 0.0206)),
    (64, "ot"): ((1.018, 0.944, 0.903, 0.882), (1.0, 1.0, 1.0, 1.0)),
    (8, "nn"): ((2.254, 1.916, 2.009, 2.099), (0.1875, 0.0293, 0.0171, 0.0020)),
    (8, "ot"): ((0.971, 0.848, 0.808, 0.805), (1.0, 1.0, 1.0, 1.0))}
OPTVQ_TABLE3_SIZES = (128, 1024, 4096, 16384)     # its codebook sizes; latent dimensions 64 and 8
for _d, _how in OPTVQ_TABLE3_PAPER:
    for _k in OPTVQ_TABLE3_SIZES:
        register(Experiment(
            f"optvq_t3_{_how}_d{_d}_k{_k}_mnist", "04_optvq", f"OptVQ Table 3 in small: "
            f"{'Sinkhorn' if _how == 'ot' else 'nearest code'}, d = {_d}, K = {_k}, mnist",
            "mnist", lambda data, d=_d, k=_k, how=_how: small_cnn_autoencoder(SinkhornQuantizer(
                num_codes=k, dim=d, solver=OPTVQ_SOLVER if how == "ot" else NearestSolver()),
                channels=data.image_shape[0], code_dim=d), OPTVQ_SCALES,
            source="this book: OptVQ Table 3's grid in small (MNIST and the small CNN, not the "
                   "paper's 1% of ImageNet and VQGAN); the paper's numbers are not comparable"))
for _ds in ("mnist", "cifar10"):
    register(Experiment(
        f"optvq_{_ds}", "04_optvq", f"OptVQ Table 2: Sinkhorn VQ, 4 heads, K = 1024, {_ds}", _ds,
        _small_cnn(_sinkhorn_quantizer), OPTVQ_SCALES, paper=_OPTVQ_PAPER[_ds],
        source="OptVQ Table 2"))
    register(Experiment(
        f"optvq_proj_{_ds}", "04_optvq", f"OptVQ with the official configs' projected codebook "
        f"(use_proj), {_ds}", _ds, _small_cnn(lambda: _sinkhorn_quantizer(use_proj=True)),
        OPTVQ_SCALES, source="OptVQ's official configurations (not a row of its Table 2)"))


# %% book/chapters/a4a_registry.md: _SOFT_RECIPE, SOFT_SCALES, SOFT_T2_SCALES, _SOFT_KMEANS_INITS, ...
_SOFT_RECIPE = dict(batch_size=32, lr=3e-4, optimizer="adam")
SOFT_SCALES = {"smoke": dict(_SOFT_RECIPE, steps=40, train=1000, test=500, log_every=1),
               "quick": dict(_SOFT_RECIPE, steps=1500, train=20000, test=5000, log_every=37),
               "full": dict(_SOFT_RECIPE, steps=40000, log_every=1000)}
SOFT_T2_SCALES = {   # Table 2's CNN: far slower per step on a CPU, so fewer steps below full
    "smoke": dict(_SOFT_RECIPE, steps=4, train=256, test=256, log_every=1),
    "quick": dict(_SOFT_RECIPE, steps=40, train=2000, test=1000, log_every=5),
    "full": dict(_SOFT_RECIPE, steps=40000, log_every=1000)}
_SOFT_KMEANS_INITS = {"smoke": 2, "quick": 10, "full": 100}
_SOFT_PAPER = {  # Table 1 of Wu & Flierl, MNIST, d = 64: clustering acc., NMI, classification acc.
    "ae": {"cluster_acc": 0.5261, "nmi": 0.5301, "probe_acc": 0.9191},
    "vae": {"cluster_acc": 0.5644, "nmi": 0.5600, "probe_acc": 0.8910},
    "betavae": {"cluster_acc": 0.7381, "nmi": 0.5760, "probe_acc": 0.9110},
    "infodrop": {"cluster_acc": 0.5852, "nmi": 0.4979, "probe_acc": 0.9111},
    "vqvae": {"cluster_acc": 0.5148, "nmi": 0.3541, "probe_acc": 0.8162},
    "bayes": {"cluster_acc": 0.7764, "nmi": 0.7188, "probe_acc": 0.9354}}
SOFT_RAW_PAPER = {"cluster_acc": 0.5517, "nmi": 0.5008, "probe_acc": 0.9244}  # its raw-data row
_SOFT_T2_PAPER = {  # Table 2, d = 256: clustering and classification accuracy, SVHN and CIFAR-10
    "ae": (0.1196, 0.2595, 0.2173, 0.4092), "vae": (0.1358, 0.2642, 0.2412, 0.3883),
    "betavae": (0.1454, 0.4962, 0.2280, 0.3691), "infodrop": (0.1275, 0.2446, 0.2196, 0.3989),
    "vqvae": (0.1296, 0.3157, 0.2030, 0.3351), "bayes": (0.1768, 0.5048, 0.2383, 0.4454)}
_SOFT_NETS = {1: dict(d=64, k=128, vq_k=128, beta=20.0), 2: dict(d=256, k=32, vq_k=512, beta=100.0)}


def _soft_model(row: str, noise_std: float = 0.0, table: int = 1) -> Callable[[ImageData],
                                                                                nn.Module]:
    from vqlit.models import mlp_autoencoder
    from vqlit.models_soft import cnn_vector_autoencoder, soft_cnn_autoencoder, soft_mlp_autoencoder
    plain, soft = ((mlp_autoencoder, soft_mlp_autoencoder) if table == 1     # the MLP or the CNN
                   else (cnn_vector_autoencoder, soft_cnn_autoencoder))
    d, k, vq_k, beta = _SOFT_NETS[table].values()

    def build(data: ImageData) -> nn.Module:
        shape = dict(image_shape=data.image_shape, latent_dim=d)
        if row == "ae":
            return plain(None, **shape)
        if row in ("vae", "betavae", "infodrop"):    # Chapter 2's other bottlenecks, weight 1 / D
            neck = (InformationDropout(dim=d) if row == "infodrop"
                    else GaussianBottleneck(dim=d, beta=beta if row == "betavae" else 1.0))
            return plain(neck, quantizer_weight=1 / math.prod(data.image_shape), **shape)
        if row == "vqvae":
            vq = VectorQuantizer(num_codes=vq_k, dim=d, commitment_weight=0.25,
                                 init="unit_scaling")                 # the paper's initialisation
            return plain(vq, **shape)
        pixel_var = float((data.train_images.float() / 255).var())
        return soft(num_codes=k, commitment_weight=2.5, noise_std=noise_std,
                    quantizer_weight=3 * pixel_var, **shape)
    return build


def _latent_metrics(model: nn.Module, data: ImageData, scale: str) -> dict:
    from vqlit.downstream import latent_evaluation
    return latent_evaluation(model, data, n_init=_SOFT_KMEANS_INITS[scale], seed=0)


_SOFT_EVAL = {s: {"kmeans_inits": n} for s, n in _SOFT_KMEANS_INITS.items()}
_SOFT_ROWS = {"ae": "baseline autoencoder", "vae": "VAE", "betavae": "beta-VAE, beta = {beta:g}",
              "infodrop": "information dropout", "vqvae": "VQ-VAE, K = {vq_k}",
              "bayes": "soft VQ-VAE (Bayesian estimator), K = {k}"}
for _row, _what in _SOFT_ROWS.items():
    register(Experiment(
        f"soft_{_row}_mnist", "02_soft_vq", f"Soft VQ-VAE Table 1: "
        f"{_what.format(**_SOFT_NETS[1])}, mnist", "mnist", _soft_model(_row), SOFT_SCALES,
        image_size=None, metrics=_latent_metrics, paper=_SOFT_PAPER[_row],
        source="Wu & Flierl Table 1", evaluation=_SOFT_EVAL))
    for _i, _ds in enumerate(("svhn", "cifar10")):
        _acc, _probe = _SOFT_T2_PAPER[_row][2 * _i: 2 * _i + 2]
        _steps = 10_000 if _row == "bayes" else 40_000                 # the paper's early stop
        register(Experiment(
            f"soft_t2_{_row}_{_ds}", "02_soft_vq", f"Soft VQ-VAE Table 2: "
            f"{_what.format(**_SOFT_NETS[2])}, {_ds}", _ds, _soft_model(_row, table=2),
            {**SOFT_T2_SCALES, "full": dict(SOFT_T2_SCALES["full"], steps=_steps)},
            metrics=_latent_metrics, paper={"cluster_acc": _acc, "probe_acc": _probe},
            source="Wu & Flierl Table 2 (this book: the linear map between the 2x2x512 map and "
                   "the latent, and Table 1's loss weights)", evaluation=_SOFT_EVAL))


# %% book/chapters/a4a_registry.md: SOFT_NOISES
SOFT_NOISES = (0.0, 0.03, 0.1, 0.3, 1.0)   # noise_std of Chapter 2's sweep (the released code: 0)
for _noise in SOFT_NOISES:
    register(Experiment(
        f"soft_noise{_noise:g}_mnist", "02_soft_vq",
        f"Soft VQ-VAE with latent noise of std {_noise:g}, mnist", "mnist",
        _soft_model("bayes", _noise), SOFT_SCALES, image_size=None, metrics=_latent_metrics,
        source="this book, Chapter 2 (the paper states no noise level)", evaluation=_SOFT_EVAL))


# %% book/chapters/a4a_registry.md: COMPARE_SCALES, COMPARE_SEEDS, _VQWAE_ITERS, _OPTVQ_WEIGHTS, ...
COMPARE_SCALES = {   # one recipe for every method: OptVQ's optimiser, Chapter 5's sizes
    "smoke": dict(_OPTVQ_RECIPE, steps=10, batch_size=32, train=1024, test=128, log_every=2),
    "quick": dict(_OPTVQ_RECIPE, steps=150, batch_size=32, test=1000, log_every=5),
    "full": dict(_OPTVQ_RECIPE, epochs=100, batch_size=1024, log_every=100),
}
COMPARE_SEEDS = {"smoke": 2, "quick": 3, "full": 3}
_VQWAE_ITERS = 20    # iterations of VQ-WAE's entropic substitute here (Chapter 3's: 300)
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
    "VQ-WAE (Sinkhorn)": ("vqwae", lambda: _vqwae_quantizer(_K, _D, SinkhornSolver(
        epsilon=100.0, iters=_VQWAE_ITERS, normalize=True))),
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


# %% book/chapters/a4a_registry.md: class Group, GROUPS, def get_group
@dataclass(frozen=True)
class Group:
    """Experiments run together, each over several seeds, and recorded as mean and sd.

    Attributes:
        name: the group's name for the command line, e.g. "compare".
        summary: one line for `python -m vqlit reproduce --list`.
        members: the names of its experiments, in the order their tables show them.
        seeds: scale -> the number of seeds each member runs (seeds 0, 1, ...).
    """

    name: str
    summary: str
    members: tuple[str, ...]
    seeds: dict[str, int]


GROUPS = {"compare": Group("compare", "Chapter 5: every method at equal budget, mnist",
                           tuple(COMPARE_METHODS.values()), COMPARE_SEEDS),
          "optvq_table3": Group("optvq_table3", "OptVQ Table 3 in small: latent dimension x "
                                "codebook size, nearest code and Sinkhorn, mnist",
                                tuple(n for n in EXPERIMENTS if n.startswith("optvq_t3_")),
                                {"smoke": 1, "quick": 1, "full": 1})}


def get_group(name: str) -> Group:
    """The group NAME; a ValueError that lists the groups otherwise.

    Args:
        name: a group's name, e.g. "compare".
    """
    if name not in GROUPS:
        raise ValueError(f"no group named {name!r}; the groups are {', '.join(sorted(GROUPS))}")
    return GROUPS[name]


__all__ = ['Experiment', 'EXPERIMENTS', 'register', 'get_experiment', 'VQ_SCALES', 'OPTVQ_SCALES', 'VQWAE_SCALES', 'VQWAE_LIVE_SCALES', 'OPTVQ_TABLE3_PAPER', 'OPTVQ_TABLE3_SIZES', 'SOFT_SCALES', 'SOFT_T2_SCALES', 'SOFT_RAW_PAPER', 'SOFT_NOISES', 'COMPARE_SCALES', 'COMPARE_SEEDS', 'COMPARE_METHODS', 'Group', 'GROUPS', 'get_group']
