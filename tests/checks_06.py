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


def check_06c_real_codes(g):
    k, cells = g["num_codes"], 64                                  # the 8 x 8 grid of the page
    assert math.isclose(g["uniform_bits"], cells * math.log2(k))  # hw log2 K, recomputed
    assert 0 < g["position_bits"] <= cells * math.log2(g["codes_used"]) + 1e-9  # entropy <= log2
    assert g["decode_error"] < 1e-5                                # grids decode to the recons.
    assert g["prior_bits"] < 0.9 * g["uniform_bits"]               # a learned prior, every scale
    assert g["conditional_bits"] < 0.9 * g["uniform_bits"]
    assert 0 < g["usage_prior"] <= 1
    assert math.isclose(g["prior_saving"], 1 - g["prior_bits"] / g["uniform_bits"])


def check_06d_sample_metrics(g):
    assert g["frechet_worst"] < 1e-8                    # against closed forms and scipy's sqrtm
    assert g["accuracy"] > 3 * g["chance"]              # the classifier is well above chance
    assert g["half_size"] >= 100
    assert 0 <= g["cfd_halves"] < 0.1 * g["cfd_shuffled"]    # same data: near 0; shuffled: far
    assert abs(g["cfd_ratio"] - 100 * g["cfd_halves"] / g["cfd_shuffled"]) < 1e-9
    noise = g["cfd_noise"]                               # std 0, 0.1, 0.2, 0.4, 0.8
    assert len(noise) == 5 and noise[0] == g["cfd_halves"]
    assert all(a < b for a, b in zip(noise, noise[1:]))  # more noise, farther


def check_06e_equal_budget(g):
    assert g["seeds"] >= 2 and g["n_samples"] >= 32
    assert g["floor"] >= 0                               # a Fréchet distance is never negative
    assert g["more_codes_more_bits"] in ("yes", "no")
    assert g["data_name"] in ("mnist", "fashion-mnist", "mnist-5k", "digits")
