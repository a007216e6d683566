"""Glued values of Appendix A's pages (tests/test_chapters.py calls check_<page stem>)."""


def check_a1d_load_dataset(g):
    assert g["data_name"] in ("mnist", "fashion-mnist", "mnist-5k", "digits") and g["data_train"] > 1000
