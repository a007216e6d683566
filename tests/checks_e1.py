"""Glued values of the recorded-results page (called by tests/test_chapters.py)."""
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "book" / "results"


def check_e1_recorded_results(g):
    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    assert g["n_records"] == len(records)
    # every metric that a record's notes say was not computed is shown as "not computed": LPIPS,
    # rFID, and a generation protocol's FID (their headers written out here, not read from the code)
    keys = {"LPIPS": "lpips", "rFID": "rfid", "FID, unconditional prior": "fid",
            "FID, class-conditional prior": "fid_cond"}
    said = {f"{r['name']}: {metric}" for r in records for note in r["notes"]
            for metric in keys if note.startswith(f"{metric} not computed")}
    assert said <= set(g["not_computed"]), said - set(g["not_computed"])
    by_name = {r["name"]: r for r in records}
    for entry in g["not_computed"]:                      # and only where the record lacks it
        name, metric = entry.split(": ")
        assert keys[metric] not in by_name[name]["metrics"], entry
