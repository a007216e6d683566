"""Appendix E's glued values, one function per page (tests/test_chapters.py calls check_<stem>)."""


def check_a4a_registry(g):
    assert g["n_experiments"] >= 6 and g["n_groups"] >= 1
    assert g["page_scale"] == "smoke"


def check_a4b_runs(g):
    assert g["smoke_psnr"] > 5
    assert g["smoke_data"] in ("mnist", "fashion-mnist", "mnist-5k", "digits")


def check_a4c_tables(g):
    assert g["tables_data"] in ("mnist", "fashion-mnist", "mnist-5k", "digits")


def check_a4f_cli(g):
    assert g["n_listed"] >= 7
