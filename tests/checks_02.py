"""Chapter 2's glued values (tests/test_chapters.py calls check_<page stem>(g) after each page)."""

DATA_SETS = ("mnist", "fashion-mnist", "mnist-5k", "digits")


def check_02a_estimator_view(g):
    assert g["toy_err_preserving"] < 0.2 * g["toy_err_arbitrary"]


def check_02b_bayes_estimator(g):
    assert g["mse_bayes"] < g["mse_nearest"]
    assert 0 <= g["soft_limit_agree_nearest"] < 1


def check_02c_theorem1(g):
    assert g["bregman_err"] < 1e-8 and g["printed_min"] < 0 and g["theorem_gap"] < 1e-10


def check_02d_soft_training(g):
    assert 0 < g["soft_far_ratio"] < 1e-8


def check_02e_downstream(g):
    assert g["probe_digits"] > 0.9


def check_02f_paper_experiment(g):
    assert g["scale"] == "smoke"
    assert g["data_name"] in DATA_SETS and g["live_steps"] == 40
    for row in ("ae", "vqvae", "bayes"):
        assert 0 < g[f"{row}_cluster_acc"] <= 1 and 0 <= g[f"{row}_nmi"] <= 1
        assert 0 < g[f"{row}_probe_acc"] <= 1 and g[f"{row}_psnr"] > 5
    assert g["soft_beats_vq_cluster"] in ("does", "does not") and g["ze_std"] > 0
