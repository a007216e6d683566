"""The recorded results in book/results/ and the results schema (vqlit.results, Appendix C)."""
import json
from pathlib import Path

import pytest

from vqlit.experiments import EXPERIMENTS
import vqlit.results as results
from vqlit.results import (check_record, installed_commit, load_result, record_result,
                           records_out, results_dir)

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
                         device="cpu", scale="smoke", wall_time=1.0, precision="fp32",
                         directory=tmp_path)
    assert load_result("x", tmp_path)["metrics"] == {"psnr": 20.0}
    assert not list(tmp_path.glob(".*.tmp"))                       # written atomically
    with pytest.raises(ValueError, match="config must have"):
        record_result("y", {}, experiment=None, dataset="digits", config={"train": {}},
                      device="cpu", scale="smoke", wall_time=1.0, precision="fp32",
                         directory=tmp_path)
    old = json.loads(path.read_text())
    old.pop("schema")
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="schema 2 expected"):
        load_result("x", tmp_path)


def test_a_record_holds_the_precision_that_ran(tmp_path):
    config = {"train": {"steps": 1}, "model": {"quantizer": None}, "evaluation": {}}
    record_result("p", {}, experiment=None, dataset="digits", config=config, device="cpu",
                  scale="smoke", wall_time=2.0, precision="bf16", directory=tmp_path)
    assert load_result("p", tmp_path)["provenance"]["precision"] == "bf16"
    record = json.loads((tmp_path / "p.json").read_text())
    del record["provenance"]["precision"]
    with pytest.raises(ValueError, match="provenance has no 'precision'"):
        check_record(record)


def test_outside_a_checkout_records_are_read_from_the_package_and_written_to_the_cwd(
        tmp_path, monkeypatch):
    """Colab: no checkout above the working directory; the records installed with the package
    are read, and a new record goes to ./vqlit-results, never into the installed package."""
    package = tmp_path / "site-packages" / "vqlit"
    (package / "records").mkdir(parents=True)
    (package / "records" / "r.json").write_text("{}")
    work = tmp_path / "content"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(results, "_package_dir", lambda: package)
    assert results.checkout_results() is None
    assert results_dir() == package / "records"
    assert records_out() == work / "vqlit-results"
    assert records_out(tmp_path / "x") == tmp_path / "x"


def test_inside_the_checkout_records_are_its_book_results(monkeypatch):
    monkeypatch.chdir(RESULTS.parent / "chapters")
    assert results_dir() == RESULTS and records_out() == RESULTS


@pytest.mark.parametrize("direct_url, expected", [
    ('{"url": "https://github.com/vqlit/vqlit", "vcs_info": {"vcs": "git", "commit_id": "abc1"}}',
     "abc1 (installed by pip from https://github.com/vqlit/vqlit)"),
    ('{"url": "file:///src", "dir_info": {"editable": true}}', None),
    ('{"url": "file:///src", "dir_info": {}}', None),
    ("not json", None),
])
def test_the_commit_pip_installed_is_read_from_direct_url(direct_url, expected):
    assert installed_commit(direct_url) == expected


def test_without_a_checkout_the_commit_comes_from_pip(tmp_path, monkeypatch):
    monkeypatch.delenv("VQLIT_COMMIT", raising=False)
    monkeypatch.setattr(results, "_package_dir", lambda: tmp_path / "site-packages" / "vqlit")
    monkeypatch.setattr(results, "installed_commit", lambda: "abc1 (installed by pip from x)")
    assert results.source_commit() == "abc1 (installed by pip from x)"
    monkeypatch.setattr(results, "installed_commit", lambda: None)
    assert results.source_commit().startswith("unknown")
