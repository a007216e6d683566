"""The rows each paper's reader looks for are registered, attributed, and train at the smoke scale:
Wu & Flierl's Table 1 (VAE, beta-VAE, information dropout; the pixels) and Table 2 (the CNN on
32x32 images), OptVQ's baseline with the released `ce` loss, OptVQ's Table 3 in small, and VQ-WAE
with the official exact solver."""
import math
import os

import pytest
import torch

from vqlit.bottlenecks import GaussianBottleneck, InformationDropout
from vqlit.experiments import (EXPERIMENTS, GROUPS, OPTVQ_TABLE3_PAPER, OPTVQ_TABLE3_SIZES,
                               SOFT_RAW_PAPER, measure, train_experiment)
from vqlit.optvq import NearestSolver
from vqlit.vq import VectorQuantizer
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


TABLE2 = {  # Wu & Flierl Table 2 (d = 256), read from the paper's text: clustering and
    # classification accuracy on SVHN, then on CIFAR-10
    "ae": (11.96, 25.95, 21.73, 40.92), "vae": (13.58, 26.42, 24.12, 38.83),
    "betavae": (14.54, 49.62, 22.80, 36.91), "infodrop": (12.75, 24.46, 21.96, 39.89),
    "vqvae": (12.96, 31.57, 20.30, 33.51), "bayes": (17.68, 50.48, 23.83, 44.54)}


def test_table2_rows_carry_the_papers_numbers_source_and_recipe():
    for row, numbers in TABLE2.items():
        for i, ds in enumerate(("svhn", "cifar10")):
            e = EXPERIMENTS[f"soft_t2_{row}_{ds}"]
            acc, probe = numbers[2 * i: 2 * i + 2]
            assert e.paper.keys() == {"cluster_acc", "probe_acc"}
            assert math.isclose(100 * e.paper["cluster_acc"], acc, abs_tol=1e-9)
            assert math.isclose(100 * e.paper["probe_acc"], probe, abs_tol=1e-9)
            assert e.source.startswith("Wu & Flierl Table 2") and "this book" in e.source
            assert e.dataset == ds and e.image_size == 32 and e.chapter == "02_soft_vq"
            assert e.metrics is EXPERIMENTS["soft_bayes_mnist"].metrics      # _latent_metrics
            assert e.evaluation["full"] == {"kmeans_inits": 100}
            full = e.recipes["full"]
            assert (full["batch_size"], full["lr"], full["optimizer"]) == (32, 3e-4, "adam")
            assert full["steps"] == (10_000 if row == "bayes" else 40_000)    # the early stop
            assert set(e.recipes) == {"smoke", "quick", "full"}


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 32, 32)])
def test_table2_models_have_a_256_latent_and_the_papers_bottlenecks(shape):
    from vqlit.cnn_protocol import CNNVectorDecoder, CNNVectorEncoder
    from vqlit.soft import BayesianQuantizer
    from vqlit.vq import VectorQuantizer
    pixels = torch.randint(0, 256, (8, *shape), dtype=torch.uint8)
    data = type("Images", (), {"image_shape": shape, "train_images": pixels})()
    x = torch.rand(2, *shape)
    for row in TABLE2:
        model = EXPERIMENTS[f"soft_t2_{row}_svhn"].model(data)
        assert isinstance(model.encoder, CNNVectorEncoder)
        assert isinstance(model.decoder, CNNVectorDecoder)
        assert model.encode(x).shape == (2, 256)
        assert model(x).reconstruction.shape == (2, *shape)
        q = model.quantizer
        if row in ("vae", "betavae"):
            assert isinstance(q, GaussianBottleneck)
            assert q.beta == (100.0 if row == "betavae" else 1.0)
            assert math.isclose(model.quantizer_weight, 1 / math.prod(shape))
        elif row == "infodrop":
            assert isinstance(q, InformationDropout) and q.dim == 256
        elif row == "vqvae":
            assert isinstance(q, VectorQuantizer) and (q.num_codes, q.dim) == (512, 256)
        elif row == "bayes":
            assert isinstance(q, BayesianQuantizer) and (q.num_codes, q.dim) == (32, 256)
            assert model.encode_with_variances(x)[1].shape == (2, 32)     # K log-variances
        else:
            assert q is None


