"""Nearest-neighbour and EMA quantizers (vqlit.vq, from Chapter 1)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vqlit.ema import EMAVectorQuantizer
from vqlit.vq import (QuantizerOutput, VectorQuantizer, check_features, nearest_code,
                      squared_distances, straight_through)

def brute_force(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Reference: explicit difference vectors in float64, no expansion."""
    return (z.double()[:, None, :] - codebook.double()[None]).square().sum(-1)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), k=st.integers(1, 200), d=st.integers(1, 16),
       scale=st.sampled_from([1e-3, 1.0, 1e3]), rows=st.integers(1, 400), seed=st.integers(0, 2**16))
def test_nearest_code_equals_float64_brute_force(n, k, d, scale, rows, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64) * scale
    codebook = torch.randn(k, d, generator=g, dtype=torch.float64) * scale
    got = nearest_code(z, codebook, max_elements=rows * k)          # blocks of `rows` rows
    assert got.dtype == torch.int64 and got.shape == (n,)
    assert torch.equal(got, brute_force(z, codebook).argmin(1))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), k=st.integers(1, 200), d=st.integers(1, 16),
       scale=st.sampled_from([1e-3, 1.0, 1e3]), offset=st.sampled_from([0.0, 10.0]), seed=st.integers(0, 2**16))
def test_nearest_code_float32_is_optimal_up_to_rounding(n, k, d, scale, offset, seed):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, d, generator=g) + offset) * scale
    codebook = torch.randn(k, d, generator=g) * scale
    ref = brute_force(z, codebook)                                  # (n, k) float64
    chosen = ref.gather(1, nearest_code(z, codebook)[:, None]).squeeze(1)
    # float32 rounding of |z|^2 + |e|^2 - 2 z.e: a few ulps of the largest term
    tol = 8 * torch.finfo(torch.float32).eps * (z.double().square().sum(1) + codebook.double().square().sum(1).max())
    assert (chosen - ref.min(1).values <= tol).all()


def test_nearest_code_exact_on_well_separated_data():
    g = torch.Generator().manual_seed(0)
    z, codebook = torch.randn(5000, 8, generator=g), torch.randn(512, 8, generator=g)
    assert torch.equal(nearest_code(z, codebook), brute_force(z, codebook).argmin(1))


def test_distances_are_float32_under_bfloat16_autocast():
    g = torch.Generator().manual_seed(1)
    z, codebook = torch.randn(1000, 8, generator=g), torch.randn(256, 8, generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = nearest_code(z, codebook)
        dist = squared_distances(z, codebook)
        out = VectorQuantizer(num_codes=256, dim=8)(z)
    assert torch.equal(inside, nearest_code(z, codebook))
    assert dist.dtype == torch.float32 and torch.equal(dist, squared_distances(z, codebook))
    assert out.loss.dtype == torch.float32


def test_squared_distances_match_cdist_and_are_nonnegative():
    z = torch.randn(50, 3, dtype=torch.float64) * 1e4
    codebook = z[:10] + 1e-9                                        # near-zero distances: cancellation
    d = squared_distances(z, codebook)
    assert (d >= 0).all()
    assert torch.allclose(d, torch.cdist(z, codebook).square(), rtol=1e-6, atol=1e-3)


def test_straight_through_value_and_gradient():
    z = torch.randn(64, 4, requires_grad=True)
    codes = torch.randn(64, 4)
    out = straight_through(z, codes)
    assert torch.equal(out, codes)                                   # exact forward value
    weights = torch.randn(64, 4)
    (out * weights).sum().backward()
    assert torch.equal(z.grad, weights)                              # identity backward


def test_vector_quantizer_loss_and_gradients_match_closed_form():
    torch.manual_seed(0)
    beta, n, d, k = 0.25, 40, 3, 7
    vq = VectorQuantizer(num_codes=k, dim=d, commitment_weight=beta)
    z = torch.randn(n, d, requires_grad=True)
    out = vq(z)
    e = vq.codebook.detach()[out.indices]                            # (n, d)
    diff = (e - z.detach()).double()
    assert torch.isclose(out.loss.double(), (1 + beta) * diff.square().mean(), rtol=1e-6)
    out.loss.backward()
    # d/de_k mean((e - z)^2) = 2/(n d) sum_{i in S_k} (e_k - z_i); d/dz: beta * 2/(n d) (z - e)
    expected_codebook = torch.zeros(k, d, dtype=torch.float64).index_add_(0, out.indices, diff) * 2 / (n * d)
    assert torch.allclose(vq.codebook.grad.double(), expected_codebook, atol=1e-7)
    assert torch.allclose(z.grad.double(), -beta * 2 / (n * d) * diff, atol=1e-7)


def test_unchosen_codes_get_no_gradient():
    vq = VectorQuantizer(num_codes=100, dim=2)
    z = torch.randn(5, 2)
    out = vq(z)
    out.loss.backward()
    unused = torch.ones(100, dtype=torch.bool)
    unused[out.indices] = False
    assert vq.codebook.grad[unused].abs().sum() == 0


def test_ema_update_matches_hand_computation():
    decay, eps, k, d = 0.9, 1e-5, 4, 2
    ema = EMAVectorQuantizer(num_codes=k, dim=d, decay=decay, eps=eps)
    start = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0], [50.0, 50.0]])
    ema.codebook.copy_(torch.tensor(start, dtype=torch.float32))
    batches = [np.array([[1.0, 0.0], [0.0, 1.0], [9.0, 11.0], [11.0, 9.0], [12.0, 12.0]]),
               np.array([[2.0, 2.0], [-9.0, 4.0], [10.0, 10.0]])]
    counts, sums, codebook = np.zeros(k), np.zeros((k, d)), start.copy()
    for t, batch in enumerate(batches, start=1):
        assign = ((batch[:, None] - codebook[None]) ** 2).sum(-1).argmin(1)     # nearest, by hand
        n = np.bincount(assign, minlength=k)
        s = np.stack([batch[assign == j].sum(0) for j in range(k)])
        counts = decay * counts + (1 - decay) * n
        sums = decay * sums + (1 - decay) * s
        hat_n, hat_m = counts / (1 - decay**t), sums / (1 - decay**t)
        total = hat_n.sum()
        smoothed = (hat_n + eps) / (total + k * eps) * total
        codebook = np.where((hat_n > 0)[:, None], hat_m / smoothed[:, None], codebook)
        out = ema(torch.tensor(batch, dtype=torch.float32))
        assert np.array_equal(out.indices.numpy(), assign)
        np.testing.assert_allclose(ema.codebook.numpy(), codebook, rtol=1e-5, atol=1e-5)
    assert np.allclose(ema.codebook[3].numpy(), [50.0, 50.0])                   # never chosen: unchanged
    assert int(ema.ema_steps) == 2


