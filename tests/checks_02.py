"""Chapter 2's glued values (tests/test_chapters.py calls check_<page stem>(g) after each page)."""
import numpy as np

DATA_SETS = ("mnist", "fashion-mnist", "mnist-5k", "digits")


def check_02a_estimator_view(g):
    assert g["toy_err_preserving"] < 0.2 * g["toy_err_arbitrary"]


def check_02b_bayes_estimator(g):
    assert g["mse_bayes"] < g["mse_nearest"]
    assert 0 <= g["soft_limit_agree_nearest"] < 1


def check_02c_theorem1(g):
    assert g["bregman_err"] < 1e-8 and g["printed_min"] < 0 and g["theorem_gap"] < 1e-10
    # Eq. 17 against codes simulated as z'_e = z_e + eps: p(mu_k | z_e) is far from 1/K, and the
    # noisy codes stay around their clean code (a simulation with k independent of z_e gives ~0)
    assert g["tv_uniform_min"] > 0.3 and g["noisy_drift_max"] < 0.05
    # Eq. 20 -> 21 derived: minimising Eq. 20 over all noisy codes at once is minimising per code,
    # and one q for every noisy code (Eq. 20 read with q fixed) is far worse
    assert g["pointwise_gap"] < 1e-6 and g["one_q_ratio"] > 5


def check_02d_soft_training(g):
    assert 0 < g["soft_far_ratio"] < 1e-8


def check_02e_downstream(g):
    assert g["probe_digits"] > 0.9


def check_02f_paper_experiment(g):
    assert g["scale"] == "smoke"
    assert g["data_name"] in DATA_SETS and g["live_steps"] == 40
    n = g["n_seeds"]
    assert n >= 3                                    # an ordering needs at least three seeds
    for row in ("ae", "vqvae", "bayes"):
        assert 0 < g[f"{row}_cluster_acc"] <= 1 and 0 <= g[f"{row}_nmi"] <= 1
        assert 0 < g[f"{row}_probe_acc"] <= 1 and g[f"{row}_psnr"] > 5
        assert all(len(v) == n for v in g["seed_metrics"][row].values())
    assert g["ze_std"] > 0
    # every ordering the page states, recomputed from its seeds: all seeds agree (paired) and the
    # means differ by more than the two sample standard deviations together
    assert len(g["orderings"]) == 6
    for key, said in g["orderings"].items():
        (a, b), metric = key.split(":")[0].split("-"), key.split(":")[1]
        x, y = np.array(g["seed_metrics"][a][metric]), np.array(g["seed_metrics"][b][metric])
        gap = x.mean() - y.mean()
        agree = np.all(x > y) if gap > 0 else np.all(x < y)
        supported = agree and abs(gap) > x.std(ddof=1) + y.std(ddof=1)
        assert said == (("above" if gap > 0 else "below") if supported else "no ordering"), key


def check_02h_cnn_protocol(g):
    # the hand counts of the page's prose, from the layer sizes: 9 c_in c_out + c_out per
    # convolution, 9 c_in c_out + c_in per mirror, 2048 d + d and d 2048 + 2048 for the linear maps
    assert g["params_c3"] == "4,152,323" and g["params_c1"] == "4,150,017"
    assert g["data_name"] in DATA_SETS + ("svhn", "cifar10")
    if g["scale"] == "smoke":
        assert g["live_rows"] == ["ae", "bayes"] and g["live_steps"] == 4
    metrics = g["live_metrics"]
    assert list(metrics) == g["live_rows"]
    for m in metrics.values():
        assert 0 < m["cluster_acc"] <= 1 and 0 <= m["nmi"] <= 1
        assert 0 < m["probe_acc"] <= 1 and m["psnr"] > 5
    chance = float(g["chance_pct"]) / 100
    said = "every" if all(m["probe_acc"] > chance for m in metrics.values()) else "not every"
    assert g["probe_above_chance"] == said
    assert float(g["live_seconds"]) > 0
