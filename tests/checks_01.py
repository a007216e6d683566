"""Glued values of Chapter 1's pages (called by tests/test_chapters.py after a smoke run)."""


def check_01c_ema_pitfall(g):
    assert g["toy_used_bad"] < g["toy_used_good"] <= g["toy_codes"] == 24


def check_01d_dead_codes(g):
    assert g["scale"] == "smoke"
    assert 0 < g["nn_usage"] <= 1 and 0 < g["ema_usage"] <= 1
    assert abs(g["nn_usage"] + g["nn_dead"] - 1) < 1e-9
    assert 1 <= g["nn_ppl"] <= 1024 and 1 <= g["ema_ppl"] <= 1024
    assert g["nn_psnr"] > 5 and g["ema_psnr"] > 5
    assert 1 <= g["kmeans_inertia_ratio"] <= 1.3
