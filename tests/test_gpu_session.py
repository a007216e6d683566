"""The GPU session (tools/gpu_session.py) and its staging step (tools/stage_gpu.py).

The dry run is the session's own code path on the CPU, at the smoke scale, with a tiny bench and a
few queue items, so that the command is not broken when a GPU comes: it runs once here, and the
other tests read what it left.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from vqlit.results import check_record

ROOT = Path(__file__).resolve().parent.parent


def tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                     # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


session = tool("gpu_session")


def results_state():
    return {p: p.stat().st_mtime_ns for p in (ROOT / "book" / "results").rglob("*.json")}


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("session-out")
    before = results_state()
    done = subprocess.run([sys.executable, "tools/gpu_session.py", "--dry-run", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return out, done, results_state() == before


def records_in(out):
    with tarfile.open(out / "records.tar.gz") as tar:
        return {m.name: json.load(tar.extractfile(m)) for m in tar.getmembers() if m.isfile()}


def test_the_dry_run_records_with_provenance_outside_book_results(dry_run):
    out, done, untouched = dry_run
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert untouched, "the dry run wrote into book/results"
    summary = json.loads((out / "session.json").read_text())
    assert summary["dry_run"] and summary["scale"] == "smoke" and summary["device"] == "cpu"
    assert summary["cuda_tests"]["status"] == 0             # the command runs; on a CPU they skip
    assert not summary["results"].startswith(str(ROOT))
    records = records_in(out)
    states = {q["id"]: q for q in summary["queue"]}
    recorded = [n for n in records if not n.startswith("book/results/benchmarks/")]
    assert sorted(Path(n).name for n in recorded) == sorted(summary["recorded"])
    assert any(q.startswith("single:") and s["state"] == "recorded" for q, s in states.items())
    assert any(q.startswith("member:") and s["state"] == "recorded" for q, s in states.items())
    for name in recorded:
        record = check_record(records[name])
        prov = record["provenance"]
        assert prov["scale"] == "smoke" and prov["wall_time_s"] > 0 and prov["commit"]
        assert record["dataset"] == summary["dataset"]
    seeded = [records[n] for n in recorded if records[n]["experiment"].startswith("compare_")]
    assert seeded and all(r["metrics"]["seeds"] == 2 for r in seeded)   # a group's member


def test_the_wall_time_of_a_record_is_the_training_time_of_its_chunks(dry_run):
    out, _, _ = dry_run
    summary = json.loads((out / "session.json").read_text())
    records = {Path(n).name: r for n, r in records_in(out).items()}
    for q in summary["queue"]:
        if q["id"].startswith("single:") and q["state"] == "recorded":
            assert q["chunks"] >= 2                          # it stopped once and resumed
            [record] = [records[n] for n in q["records"]]
            assert record["provenance"]["wall_time_s"] == pytest.approx(q["train_s"], abs=0.11)
            assert q["train_s"] < q["seconds"]        # no data loading, evaluation or start-up


def test_the_dry_run_benches_both_nearest_paths_with_provenance(dry_run):
    out, _, _ = dry_run
    bench = json.loads((out / "bench.json").read_text())
    assert bench["name"] == "bench_cpu" and "--json" in bench["command"]
    prov = bench["provenance"]
    assert {"commit", "device", "capability", "torch", "triton", "date", "elapsed_s"} <= set(prov)
    assert "wall_time_s" not in prov
    assert {r["dim"] for r in bench["nearest"]} == {2, 8}
    assert all(r["ms"] > 0 for r in bench["nearest"] if r["path"] == "torch")
    fused = [r for r in bench["nearest"] if r["path"] == "fused"]     # no CUDA here
    assert len(fused) == 2 and all(r["skipped"].startswith("not available") for r in fused)
    assert any(name.endswith("benchmarks/bench_cpu.json") for name in records_in(out))


def test_an_unfinished_run_comes_back_and_the_next_session_resumes_it(dry_run, tmp_path):
    out, _, _ = dry_run
    summary = json.loads((out / "session.json").read_text())
    [cut] = [q for q in summary["queue"] if q["state"] == "partial"]
    assert 0 < cut["step"] < cut["steps"]
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = tar.getnames()
    assert not any(n.endswith(".lock") for n in names)
    root = tmp_path / "tree"
    (root / "book" / "results").mkdir(parents=True)
    done = session.collect(out, root=root)
    assert sorted(Path(n).name for n in done["records"]) == sorted(
        Path(n).name for n in records_in(out))
    assert all((root / n).is_file() for n in done["records"])
    name = cut["id"].split(":")[1]
    assert (root / ".gpu" / "runs" / f"{name}-smoke" / "checkpoint.pt").is_file()
    items, _ = session.plan(scale="smoke", dataset=summary["dataset"],
                            results=root / "book" / "results", runs=root / ".gpu" / "runs",
                            only=(name, *{q["id"].split(":")[1] for q in summary["queue"]}))
    by_id = {i["id"]: i for i in items}
    assert by_id[cut["id"]]["state"] == "partial" and by_id[cut["id"]]["done"] == cut["step"]
    assert not any(i["id"] in by_id for i in summary["queue"]
                   if i["state"] == "recorded")                      # recorded: not queued again


def test_plan_orders_by_cost_and_leaves_out_what_cannot_run(tmp_path):
    items, excluded = session.plan(scale="full", dataset="fashion-mnist",
                                   results=ROOT / "book" / "results", runs=tmp_path)
    recorded = {p.stem for p in (ROOT / "book" / "results").glob("*.json")
                if json.loads(p.read_text())["provenance"]["scale"] == "full"}
    assert items and not {i["record"] for i in items if i["kind"] != "seed"} & recorded
    assert all(not i["name"].endswith("_cifar10") for i in items)
    assert excluded and "cifar10" in excluded[0]
    singles = [i["cost_s"] for i in items if i["kind"] == "single"]
    assert singles == sorted(singles)
    for group, count in (("compare", 3), ("optvq_table3", 1)):      # GROUPS' seeds at full scale
        member = next(i for i in items if i["kind"] == "member" and i["group"] == group)
        seeds = [i for i in items if i["id"] in member["needs"]]
        assert len(seeds) == count and items.index(member) > max(items.index(s) for s in seeds)


def test_staged_wheels_install_without_a_network(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "vqlit_fake_dep-1.0-py3-none-any.whl", "w") as z:
        z.writestr("vqlit_fake_dep/__init__.py", "VALUE = 42\n")
        z.writestr("vqlit_fake_dep-1.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: vqlit_fake_dep\nVersion: 1.0\n")
        z.writestr("vqlit_fake_dep-1.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("vqlit_fake_dep-1.0.dist-info/top_level.txt", "vqlit_fake_dep\n")
        z.writestr("vqlit_fake_dep-1.0.dist-info/RECORD", "")
    site, installed = session.install_wheels(wheels, session.Log(None), site=tmp_path / "site")
    try:
        assert installed == ["vqlit_fake_dep-1.0-py3-none-any.whl"]
        assert (site / "vqlit_fake_dep" / "__init__.py").is_file()
        assert session.install_wheels(wheels, session.Log(None), site=tmp_path / "again") \
            == (None, [])                                    # present now: nothing to install
    finally:
        sys.path.remove(str(site))


def test_a_copied_tree_takes_its_commit_from_the_staging(tmp_path, monkeypatch):
    monkeypatch.setattr(session, "STAGE", tmp_path)
    staged = {"commit": "a" * 40, "uncommitted": False, "vqlit_sha256": session.code_hash()}
    (tmp_path / "commit.json").write_text(json.dumps(staged))
    assert session.staged_commit() == "a" * 40
    (tmp_path / "commit.json").write_text(json.dumps({**staged, "vqlit_sha256": "0" * 64}))
    assert session.staged_commit().startswith("a" * 40 + "+changes after staging")


def test_staging_copies_the_data_sets_as_the_cache_lays_them_out(tmp_path, monkeypatch):
    import numpy as np

    from vqlit.data import FASHION_MNIST, load_dataset, write_idx
    stage = tool("stage_gpu")
    source = tmp_path / "source"
    source.mkdir()
    rng = np.random.default_rng(0)
    for role, (name, _) in FASHION_MNIST.files.items():
        shape = (20,) if "labels" in role else (20, 28, 28)
        array = np.arange(20) % 10 if "labels" in role else rng.integers(0, 256, shape)
        write_idx(source / name, array.astype(np.uint8))
    monkeypatch.setenv("VQLIT_DATA_DIR", str(source))
    staged = stage.stage_fashion_mnist(tmp_path / "data" / "fashion-mnist")
    assert sorted(p.name for p in staged) == sorted(n for n, _ in FASHION_MNIST.files.values())
    monkeypatch.delenv("VQLIT_DATA_DIR")
    monkeypatch.setenv("VQLIT_DATA", str(tmp_path / "data"))     # what the session sets
    monkeypatch.setenv("VQLIT_OFFLINE", "1")
    monkeypatch.setenv("VQLIT_SYSTEM_DATA", "0")
    assert load_dataset("fashion-mnist", verbose=False).train_images.shape == (20, 1, 28, 28)


def test_a_quick_record_does_not_stand_for_the_full_run(tmp_path):
    """The quick runs recorded on a CPU (VQ-WAE, OptVQ's Table 3 grid) leave the full runs queued;
    a full record takes its experiment off the queue."""
    results = tmp_path / "results"
    results.mkdir()
    source = ROOT / "book" / "results" / "wae_vqwae_fashion-mnist.json"
    record = json.loads(source.read_text())
    assert record["provenance"]["scale"] == "quick"
    (results / source.name).write_text(json.dumps(record))
    queued = lambda: {i["name"] for i in session.plan(
        scale="full", dataset="fashion-mnist", results=results, runs=tmp_path / "runs",
        only=("wae_vqwae_mnist",))[0]}
    assert queued() == {"wae_vqwae_mnist"}
    record["provenance"]["scale"] = "full"
    (results / source.name).write_text(json.dumps(record))
    assert queued() == set()
