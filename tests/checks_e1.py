"""Glued values of the recorded-results page (called by tests/test_chapters.py)."""
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "book" / "results"


def check_e1_recorded_results(g):
    assert g["n_records"] == len(list(RESULTS.glob("*.json")))
