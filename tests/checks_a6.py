"""Glued results of the fused-kernels appendix's pages, called by tests/test_chapters.py after the
papermill smoke run of each page: check_<page stem>(glued values)."""


def check_a6a_nearest_kernel(g):
    assert g["scale"] == "smoke"


def check_a6b_sinkhorn_kernels(g):
    assert g["scale"] == "smoke"


def check_a6c_speed(g):
    assert g["scale"] == "smoke"
    assert (g["speed_n"], g["speed_k"], g["speed_d"]) == (1024, 1024, 32)
