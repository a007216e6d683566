"""Chapter 3's pages (VQ-WAE): the glued values that tests/test_chapters.py reads at the smoke scale.

For page stem S, `check_<S>(g)` receives the dict of the values that the page glued.
"""

DATA_SETS = ("mnist", "fashion-mnist", "mnist-5k", "digits")


def check_03a_optimal_transport(g):
    assert g["brute_cases"] == 5 and g["lp_gap"] < 1e-9 and g["kmeans_gap"] < 1e-9
    assert g["lloyd_used"] < g["bal_codes"] == 8 and g["bal_per_code"] == 100 and g["bal_price"] >= 1


def check_03b_wae_objective(g):
    assert 0 < g["minibatch_share_below"] < 1          # single batches fall below: not "never"
    assert g["minibatch_mean_w"] >= g["minibatch_full_w"] - g["minibatch_se"]   # on average
    assert abs(g["minibatch_bias"] - (g["minibatch_mean_w"] / g["minibatch_full_w"] - 1)) < 1e-12
    assert g["minibatch_z"] > -1                       # mean >= full W within one standard error
    assert g["toy_used_ws"] == g["toy_codes"] == 24 and g["toy_used_vq"] <= 12


def check_03c_wasserstein_quantizer(g):
    assert g["fd_err"] < 1e-6 and g["fd_count"] > 0
    assert g["support_uniform"] == 512 < g["support_learned"] == 543


def check_03d_image_comparison(g):
    assert g["scale"] == "smoke"
    assert g["full_steps"] == 156_250 and g["exact_step_s"] > 0 and g["rest_step_s"] > 0
    assert abs(g["exact_full_hours"] - g["full_steps"] * g["exact_step_s"] / 3600) < 1e-9
    assert g["image_data"] in DATA_SETS and g["image_steps"] == 20 and g["num_codes"] == 512
    for key in ("vq", "wae"):
        assert 1 <= g[f"{key}_perplexity"] <= 512 and 0 < g[f"{key}_usage"] <= 1
        assert g[f"{key}_psnr"] > 5 and -1 <= g[f"{key}_ssim"] <= 1
    assert g["pi_kl_max"] >= 0 and 0 < g["pi_min"] <= 1 <= g["pi_max"]
    # this book's entropic substitute against the code's exact OT, on the same batches
    assert 0 < g["sub_gap_start"] < 1e-3 and g["sub_tv_start"] < 0.1 and g["sub_cos_start"] > 0.99
    assert g["sub_gap_trained"] > -1e-6 and 0 <= g["sub_tv_trained"] <= 1
    assert -1 <= g["sub_cos_trained"] <= 1


def check_03e_codebook_sweep(g):
    assert g["scale"] == "smoke"
    assert g["sweep_data"] in DATA_SETS and g["sweep_steps"] == 5
    assert all(1 <= g[f"sweep_ppl_{k}"] <= k for k in (64, 128, 256, 512))
