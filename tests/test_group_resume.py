"""Chapter 5's comparison resumes where it stopped (run_group with a `runs` directory), and the
cost estimate that every chapter prints before it trains (expected_cost)."""
import dataclasses

import pytest

import vqlit.experiments as experiments
import vqlit.runs as runs
from vqlit.data import load_dataset
from vqlit.experiments import GROUPS, expected_cost, run_group


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", image_size=32, verbose=False)


def test_an_interrupted_group_resumes_and_does_not_train_finished_runs_again(
        digits, tmp_path, monkeypatch):
    members = GROUPS["compare"].members[:3]
    monkeypatch.setitem(experiments.GROUPS, "compare", dataclasses.replace(
        GROUPS["compare"], members=members))
    real = runs.train_experiment
    calls = []

    def interrupted(name, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt                    # the user stops the cell at the third run
        return real(name, **kwargs)

    monkeypatch.setattr(runs, "train_experiment", interrupted)    # run_group's module
    with pytest.raises(KeyboardInterrupt):
        run_group("compare", scale="smoke", device="cpu", data=digits, seeds=1, runs=tmp_path,
                  progress=False)
    monkeypatch.setattr(runs, "train_experiment", real)
    first = {p.name for p in tmp_path.iterdir() if (p / "checkpoint.pt").exists()}
    assert first == {f"{m}-smoke-seed0" for m in members[:2]}
    done = run_group("compare", scale="smoke", device="cpu", data=digits, seeds=1,
                     runs=tmp_path, progress=False)
    steps = done[0].config.steps
    assert [r.experiment for r in done] == list(members)
    assert [r.fit.resumed_from for r in done] == [steps, steps, 0]   # loaded, loaded, trained
    assert all(r.fit.steps == steps for r in done)


def test_the_expected_cost_is_measured_per_scale_and_grows_with_the_scale(digits, capsys):
    costs = expected_cost({"vq_nn_mnist": 2}, data=digits, scale="smoke", device="cpu")
    assert set(costs) == {"smoke", "quick", "full"}
    assert 0 < costs["smoke"] < costs["quick"] < costs["full"]
    printed = capsys.readouterr().out
    assert "digits" in printed and "precision: fp32" in printed and "scale: smoke" in printed
    assert "smoke" in printed and "quick" in printed and "full" in printed
