"""The device paths, against the CPU as reference. Skipped where there is no CUDA device."""
import pytest
import torch

from vqlit.data import load_dataset
from vqlit.models import small_cnn_autoencoder
from vqlit.train import TrainConfig, evaluate, fit
from vqlit.vq import EMAVectorQuantizer, VectorQuantizer, nearest_code

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_nearest_code_on_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    z, codebook = torch.randn(8192, 64, generator=g), torch.randn(4096, 64, generator=g)
    assert torch.equal(nearest_code(z.cuda(), codebook.cuda()).cpu(), nearest_code(z, codebook))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert torch.equal(nearest_code(z.cuda(), codebook.cuda()).cpu(), nearest_code(z, codebook))


@pytest.mark.parametrize("cls", [VectorQuantizer, EMAVectorQuantizer])
def test_quantizer_on_cuda_matches_cpu(cls):
    torch.manual_seed(0)
    cpu = cls(num_codes=512, dim=8)
    gpu = cls(num_codes=512, dim=8).cuda()
    gpu.load_state_dict(cpu.state_dict())
    z = torch.randn(16, 8, 8, 8)
    a, b = cpu(z), gpu(z.cuda())
    assert torch.equal(a.indices, b.indices.cpu())
    assert torch.allclose(a.loss, b.loss.cpu(), rtol=1e-5)
    assert torch.allclose(a.stats["perplexity"], b.stats["perplexity"].cpu(), rtol=1e-5)


def test_fit_and_evaluate_on_cuda():
    images = load_dataset("digits", image_size=16, verbose=False).train_images[:512]
    model = small_cnn_autoencoder(VectorQuantizer(num_codes=64, dim=8))
    run = fit(model, images, TrainConfig(steps=20, batch_size=64, log_every=10, progress=False),
              device="cuda")
    assert next(model.parameters()).is_cuda and run.history[-1]["recon"] < run.history[0]["recon"]
    scores = evaluate(model, images[:100])
    assert int(scores.counts.sum()) == 100 * 4 * 4
