"""The device paths, against the CPU as reference. Skipped where there is no CUDA device."""
import pytest
import torch

import vqlit.sinkhorn_triton  # noqa: F401  (backend="triton" uses the kernels where imported)

from vqlit.data import load_dataset
from vqlit.evaluation import evaluate
from vqlit.models import small_cnn_autoencoder
from vqlit.train import TrainConfig, fit
from vqlit.ema import EMAVectorQuantizer
from vqlit.vq import VectorQuantizer, nearest_code

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


def test_fit_in_bf16_keeps_float32_quantizer_math_and_restores_checks():
    images = load_dataset("digits", image_size=16, verbose=False).train_images[:512]
    quantizer = EMAVectorQuantizer(num_codes=64, dim=8)
    model = small_cnn_autoencoder(quantizer)
    run = fit(model, images, TrainConfig(steps=20, batch_size=64, log_every=10, progress=False),
              device="cuda")                                  # precision="auto": bf16 on CUDA
    assert run.history[-1]["recon"] < run.history[0]["recon"]
    assert quantizer.codebook.dtype == torch.float32 and quantizer.check_finite is True


def test_compiled_fit_runs():
    images = load_dataset("digits", image_size=16, verbose=False).train_images[:256]
    model = small_cnn_autoencoder(VectorQuantizer(num_codes=64, dim=8))
    run = fit(model, images, TrainConfig(steps=6, batch_size=64, log_every=3, progress=False,
                                         compile=True), device="cuda")
    assert run.steps == 6 and all(r["loss"] == r["loss"] for r in run.history)


@pytest.mark.parametrize("name", ["nn", "ema", "bayes", "sinkhorn", "sinkhorn-torch"])
def test_quantizer_step_makes_no_host_sync(name):
    from vqlit.bench import make_quantizer
    try:
        q = make_quantizer(name, num_codes=1024, dim=32).cuda()
    except ImportError:
        pytest.skip(f"{name} is not in this checkout")
    q.check_finite = False                                    # what fit does on CUDA
    z = torch.randn(4096, 32, device="cuda", requires_grad=True)
    for _ in range(2):                                        # warm-up (allocator, kernels)
        out = q(z)
        (out.quantized.square().mean() + out.loss).backward()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = q(z)
        (out.quantized.square().mean() + out.loss).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_ssim_on_cuda_matches_cpu():
    from vqlit.evaluation import ssim
    x = torch.rand(4, 3, 32, 32)
    y = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    assert torch.allclose(ssim(x.cuda(), y.cuda()).cpu(), ssim(x, y), atol=1e-6)


def test_bench_on_cuda_reports_peak_memory():
    from vqlit.bench import bench
    rows = bench(device="cuda", tokens=1024, codes=2048, dim=16, repeats=3, warmup=1,
                 names=["nn", "ema"])
    assert all(r["peak_mib"] is not None and r["peak_mib"] > 0 for r in rows)


def test_fit_resumes_on_cuda(tmp_path):
    images = load_dataset("digits", image_size=16, verbose=False).train_images[:512]
    config = dict(steps=20, batch_size=64, log_every=10, progress=False, out_dir=str(tmp_path))
    first = small_cnn_autoencoder(VectorQuantizer(num_codes=64, dim=8))
    fit(first, images, TrainConfig(**config, stop_at=10), device="cuda")
    again = small_cnn_autoencoder(VectorQuantizer(num_codes=64, dim=8))
    run = fit(again, images, TrainConfig(**config), device="cuda")   # checkpoint mapped to CUDA
    assert run.resumed_from == 10 and run.steps == 20


@pytest.mark.parametrize("n, k, d", [(8192, 16384, 64), (4096, 1000, 8), (3000, 32768, 4)])
def test_fused_sinkhorn_matches_the_torch_path_on_cuda(n, k, d):
    from vqlit.optvq import sinkhorn_assign
    from vqlit.sinkhorn import normalize_cost, sinkhorn
    pytest.importorskip("triton")
    g = torch.Generator(device="cuda").manual_seed(0)
    z = torch.randn(n, d, device="cuda", generator=g)
    e = torch.randn(k, d, device="cuda", generator=g) + 0.3
    fused = sinkhorn_assign(z, e, backend="triton")
    ref = sinkhorn_assign(z, e, backend="torch")
    rows = (fused != ref).nonzero().flatten()
    assert len(rows) <= n // 1000, len(rows)
    if len(rows):                                   # float32 ties: equal entries in float64
        full = sinkhorn(normalize_cost(torch.cdist(z.double(), e.double())), epsilon=10.0,
                        iters=5).dense()[rows]      # (r, K)
        assert torch.allclose(full.gather(1, fused[rows, None]), full.gather(1, ref[rows, None]),
                              rtol=1e-4)


