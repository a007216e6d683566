"""The contract of every vqlit quantizer (Chapter 1's `Quantizer` skeleton), one parametrized test.

Every subclass of `vqlit.vq.Quantizer` that the package defines must appear in CASES, so a new
method is checked as soon as it exists. Method-specific properties stay in each method's file.
"""
from dataclasses import replace

import pytest
import torch

import vqlit.ema
import vqlit.family
import vqlit.fsq
import vqlit.optvq
import vqlit.soft
import vqlit.wasserstein
from vqlit.sinkhorn import OPTVQ_SOLVER
from vqlit.vq import Quantizer, QuantizerOutput, nearest_code

from conftest import all_subclasses

# name -> (class, extra constructor arguments)
CASES = {
    "VectorQuantizer": (vqlit.vq.VectorQuantizer, {}),
    "EMAVectorQuantizer": (vqlit.ema.EMAVectorQuantizer, {}),
    "VectorQuantizer-kmeans": (vqlit.vq.VectorQuantizer, {"kmeans_init": True}),
    "EMAVectorQuantizer-fixes": (vqlit.ema.EMAVectorQuantizer,
                                 {"kmeans_init": True, "dead_code_threshold": 1.0}),
    "BayesianQuantizer": (vqlit.soft.BayesianQuantizer, {}),
    "WassersteinQuantizer": (vqlit.wasserstein.WassersteinQuantizer, {}),
    "SinkhornQuantizer": (vqlit.optvq.SinkhornQuantizer, {}),
    "SinkhornQuantizer-log": (vqlit.optvq.SinkhornQuantizer,
                              {"solver": replace(OPTVQ_SOLVER, method="log")}),
    "SinkhornQuantizer-textbook": (vqlit.optvq.SinkhornQuantizer,
                                   {"solver": replace(OPTVQ_SOLVER, method="textbook")}),
    "SinkhornQuantizer-exact": (vqlit.optvq.SinkhornQuantizer,
                                {"solver": vqlit.wasserstein.ExactOT()}),
    "SinkhornQuantizer-proj": (vqlit.optvq.SinkhornQuantizer, {"use_proj": True}),
    "FSQuantizer": (vqlit.fsq.FSQuantizer, {}),
    "BalancedSoftQuantizer": (vqlit.family.BalancedSoftQuantizer, {}),
    "BalancedSoftQuantizer-rows": (vqlit.family.BalancedSoftQuantizer, {"balanced": False}),
}
CODEBOOK_FREE = {"FSQuantizer"}   # no num_codes or init to choose: the levels fix the grid
SOFT = {"BayesianQuantizer", "BalancedSoftQuantizer", "BalancedSoftQuantizer-rows"}  # mean outputs
PROJECTED = {"SinkhornQuantizer-proj"}   # init draws e~; the codes are W e~ + b
PARAMETRIZED = pytest.mark.parametrize("case", list(CASES))


