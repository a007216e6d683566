"""vqlit.generate and vqlit.sampling: grids of a VQ autoencoder, the prior's bits and training
(resumable), samples of a trained run, and `python -m vqlit sample` end to end."""
import json
import math

import pytest
import torch

import vqlit.sampling as sampling
from vqlit.cli import main
from vqlit.generate import bits_per_image, decode_grids, encode_grids, tile_images
from vqlit.sampling import sample_run
from vqlit.train_prior import PRIOR_RECIPES, fit_prior
from vqlit.models import mlp_autoencoder, small_cnn_autoencoder
from vqlit.prior import GatedPixelCNN
from vqlit.vq import VectorQuantizer


@pytest.fixture
def vq_model():
    torch.manual_seed(0)
    return small_cnn_autoencoder(VectorQuantizer(num_codes=16, dim=8), channels=1).eval()


@pytest.fixture
def images():
    return torch.randint(0, 256, (6, 1, 32, 32), generator=torch.Generator().manual_seed(1),
                         dtype=torch.uint8)


def small_prior(num_classes=0, seed=0):
    torch.manual_seed(seed)
    return GatedPixelCNN(num_codes=16, shape=(4, 4), channels=8, layers=3, num_classes=num_classes)


def random_grids(n=40, seed=2):
    return torch.randint(0, 16, (n, 4, 4), generator=torch.Generator().manual_seed(seed))


def test_encode_grids_are_the_brute_force_nearest_codes(vq_model, images):
    grids = encode_grids(vq_model, images)
    assert grids.shape == (6, 8, 8) and grids.dtype == torch.int64
    with torch.no_grad():
        latents = vq_model.encode(images.float() / 255).flatten(0, 2)               # (6 * 64, 8)
    brute = torch.cdist(latents.double(), vq_model.quantizer.codebook.double()).argmin(1)
    assert torch.equal(grids.flatten(), brute)
    assert torch.equal(encode_grids(vq_model, images.float() / 255, batch_size=4), grids)


def test_decoded_grids_are_the_models_own_reconstructions(vq_model, images):
    grids = encode_grids(vq_model, images)
    with torch.no_grad():
        own = vq_model(images.float() / 255).reconstruction.clamp(0, 1)
    decoded = decode_grids(vq_model, grids, batch_size=4)
    assert decoded.shape == images.shape and 0 <= decoded.min() and decoded.max() <= 1
    assert torch.allclose(decoded, own, atol=1e-6)


