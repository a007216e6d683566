"""The records in book/results/ say where they come from (issue 26).

A record names a paper's table as its source, and carries the paper's numbers, only when its run
used that paper's own data set. A run of the same protocol on another data set (a substitute, such
as Fashion-MNIST for MNIST) is this book's result: its source must say so and name the data set it
ran on, and it must show no paper number. The expectations are written out here, not derived from
the code that writes the records.
"""
import json
import re
from pathlib import Path

import pytest

from vqlit.experiments import EXPERIMENTS

RESULTS = Path(__file__).resolve().parent.parent / "book" / "results"
RECORDS = sorted(RESULTS.glob("*.json"))
PAPER_TABLE = re.compile(r"\b(OptVQ|VQ-WAE|Wu & Flierl|Soft VQ-VAE)\b.*\bTable \d")


def substitute_problems(record: dict) -> list[str]:
    """What is wrong with a record on another data set than its experiment's paper data set."""
    experiment = EXPERIMENTS[record["experiment"]]
    if record["dataset"] == experiment.dataset:
        return []
    source, problems = record["source"], []
    if record["paper"] is not None:
        problems.append(f"shows the paper's numbers {record['paper']}")
    if not source.startswith("this book"):
        problems.append(f"its source {source!r} is not this book")
    if f"run on {record['dataset']}" not in source:
        problems.append(f"its source {source!r} does not name the data set it ran on")
    if PAPER_TABLE.search(source) and "the protocol of" not in source:
        problems.append(f"its source {source!r} names a paper table as the source")
    protocol = source.split(f", run on {record['dataset']}")[0]
    if re.search(rf"(?<![\w-]){re.escape(experiment.dataset)}(?![\w-])", protocol, re.I):
        problems.append(f"its source {source!r} says the protocol ran on {experiment.dataset}")
    return problems


def test_there_are_records_to_check():
    assert RECORDS, "book/results holds no record"


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_a_record_on_a_substitute_data_set_names_no_paper_table_and_no_paper_number(path):
    record = json.loads(path.read_text())
    assert not substitute_problems(record), f"{path.name}: " + "; ".join(substitute_problems(record))


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_a_record_on_the_paper_data_set_keeps_the_paper_source(path):
    record = json.loads(path.read_text())
    experiment = EXPERIMENTS[record["experiment"]]
    if record["dataset"] == experiment.dataset:
        assert record["source"] == experiment.source
        assert record["paper"] == (experiment.paper or None)


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_a_migrated_record_says_when_its_source_changed(path):
    record = json.loads(path.read_text())
    made_before = record["provenance"]["date"] < "2026-12-05"      # the day the sources changed
    if made_before and record["dataset"] != EXPERIMENTS[record["experiment"]].dataset:
        assert "source rewritten on 2026-12-05" in record["migrated"]


@pytest.mark.parametrize("record, wrong", [
    ({"experiment": "vq_nn_mnist", "dataset": "fashion-mnist", "paper": None,
      "source": "OptVQ Table 2"}, "is not this book"),
    ({"experiment": "vq_ema_mnist", "dataset": "fashion-mnist", "paper": None,
      "source": ""}, "is not this book"),
    ({"experiment": "soft_ae_mnist", "dataset": "fashion-mnist", "paper": {"nmi": 0.53},
      "source": "this book: the protocol of Wu & Flierl Table 1, run on fashion-mnist"},
     "paper's numbers"),
    ({"experiment": "optvq_mnist", "dataset": "fashion-mnist", "paper": None,
      "source": "this book: OptVQ Table 2 on fashion-mnist"}, "does not name the data set"),
    ({"experiment": "optvq_t3_ot_d8_k128_mnist", "dataset": "fashion-mnist", "paper": None,
      "source": "this book: the protocol of OptVQ Table 3's grid in small (MNIST and the small "
                "CNN), run on fashion-mnist (the protocol is on mnist)"}, "ran on mnist"),
])
def test_the_check_fails_on_a_paper_source_or_number(record, wrong):
    """The records before the migration of 2026-12-05 looked like the first two."""
    assert any(wrong in problem for problem in substitute_problems(record))


def test_the_check_passes_on_this_books_source():
    from vqlit.runs import _record_source
    grid = EXPERIMENTS["optvq_t3_ot_d8_k128_mnist"]
    written = {"experiment": grid.name, "dataset": "fashion-mnist", "paper": None,
               "source": _record_source(grid, "fashion-mnist")}
    assert substitute_problems(written) == []
    record = {"experiment": "vq_nn_mnist", "dataset": "fashion-mnist", "paper": None,
              "source": "this book: the protocol of OptVQ Table 2, run on fashion-mnist (the "
                        "paper's row is on mnist)"}
    assert substitute_problems(record) == []