@pytest.mark.parametrize("n, k, d", [(8192, 16384, 64), (1000, 70_000, 8), (3, 5, 1)])
def test_fused_nearest_on_cuda_is_a_float64_brute_force_up_to_ties(n, k, d, monkeypatch):
    import vqlit.nearest_triton as nt
    from vqlit.nearest_triton import fused_nearest
    pytest.importorskip("triton")
    EXACT = "donot_use_mm_for_euclid_dist"
    g = torch.Generator().manual_seed(n + k + d)
    z, e = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
    got = fused_nearest(z.cuda(), e.cuda()).cpu()
    monkeypatch.setattr(nt, "ENABLED", True)                              # forced on
    assert torch.equal(nearest_code(z.cuda(), e.cuda()).cpu(), got)
    rows = torch.randperm(n, generator=g)[:512]
    d64 = torch.cdist(z[rows].double(), e.double(), compute_mode=EXACT).square()      # (512, K)
    gap = d64.gather(1, got[rows, None]) - d64.amin(1, keepdim=True)
    assert (gap <= 1e-6 * d64.amin(1, keepdim=True) + 1e-30).all()


def test_nearest_code_on_cuda_takes_the_fused_kernel_only_where_measured_or_forced(monkeypatch):
    import vqlit.nearest_triton as nt
    pytest.importorskip("triton")
    calls = []
    real = nt.fused_nearest
    monkeypatch.setattr(nt, "fused_nearest", lambda *a, **k: calls.append(1) or real(*a, **k))
    z, e = torch.randn(512, 8, device="cuda"), torch.randn(256, 8, device="cuda")
    for enabled, faster, used in ((None, frozenset(), 0), (None, frozenset({8}), 1),
                                  (True, frozenset(), 1), (False, frozenset({8}), 0)):
        monkeypatch.setattr(nt, "ENABLED", enabled)
        monkeypatch.setattr(nt, "FASTER_DIMS", faster)
        calls.clear()
        nearest_code(z, e)
        assert len(calls) == used, (enabled, faster)
    assert not nt.FAILED, nt.FAILED                                      # it compiled here


@pytest.mark.parametrize("what", ["NaN feature", "inf feature", "NaN code"])
def test_fused_kernels_on_cuda_never_return_an_index_past_the_codebook(what):
    import torch.nn.functional as F

    from vqlit.nearest_triton import fused_nearest
    from vqlit.optvq import SinkhornQuantizer, sinkhorn_assign
    from vqlit.sinkhorn import SinkhornSolver
    pytest.importorskip("triton")
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(3000, 8, generator=g), torch.randn(1000, 8, generator=g)
    if what == "NaN feature":
        z[7] = float("nan")
    elif what == "inf feature":
        z[7, 2] = float("inf")
    else:
        e[300, 1] = float("nan")
    z, e = z.cuda(), e.cuda()
    for normalize in (True, False):
        solver = SinkhornSolver(iters=5, normalize=normalize, method="scaling")
        fused = sinkhorn_assign(z, e, solver=solver, backend="triton")
        assert 0 <= int(fused.min()) and int(fused.max()) < 1000, (what, normalize)
        if normalize:                                   # OptVQ's: NaN everywhere, code 0 as torch
            assert torch.equal(fused, sinkhorn_assign(z, e, solver=solver, backend="torch"))
    assert int(fused_nearest(z, e).max()) < 1000
    q = SinkhornQuantizer(num_codes=1000, dim=8, backend="triton").cuda()
    with torch.no_grad():
        q.codebook.copy_(e)
    q.check_finite = False                              # what fit does on CUDA
    out = q(z)
    F.embedding(out.indices, q.codebook)
    torch.cuda.synchronize()                            # a device-side assert would surface here
    assert int(out.indices.max()) < 1000
