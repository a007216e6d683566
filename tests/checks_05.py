"""Glued values of Chapter 5's pages at the smoke scale (called by tests/test_chapters.py)."""


def check_05a_the_map(g):
    assert g["limit_agree_weighted"] == 1.0 > g["limit_agree_nearest"]
    assert g["corner_to_hard_3"] < g["corner_to_hard_2"] / 2
    assert g["soft_half_normaliser_gap"] > 0.1           # d log sigma_k alone is not the posterior
    assert g["corner_soft_grad_z"] > 0.1 and g["corner_soft_grad_e"] > 0.1   # forward values only


def check_05b_bad_start(g):
    assert g["toy_codes"] == 24
    assert 1 <= g["toy_used_vq"] and g["toy_used_corner"] >= 2 * g["toy_used_vq"]


def check_05c_equal_budget(g):
    assert g["scale"] == "smoke"
    assert g["compare_seeds"] == 2 and g["compare_steps"] == 10     # Appendix E's smoke recipe
    assert g["compare_dataset"] in ("mnist", "fashion-mnist", "mnist-5k", "digits")
    assert 0 < g["optvq_alone"] < 1 and 0 < g["optvq_nn_usage"] <= 1