def make(case, **kwargs):
    cls, extra = CASES[case]
    torch.manual_seed(0)
    if case in CODEBOOK_FREE:                       # dim 8 from levels (3, 2) per 2 coordinates
        heads = kwargs.pop("heads", 1)
        return cls(levels=(3, 2) * (4 // heads), heads=heads, **extra, **kwargs)
    return cls(**{"num_codes": 32, "dim": 8, **extra, **kwargs})


def test_every_quantizer_class_is_covered():
    defined = {c for c in all_subclasses(Quantizer) if c.__module__.startswith("vqlit.")}
    assert defined <= {cls for cls, _ in CASES.values()}, defined


@PARAMETRIZED
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("lead", [(5,), (2, 3), (2, 4, 4)])
def test_shapes_values_gradients_and_stats(case, heads, lead):
    q = make(case, heads=heads)
    z = torch.randn(*lead, 8, requires_grad=True)
    if q.kmeans_init:                               # the first batch sets the codes: not this one
        q(torch.randn(*lead, 8))
    codebook = q.codebook.detach().clone()          # EMA moves its codes during the forward pass
    out = q(z)
    assert isinstance(out, QuantizerOutput)
    assert out.quantized.shape == z.shape and out.quantized.dtype == z.dtype
    assert out.indices.shape == lead + ((heads,) if heads > 1 else ())
    assert out.indices.dtype == torch.int64
    assert 0 <= int(out.indices.min()) and int(out.indices.max()) < q.num_codes
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and torch.isfinite(out.quantized).all()
    assert set(out.stats) == {"usage", "perplexity"}
    assert 0 < float(out.stats["usage"]) <= 1 and 1 <= float(out.stats["perplexity"]) <= q.num_codes
    if case not in SOFT:                            # the soft output is a mean, not one code
        chosen = codebook[out.indices]
        assert torch.equal(out.quantized, chosen.flatten(-2) if heads > 1 else chosen)
    upstream = torch.randn_like(z)
    (grad,) = torch.autograd.grad((out.quantized * upstream).sum(), z, retain_graph=True)
    if case in CODEBOOK_FREE:                       # through FSQ's increasing bound, Eq. (fsq)
        assert torch.isfinite(grad).all() and (grad * upstream >= 0).all()
    else:
        assert torch.equal(grad, upstream)          # Eq. (ste): the gradient passes unchanged
    if out.loss.requires_grad:                      # a graph, or a constant (FSQ: no loss)
        out.loss.backward()


@PARAMETRIZED
@pytest.mark.parametrize("bad, message", [
    (torch.randn(8), "at least one batch dimension"),
    (torch.randn(4, 5), "last dimension to be dim=8"),
    (torch.randn(2, 8, 3, 3), "channels-first"),
    (torch.ones(4, 8, dtype=torch.int64), "floating-point"),
    (torch.ones(4, 8, dtype=torch.bool), "floating-point"),
    (torch.full((4, 8), float("nan")), "NaN or infinity"),
    (torch.tensor([[0.0] * 7 + [float("inf")]]), "NaN or infinity"),
    (torch.randn(0, 8), "non-empty"),
])
def test_every_bad_input_is_a_clear_value_error(case, bad, message):
    with pytest.raises(ValueError, match=message):
        make(case)(bad)


@PARAMETRIZED
def test_non_tensor_input_is_a_type_error(case):
    with pytest.raises(TypeError, match="torch.Tensor"):
        make(case)([[0.0] * 8])


@PARAMETRIZED
def test_constructor_is_keyword_only_and_checked(case):
    cls, extra = CASES[case]
    if case in CODEBOOK_FREE:
        with pytest.raises(ValueError, match="levels"):
            cls(levels=(4, 1))
        return
    with pytest.raises(TypeError):
        cls(16, 4)
    for bad, message in (({"num_codes": 0}, "positive"), ({"dim": 0}, "positive"),
                         ({"heads": 3}, "heads must divide"), ({"init": "zeros"}, "init")):
        with pytest.raises(ValueError, match=message):
            make(case, **bad)


@PARAMETRIZED
@pytest.mark.parametrize("init", ["normal", "uniform", "unit_scaling"])
def test_shared_init_options(case, init):
    if case in CODEBOOK_FREE:
        pytest.skip("a fixed grid: no init to choose")
    q = make(case, init=init, num_codes=64, dim=16)
    bound = {"uniform": 1 / 64, "unit_scaling": (3 / 16) ** 0.5}.get(init)
    drawn = q.parametrizations.codebook.original if case in PROJECTED else q.codebook  # e~ or e
    if bound is not None:
        assert float(drawn.detach().abs().max()) <= bound


@PARAMETRIZED
def test_float32_under_bfloat16_autocast_and_float64_kept(case):
    q = make(case).eval()
    z = torch.randn(40, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = q(z.bfloat16())
    assert half.quantized.dtype == torch.bfloat16 and half.loss.dtype == torch.float32
    assert torch.equal(half.indices, q(z.bfloat16().float()).indices)      # float32 inside
    wide = q.double()(z.double())
    assert wide.quantized.dtype == torch.float64 and wide.loss.dtype == torch.float64


@PARAMETRIZED
def test_finite_check_can_be_turned_off(case):
    q = make(case, check_finite=False).eval()
    nan = torch.tensor([[float("nan")] + [0.0] * 7])
    if case == "SinkhornQuantizer-exact":
        with pytest.raises(ValueError, match="NaN"):   # an exact LP cannot start from NaN
            q(nan)
    else:
        q(nan)                                       # no error: the caller chose speed


@PARAMETRIZED
@pytest.mark.parametrize("heads", [1, 2])
def test_huge_finite_inputs_are_finite_inside_the_limit_and_refused_beyond(case, heads):
    """Eq. (feature-limit): just inside it, finite codes, loss and gradient; beyond, one clear error
    (before: from about 1e19 an infinite loss, or NaN for the Bayesian quantizer)."""
    q = make(case, heads=heads)
    limit = vqlit.vq.feature_limit(8, torch.float32)
    signs = torch.randint(0, 2, (64, 8), generator=torch.Generator().manual_seed(0)) * 2 - 1
    z = (0.9 * limit * signs.float()).requires_grad_(True)      # every entry near the limit
    for _ in range(2):                                          # k-means: the codes become huge too
        out = q(z)
        (out.loss + out.quantized.mean()).backward()            # FSQ has no loss: its output
    assert torch.isfinite(out.quantized).all() and torch.isfinite(out.loss), case
    assert torch.isfinite(z.grad).all(), case
    for huge in (2 * limit, 1e19, 1e30):
        with pytest.raises(ValueError, match="too large"):
            q(torch.full((4, 8), huge))


@PARAMETRIZED
def test_state_dict_round_trip(case):
    q = make(case)
    z = torch.randn(6, 8)
    q(z)                                             # EMA: its statistics move
    copy = make(case)
    copy.load_state_dict(q.state_dict())
    q.eval(), copy.eval()
    assert torch.equal(copy(z).indices, q(z).indices)
    assert torch.equal(copy(z).quantized, q(z).quantized)


@pytest.mark.parametrize("case", ["VectorQuantizer", "EMAVectorQuantizer", "WassersteinQuantizer"])
def test_nearest_code_methods_match_brute_force(case):
    q = make(case, heads=2).eval()
    z = torch.randn(30, 8)
    sub = z.reshape(-1, 4).double()                 # (N H, d/H)
    brute = (sub[:, None] - q.codebook.double()[None]).square().sum(-1).argmin(1)
    assert torch.equal(q(z).indices.flatten(), brute)
    assert torch.equal(nearest_code(sub, q.codebook.double()), brute)
