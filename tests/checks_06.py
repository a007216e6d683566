"""The checks of Chapter 6's pages on the values they glue (run by tests/test_chapters.py)."""
import math


def check_06a_pixelcnn(g):
    assert 2 <= g["layers_needed"] <= 16                  # a finite receptive field, then none blind
    assert g["sample_tv"] < 0.03                           # 20,000 draws against 81 exact values
    k, q, cells = 16, 0.8, 64                               # Eq. (markov-entropy), recomputed
    p = q + (1 - q) / k
    h_step = -p * math.log2(p) - (k - 1) * (1 - q) / k * math.log2((1 - q) / k)
    assert math.isclose(g["markov_entropy"], math.log2(k) + (cells - 1) * h_step, rel_tol=1e-9)
    assert math.isclose(g["markov_uniform"], cells * math.log2(k))
    assert g["markov_entropy"] - 4 * g["markov_se"] < g["markov_final"] < 0.75 * g["markov_uniform"]
