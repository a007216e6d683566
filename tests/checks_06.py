"""The checks of Chapter 6's pages on the values they glue (run by tests/test_chapters.py)."""
import math


def _check_markov(g):
    """A prior trained on the Markov source of 06a, against its entropy in closed form."""
    k, q, cells = 16, 0.8, 64                               # Eq. (markov-entropy), recomputed
    p = q + (1 - q) / k
    h_step = -p * math.log2(p) - (k - 1) * (1 - q) / k * math.log2((1 - q) / k)
    assert math.isclose(g["markov_entropy"], math.log2(k) + (cells - 1) * h_step, rel_tol=1e-9)
    assert math.isclose(g["markov_uniform"], cells * math.log2(k))
    assert g["markov_entropy"] - 4 * g["markov_se"] < g["markov_final"] < 0.75 * g["markov_uniform"]


def check_06a_pixelcnn(g):
    assert 2 <= g["layers_needed"] <= 16                  # a finite receptive field, then none blind
    assert g["sample_tv"] < 0.03                           # 20,000 draws against 81 exact values
    _check_markov(g)


def check_06b_transformer(g):
    assert g["attention_error"] < 1e-5                     # against torch's scaled_dot_product_attention
    assert g["cache_error"] < 1e-5                         # cached steps against the full pass, float32
    assert g["sample_tv"] < 0.03                           # 20,000 draws against 81 exact values
    _check_markov(g)
    closed = (g["markov_uniform"] - g["markov_final"]) / (g["markov_uniform"] - g["markov_entropy"])
    assert math.isclose(closed, g["markov_closed"], rel_tol=1e-6)
    assert g["scale"] == "smoke" or closed > 0.9           # approaches the entropy from quick on
    assert g["same_draws"] > 0.9                            # one seed, cached or not: the same grids
    assert g["cache_speedup"] > 0                           # a measurement, not a claim about speed