@pytest.mark.parametrize("name", ["soft_t2_bayes_svhn", "soft_t2_betavae_cifar10"])
def test_table2_rows_train_and_are_measured_at_the_smoke_scale(name, monkeypatch):
    monkeypatch.setenv("VQLIT_OFFLINE", "1")
    torch.set_num_threads(1)
    model, data, fit, config = train_experiment(name, scale="smoke", device="cpu", progress=False)
    assert data.image_shape[1:] == (32, 32)
    metrics = measure(EXPERIMENTS[name], model, data, "smoke")
    assert {"cluster_acc", "nmi", "probe_acc", "psnr"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
    assert config.steps == EXPERIMENTS[name].recipes["smoke"]["steps"] and config.batch_size == 32


TABLE3 = {  # VQ-WAE Table 3, read from the paper's text: generation FID, |C| = 512, uncond / cond
    "mnist": {"vqvae": (27.01, 25.56), "vqwae": (8.17, 3.96)},
    "cifar10": {"vqvae": (117.49, 117.16), "vqwae": (87.62, 88.93)},
    "svhn": {"vqvae": (62.13, 64.24), "vqwae": (30.64, 34.24)}}


def test_vqwae_table3_rows_carry_the_papers_fid_and_name_their_source():
    for dataset, rows in TABLE3.items():
        for method, (fid, fid_cond) in rows.items():
            experiment = EXPERIMENTS[f"wae_t3_{method}_{dataset}"]
            assert experiment.paper == {"fid": fid, "fid_cond": fid_cond}
            assert experiment.dataset == dataset and experiment.source.startswith("VQ-WAE Table 3")
            assert "this book" in experiment.source             # the prior's recipe is the book's
            q = experiment.model(type("Rgb", (), {"image_shape": (3, 32, 32)})()).quantizer
            assert q.num_codes == 512 and q.dim == 64
            assert isinstance(q, VectorQuantizer) if method == "vqvae" else isinstance(q.solver,
                                                                                       ExactOT)


def test_vqwae_table3_row_trains_and_is_measured_as_a_generator_at_the_smoke_scale(monkeypatch):
    monkeypatch.setenv("VQLIT_OFFLINE", "1")
    torch.set_num_threads(1)
    model, data, fit, config = train_experiment("wae_t3_vqvae_mnist", scale="smoke", device="cpu",
                                                progress=False)
    metrics = measure(EXPERIMENTS["wae_t3_vqvae_mnist"], model, data, "smoke")
    notes = metrics.pop("notes")
    assert {"prior_bits", "prior_bits_cond", "cfd", "cfd_cond", "class_agreement"} <= set(metrics)
    assert "fid" not in metrics                    # no FID on a CPU: never a number in its place
    from vqlit.tables import HEADERS                # ... and a note that the tables read as such
    assert [n.split(" not computed (")[0] for n in notes] == [HEADERS["fid"], HEADERS["fid_cond"]]
    assert all(math.isfinite(v) for v in metrics.values()) and metrics["prior_bits"] >= 0
    assert 0 <= metrics["class_agreement"] <= 1


def test_vqwae_table3_table_prints_the_papers_fid_at_the_papers_precision(tmp_path):
    from vqlit.experiments import results_table
    table = results_table(["wae_t3_vqvae_cifar10", "wae_t3_vqwae_cifar10"], ("fid", "fid_cond"),
                          directory=tmp_path)
    assert "| 117.49 | 117.16 |" in table and "| 87.62 | 88.93 |" in table
    assert table.count("not yet recorded") == 4 and "FID, class-conditional prior" in table


def test_a_recorded_row_says_at_which_scale_it_ran(tmp_path):
    """A quick run on a CPU sits beside the paper's full-scale row: its source names its scale."""
    from vqlit.experiments import results_table
    from vqlit.results import record_result
    record_result("wae_t3_vqwae_fashion-mnist", {"prior_bits": 120.0, "cfd": 30.0},
                  experiment="wae_t3_vqwae_mnist", dataset="fashion-mnist",
                  config={"train": {}, "model": {}, "evaluation": {}}, device="cpu",
                  scale="quick", wall_time=1.0, precision="fp32",
                  source="this book: the protocol of VQ-WAE Table 3, run on fashion-mnist",
                  notes=["FID, unconditional prior not computed (it runs on a GPU only)"],
                  directory=tmp_path)
    table = results_table(["wae_t3_vqwae_mnist"], ("fid", "prior_bits"), directory=tmp_path)
    row = next(line for line in table.splitlines() if line.startswith("| fashion-mnist |"))
    assert "| not computed | 120" in row and "this book, quick scale: " in row and " CPU, " in row, row
    assert "| 8.17 |" in table and "not yet recorded" in table        # the paper's row, and mnist's
