"""Exhaustive checks moved off Chapter 1's pages (01a-01d)."""
import pytest
import torch

from vqlit.figures import toy_dynamics
from vqlit.vq import (INITS, Quantizer, VectorQuantizer, check_features, feature_limit, init_codebook,
                      kmeans_centres, nearest_code, sample_vectors, squared_distances)

D = 8


def test_squared_distances_of_a_stack_of_point_sets():
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(3, 100, D, generator=g).double(), torch.randn(16, D, generator=g).double()
    ref = (z[..., None, :] - e).square().sum(-1)                          # (3, 100, K)
    assert torch.allclose(squared_distances(z, e), ref)


BAD = {"a single vector": torch.randn(D), "channels first": torch.randn(4, D, 6, 6),
       "integer dtype": torch.ones(4, D, dtype=torch.int64),
       "NaN": torch.full((4, D), float("nan")), "infinity": torch.full((4, D), float("inf")),
       "too large": torch.full((4, D), 2 * feature_limit(D, torch.float32)),
       "empty batch": torch.randn(0, D)}


@pytest.mark.parametrize("what", BAD)
def test_every_bad_input_is_refused(what):
    with pytest.raises(ValueError):
        check_features(BAD[what], D)
    with pytest.raises(ValueError):
        VectorQuantizer(num_codes=16, dim=D)(BAD[what])


def test_feature_limit_is_the_overflow_margin():
    limit = feature_limit(D, torch.float32)
    edge = torch.full((1, D), limit)
    worst = squared_distances(edge, -edge)
    assert torch.isfinite(worst).all()
    assert torch.isinf(squared_distances(edge * 2.0**11, -edge * 2.0**11)).all()


@pytest.mark.parametrize("bad", [{"dim": 6, "heads": 4}, {"dim": 0}])
def test_bad_constructor_arguments(bad):
    with pytest.raises(ValueError):
        Quantizer(num_codes=4, **bad)


def test_inits_and_unknown_init():
    gen = torch.Generator().manual_seed(0)
    drawn = {init: init_codebook(4096, 64, init, generator=gen) for init in INITS}
    assert abs(drawn["normal"].std() - 1) < 0.01 and drawn["uniform"].abs().max() <= 1 / 4096
    assert abs(drawn["unit_scaling"].square().sum(1).mean() - 1) < 0.01
    with pytest.raises(ValueError):
        init_codebook(4, 2, "zeros")


def test_base_class_owns_codebook_and_repr():
    class Mine(Quantizer):
        def __init__(self, *, temperature: float = 1.0, init: str = "normal", **common):
            super().__init__(init=init, **common)
            self.temperature = temperature
    q = Mine(num_codes=4, dim=2, temperature=0.5)
    assert isinstance(q.codebook, torch.nn.Parameter) and q.codebook.shape == (4, 2)
    assert "temperature=0.5" in repr(q) and "num_codes=4" in repr(q)
    b = Mine(num_codes=4, dim=2, learnable=False)
    assert "codebook" in dict(b.named_buffers())


def test_sample_vectors():
    rows = torch.arange(10.0)[:, None]
    few = sample_vectors(rows, 6, generator=torch.Generator().manual_seed(0))
    many = sample_vectors(rows, 25, generator=torch.Generator().manual_seed(0))
    assert few.unique().numel() == 6 and many.shape == (25, 1)
    assert set(many.flatten().tolist()) <= set(range(10))


def test_kmeans_init_first_batch_only_and_not_in_eval():
    data = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    q = VectorQuantizer(num_codes=8, dim=2, kmeans_init=True)
    torch.manual_seed(0)
    expected = kmeans_centres(data, 8)
    torch.manual_seed(0)
    q(data)
    assert torch.equal(q.codebook.detach(), expected) and q.initialized
    resumed = VectorQuantizer(num_codes=8, dim=2, kmeans_init=True)
    resumed.load_state_dict(q.state_dict())
    resumed(data[:100])
    assert torch.equal(resumed.codebook, q.codebook)
    idle = VectorQuantizer(num_codes=8, dim=2, kmeans_init=True).eval()
    start = idle.codebook.detach().clone()
    idle(data)
    assert torch.equal(idle.codebook.detach(), start) and not idle.initialized


def test_dead_codes_move_onto_features():
    from vqlit.ema import EMAVectorQuantizer
    ema = EMAVectorQuantizer(num_codes=4, dim=2, dead_code_threshold=0.5)
    ema.codebook.copy_(torch.tensor([[0.0, 0.0], [9.0, 9.0], [-9.0, 9.0], [0.1, 0.0]]))
    batch = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 0.1
    ema(batch)
    assert all((batch == ema.codebook[k]).all(1).any() for k in (1, 2))
    assert torch.allclose(ema.ema_counts[1:3] / (1 - 0.99), torch.full((2,), 0.5))


def toy_vq(data, codes, steps, lr=0.05, beta=0.25, anchor=1.0):
    z = data.clone().requires_grad_(True)
    codes = codes.clone().requires_grad_(True)
    opt = torch.optim.SGD([z, codes], lr=lr)
    for _ in range(steps):
        e = codes[nearest_code(z.detach(), codes.detach())]
        loss = (anchor * (z - data).square().sum(1).mean()
                + (z.detach() - e).square().sum(1).mean()
                + beta * (z - e.detach()).square().sum(1).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return codes.detach(), z.detach()


def test_toy_dynamics_is_the_written_out_loss():
    g = torch.Generator().manual_seed(0)
    x, e = torch.randn(40, 2, generator=g), torch.randn(5, 2, generator=g)
    vq = VectorQuantizer(num_codes=5, dim=2, commitment_weight=0.25)
    path, z, used = toy_dynamics(x, vq, start=e, steps=1)
    codes_ref, z_ref = toy_vq(x, e, steps=1)
    assert path.shape == (2, 5, 2) and torch.equal(path[0], e)
    assert torch.allclose(path[1], codes_ref, atol=1e-6) and torch.allclose(z, z_ref, atol=1e-6)
    assert torch.equal(used, nearest_code(z, path[-1]).unique()) and vq.training
