"""The recorded results in book/results/ and the results schema (vqlit.results, Appendix C)."""
import json
from pathlib import Path

import pytest

from vqlit.experiments import EXPERIMENTS
from vqlit.results import check_record, load_result, record_result

RESULTS = Path(__file__).resolve().parent.parent / "book" / "results"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.stem)
def test_every_recorded_result_has_the_results_schema(path):
    record = check_record(json.loads(path.read_text()))
    experiment = EXPERIMENTS[record["experiment"]]
    assert record["name"] == path.stem
    paper_row = record["dataset"] == experiment.dataset
    assert (record["paper"] is not None) == (paper_row and bool(experiment.paper))
    assert paper_row or any(experiment.dataset in n and record["dataset"] in n
                            for n in record["notes"])       # says it is not the paper's data set


def test_record_round_trip_and_schema_errors(tmp_path):
    config = {"train": {"steps": 1}, "model": {"quantizer": None}, "evaluation": {}}
    path = record_result("x", {"psnr": 20.0}, experiment=None, dataset="digits", config=config,
                         device="cpu", scale="smoke", wall_time=1.0, directory=tmp_path)
    assert load_result("x", tmp_path)["metrics"] == {"psnr": 20.0}
    assert not list(tmp_path.glob(".*.tmp"))                       # written atomically
    with pytest.raises(ValueError, match="config must have"):
        record_result("y", {}, experiment=None, dataset="digits", config={"train": {}},
                      device="cpu", scale="smoke", wall_time=1.0, directory=tmp_path)
    old = json.loads(path.read_text())
    old.pop("schema")
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="schema 2 expected"):
        load_result("x", tmp_path)
