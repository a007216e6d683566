"""The rows each paper's reader looks for are registered, attributed, and train at the smoke scale:
Wu & Flierl's Table 1 (VAE, beta-VAE, information dropout; the pixels), OptVQ's baseline with the
released `ce` loss, OptVQ's Table 3 in small, and VQ-WAE with the official exact solver."""
import math
import os

import pytest
import torch

from vqlit.bottlenecks import GaussianBottleneck, InformationDropout
from vqlit.experiments import (EXPERIMENTS, GROUPS, OPTVQ_TABLE3_PAPER, OPTVQ_TABLE3_SIZES,
                               SOFT_RAW_PAPER, measure, train_experiment)
from vqlit.optvq import NearestSolver
from vqlit.wasserstein import ExactOT

TABLE1 = {  # Wu & Flierl Table 1 (MNIST, d = 64), read from the paper's text
    "soft_vae_mnist": (0.5644, 0.5600, 0.8910),
    "soft_betavae_mnist": (0.7381, 0.5760, 0.9110),
    "soft_infodrop_mnist": (0.5852, 0.4979, 0.9111)}


def test_table1_rows_carry_the_papers_numbers_and_source():
    for name, (acc, nmi, probe) in TABLE1.items():
        e = EXPERIMENTS[name]
        assert e.paper == {"cluster_acc": acc, "nmi": nmi, "probe_acc": probe}
        assert e.source == "Wu & Flierl Table 1" and e.dataset == "mnist"
        assert e.recipes == EXPERIMENTS["soft_bayes_mnist"].recipes     # one protocol per table
    assert SOFT_RAW_PAPER == {"cluster_acc": 0.5517, "nmi": 0.5008, "probe_acc": 0.9244}


def test_table1_models_put_the_bottleneck_in_the_quantizers_place():
    class Grey:
        image_shape = (1, 28, 28)
    vae = EXPERIMENTS["soft_vae_mnist"].model(Grey())
    beta = EXPERIMENTS["soft_betavae_mnist"].model(Grey())
    drop = EXPERIMENTS["soft_infodrop_mnist"].model(Grey())
    assert isinstance(vae.quantizer, GaussianBottleneck) and vae.quantizer.beta == 1.0
    assert isinstance(beta.quantizer, GaussianBottleneck) and beta.quantizer.beta == 20.0
    assert isinstance(drop.quantizer, InformationDropout)
    assert all(math.isclose(m.quantizer_weight, 1 / 784) for m in (vae, beta, drop))


def test_the_optvq_baseline_row_is_the_ce_loss_and_the_vq_vae_loss_row_is_this_books():
    ce = EXPERIMENTS["vq_nn_ce_mnist"]
    assert ce.paper == {"psnr": 9.02, "usage": 0.0020} and ce.source.startswith("OptVQ Table 2")
    q = ce.model(type("Grey", (), {"image_shape": (1, 32, 32)})()).quantizer
    assert q.loss == "ce" and isinstance(q.solver, NearestSolver) and q.num_codes == 1024
    assert not EXPERIMENTS["vq_nn_mnist"].paper
    assert EXPERIMENTS["vq_nn_mnist"].source.startswith("this book")


def test_optvq_table3_grid_is_registered_in_small_and_never_as_the_papers_rows():
    members = GROUPS["optvq_table3"].members
    assert len(members) == 2 * 2 * len(OPTVQ_TABLE3_SIZES) == 16
    for (d, how), (error, usage) in OPTVQ_TABLE3_PAPER.items():
        assert len(error) == len(usage) == len(OPTVQ_TABLE3_SIZES)
        for k in OPTVQ_TABLE3_SIZES:
            e = EXPERIMENTS[f"optvq_t3_{how}_d{d}_k{k}_mnist"]
            assert not e.paper and e.source.startswith("this book")
            q = e.model(type("Grey", (), {"image_shape": (1, 32, 32)})()).quantizer
            assert (q.num_codes, q.dim, q.heads) == (k, d, 1)
            assert isinstance(q.solver, NearestSolver) == (how == "nn")


def test_vq_wae_rows_solve_exact_ot_from_an_n01_codebook_as_the_released_code():
    for name in ("wae_vqwae_mnist", "wae_sweep_k64_cifar10"):
        q = EXPERIMENTS[name].model(type("Rgb", (), {"image_shape": (3, 32, 32)})()).quantizer
        assert isinstance(q.solver, ExactOT)
        torch.manual_seed(0)
        codes = q.codebook.detach().flatten()
        assert abs(codes.mean()) < 0.1 and abs(codes.std() - 1) < 0.1      # N(0, 1), not U(-1/K, 1/K)


@pytest.mark.parametrize("name", ["soft_vae_mnist", "soft_infodrop_mnist", "vq_nn_ce_mnist",
                                  "optvq_t3_ot_d8_k128_mnist"])
def test_each_new_row_trains_and_is_measured_at_the_smoke_scale(name, monkeypatch):
    monkeypatch.setenv("VQLIT_OFFLINE", "1")
    torch.set_num_threads(1)
    model, data, fit, config = train_experiment(name, scale="smoke", device="cpu", progress=False)
    metrics = measure(EXPERIMENTS[name], model, data, "smoke")
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
    assert config.steps == EXPERIMENTS[name].recipes["smoke"]["steps"]