def test_grid_functions_refuse_what_they_cannot_read(vq_model, images):
    with pytest.raises(ValueError, match="not a VQ autoencoder"):
        encode_grids(small_cnn_autoencoder(None, channels=1), images)
    heads = small_cnn_autoencoder(VectorQuantizer(num_codes=16, dim=8, heads=2), channels=1)
    with pytest.raises(ValueError, match="2 heads"):
        encode_grids(heads, images)
    flat = mlp_autoencoder(VectorQuantizer(num_codes=16, dim=8), image_shape=(1, 32, 32),
                           latent_dim=8)
    with pytest.raises(ValueError, match="not a grid"):
        encode_grids(flat, images)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        encode_grids(vq_model, images[0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 16\)"):
        decode_grids(vq_model, torch.full((1, 8, 8), 16))


def test_bits_of_a_uniform_logit_prior_are_hw_log2_k():
    prior = small_prior()
    torch.nn.init.zeros_(prior.head[-1].weight)
    torch.nn.init.zeros_(prior.head[-1].bias)
    assert math.isclose(bits_per_image(prior, random_grids()), 16 * math.log2(16), rel_tol=1e-6)


def test_bits_per_image_is_the_mean_negative_log2_likelihood_in_any_batch():
    prior, grids = small_prior(num_classes=3), random_grids()
    labels = torch.arange(40) % 3
    with torch.no_grad():
        expected = (-prior.log_prob(grids, labels).double() / math.log(2)).mean().item()
    for batch_size in (1, 7, 512):
        assert math.isclose(bits_per_image(prior, grids, labels, batch_size=batch_size), expected,
                            rel_tol=1e-6)
    with pytest.raises(ValueError, match="class-conditional"):
        bits_per_image(prior, grids)
    with pytest.raises(ValueError, match="unconditional"):
        bits_per_image(small_prior(), grids, labels)
    with pytest.raises(ValueError, match="at least one grid"):
        bits_per_image(small_prior(), grids[:0])


def weights_of(prior):
    return {k: v.clone() for k, v in prior.state_dict().items()}


def test_fit_prior_resumed_ends_with_exactly_the_uninterrupted_weights(tmp_path):
    grids, labels = random_grids(), torch.arange(40) % 3
    settings = dict(steps=8, batch_size=8, lr=1e-2, seed=3, progress=False)
    whole = small_prior(num_classes=3)
    history = fit_prior(whole, grids, labels, **settings)
    assert len(history) == 8 and history[-1] < history[0]

    path = tmp_path / "prior.pt"
    cut = small_prior(num_classes=3)
    assert len(fit_prior(cut, grids, labels, out=path, stop_at=3, **settings)) == 3
    resumed = small_prior(num_classes=3, seed=99)                   # other initial weights
    assert fit_prior(resumed, grids, labels, out=path, **settings) == history
    a, b = weights_of(whole), weights_of(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)

    stamp = path.stat().st_mtime_ns                                 # finished: no more training
    again = small_prior(num_classes=3, seed=5)
    assert fit_prior(again, grids, labels, out=path, **settings) == history
    assert path.stat().st_mtime_ns == stamp
    assert all(torch.equal(a[k], v) for k, v in weights_of(again).items())


def test_fit_prior_refuses_bad_settings_and_another_runs_checkpoint(tmp_path):
    grids, path = random_grids(), tmp_path / "prior.pt"
    fit_prior(small_prior(), grids, steps=2, batch_size=4, lr=1e-3, out=path, progress=False)
    with pytest.raises(ValueError, match="holds a prior trained with"):
        fit_prior(small_prior(), grids, steps=2, batch_size=4, lr=2e-3, out=path, progress=False)
    with pytest.raises(ValueError, match="steps >= 1"):
        fit_prior(small_prior(), grids, steps=0, batch_size=4, lr=1e-3, progress=False)
    with pytest.raises(ValueError, match="lr > 0"):
        fit_prior(small_prior(), grids, steps=1, batch_size=4, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="shape"):
        fit_prior(small_prior(), grids[:, :2], steps=1, batch_size=4, lr=1e-3, progress=False)


def test_prior_recipes_cover_every_scale_and_see_the_whole_grid():
    assert set(PRIOR_RECIPES) == {"smoke", "quick", "full"}
    for recipe in PRIOR_RECIPES.values():
        assert set(recipe) == {"steps", "batch_size", "lr", "channels", "layers"}
        assert recipe["layers"] >= 7                 # 06a: the fewest with no blind spot on 8 x 8


def test_tile_images_lays_out_rows_with_gaps():
    images = torch.rand(6, 1, 5, 4)
    sheet = tile_images(images, rows=2)
    assert sheet.shape == (2 * 6 - 1, 3 * 5 - 1, 3)
    assert torch.equal(sheet[6:11, 5:9, 0], images[4, 0]) and (sheet[5] == 1).all()
    with pytest.raises(ValueError, match="divisible by rows"):
        tile_images(images, rows=4)


def test_sample_run_refuses_bad_input(tmp_path, monkeypatch, vq_model, images):
    with pytest.raises(ValueError, match="num >= 1"):
        sample_run(tmp_path, num=0, out=tmp_path / "o")
    with pytest.raises(ValueError, match="temperature >= 0"):
        sample_run(tmp_path, temperature=-1, out=tmp_path / "o")
    with pytest.raises(FileNotFoundError, match="no run.json"):
        sample_run(tmp_path, out=tmp_path / "o", device="cpu")
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="must name experiment, scale, dataset, seed"):
        sample_run(tmp_path, out=tmp_path / "o", device="cpu")

    from vqlit.data_batching import ImageData
    unlabelled = ImageData("plain", "a test", images, torch.zeros(6, dtype=torch.long), images,
                           torch.zeros(6, dtype=torch.long))
    info = {"experiment": "x", "scale": "smoke", "dataset": "plain", "seed": 0}
    monkeypatch.setattr(sampling, "load_run", lambda d, device: (info, vq_model, unlabelled, 0))
    with pytest.raises(ValueError, match="has no class labels"):
        sample_run(tmp_path, class_conditional=True, out=tmp_path / "o", device="cpu")
    with pytest.raises(ValueError, match=r"top_k must lie in \[1, 16\]"):
        sample_run(tmp_path, top_k=17, out=tmp_path / "o", device="cpu")


def test_cli_train_then_sample_end_to_end(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "samples"
    assert main(["train", "compare_ema_dead_mnist", "--scale", "smoke", "--device", "cpu",
                 "--out", str(run)]) == 0
    assert main(["sample", str(run), "--num", "4", "--out", str(out), "--device", "cpu"]) == 0
    assert (out / "samples.png").stat().st_size > 0 and (run / "prior.pt").exists()
    first = json.loads((out / "metrics.json").read_text())
    for key in ("run", "experiment", "scale", "dataset", "bits_per_image", "uniform_bits",
                "code_usage", "prior_trained_now", "options"):
        assert key in first
    assert first["scale"] == "smoke" and first["options"]["num"] == 4
    assert first["prior_trained_now"] == PRIOR_RECIPES["smoke"]["steps"]
    assert 0 < first["code_usage"] <= 1 and first["bits_per_image"] > 0

    stamp = (run / "prior.pt").stat().st_mtime_ns
    assert main(["sample", str(run), "--num", "4", "--out", str(out), "--device", "cpu"]) == 0
    second = json.loads((out / "metrics.json").read_text())
    assert second["prior_trained_now"] == 0 and (run / "prior.pt").stat().st_mtime_ns == stamp
    assert math.isclose(second["bits_per_image"], first["bits_per_image"], rel_tol=1e-9)

    capsys.readouterr()
    for bad in (["sample", str(tmp_path), "--out", str(out), "--device", "cpu"],
                ["sample", str(run), "--num", "0", "--out", str(out)],
                ["sample", str(run), "--top-k", "5000", "--out", str(out), "--device", "cpu"]):
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert err.startswith("python -m vqlit sample: error:") and err.count("\n") == 1, err