def test_ema_first_step_is_a_kmeans_step_up_to_smoothing():
    """Debiased counts equal the batch counts, so the smoothing error is eps/n_k, not eps/(0.01 n_k)."""
    ema = EMAVectorQuantizer(num_codes=3, dim=1, decay=0.99, eps=1e-5)
    ema.codebook.copy_(torch.tensor([[0.0], [10.0], [100.0]]))
    ema(torch.tensor([[1.0], [3.0], [9.0], [13.0]], dtype=torch.float64).float())
    means = torch.tensor([2.0, 11.0, 100.0])
    assert torch.allclose(ema.codebook.squeeze(1), means, rtol=2e-5, atol=0)   # without debiasing: 5e-4


def test_ema_statistics_stay_float32_in_a_half_precision_module():
    torch.manual_seed(0)
    ema = EMAVectorQuantizer(num_codes=64, dim=4, decay=0.9).bfloat16()
    assert ema.ema_counts.dtype == ema.ema_sums.dtype == ema.codebook.dtype == torch.float32
    for _ in range(20):
        ema(torch.randn(4096, 4).bfloat16())
    assert abs(float(ema.ema_counts.sum()) / (1 - 0.9**20) - 4096) < 1e-2


def test_ema_only_updates_in_training_mode_and_state_round_trips():
    torch.manual_seed(0)
    ema = EMAVectorQuantizer(num_codes=16, dim=4)
    z = torch.randn(100, 4)
    ema.eval()
    before = ema.codebook.clone()
    ema(z)
    assert torch.equal(ema.codebook, before)
    ema.train()
    for _ in range(3):
        ema(z)
    copy = EMAVectorQuantizer(num_codes=16, dim=4)
    copy.load_state_dict(ema.state_dict())
    assert torch.equal(copy(z).quantized, ema(z).quantized)
    assert {"codebook", "ema_counts", "ema_sums", "ema_steps"} <= set(ema.state_dict())


def test_ema_decay_is_checked():
    with pytest.raises(ValueError, match="decay"):
        EMAVectorQuantizer(num_codes=4, dim=2, decay=1.0)


def test_float64_input_is_computed_in_float64():
    q = VectorQuantizer(num_codes=8, dim=3).double()
    z = torch.randn(10, 3, dtype=torch.float64)
    out = q(z)
    assert out.quantized.dtype == torch.float64 and out.loss.dtype == torch.float64
    assert torch.equal(out.indices, brute_force(z, q.codebook).argmin(1))
