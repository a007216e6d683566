"""Glued values of Appendix C's pages (tests/test_chapters.py calls check_<page stem>)."""


def check_a3d_loop(g):
    assert g["resume_tensors"] > 10
