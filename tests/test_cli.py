"""`python -m vqlit` as a user runs it: listing, usage errors, SIGKILL + resume, torchrun, records."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vqlit.bench import bench
from vqlit.experiments import EXPERIMENTS, GROUPS, Group, load_group, reproduce_group
from vqlit.results import check_record
from vqlit.train import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "VQLIT_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def vqlit(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "vqlit", *map(str, args)], capture_output=True,
                          text=True, env=ENV, cwd=cwd or ROOT, timeout=timeout)


def weights(directory):
    return load_checkpoint(Path(directory) / "checkpoint.pt")["model"]     # weights_only=True


def test_reproduce_list_names_every_experiment_once():
    done = vqlit("reproduce", "--list")
    assert done.returncode == 0
    names = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert sorted(names) == sorted([*EXPERIMENTS, *GROUPS]) and len(names) == len(set(names))


@pytest.mark.parametrize("args, message", [
    ([], "usage"), (["train"], "the following arguments are required: name"),
    (["train", "no_such_run"], "no experiment named 'no_such_run'"),
    (["train", "vq_nn_mnist", "--scale", "huge"], "invalid choice"),
    (["train", "vq_nn_mnist", "--max-steps", "-3"], "expected a positive integer"),
    (["train", "vq_nn_mnist", "--device", "gpu:7", "--scale", "smoke"], "not a device"),
    (["reproduce"], "needs an experiment NAME"),
    (["bench", "--codes", "zero"], "invalid _positive value"),
    (["bench", "--nearest-dims", "2,x"], "positive integers separated by commas"),
    (["evaluate", "."], "is not a training directory"),
])
def test_bad_arguments_give_a_usage_error_not_a_traceback(args, message):
    done = vqlit(*args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_sigkilled_run_resumes_to_exactly_the_uninterrupted_weights(tmp_path):
    name = "vq_ema_mnist"                                  # EMA buffers and Adam moments both
    whole = vqlit("train", name, "--scale", "smoke", "--device", "cpu", "--out", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    total = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["step"]

    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "vqlit", "train", name, "--scale", "smoke",
                             "--device", "cpu", "--out", str(cut)], env=ENV, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (cut / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(cut / "checkpoint.pt")["step"]     # whole, never half-written
    assert killed_at < total, "the run ended before it could be killed; the test proves nothing"
    assert not list(cut.glob(".*.tmp"))

    refused = vqlit("train", name, "--scale", "smoke", "--device", "cpu", "--out", cut)
    assert refused.returncode == 2 and "--resume" in refused.stderr      # nothing is overwritten
    resumed = vqlit("train", name, "--scale", "smoke", "--device", "cpu", "--out", cut, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(tmp_path / "whole"), weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})    # no repeated rows


def test_torchrun_two_processes_equal_one_process_on_the_combined_batch(tmp_path):
    # Three steps: Adam divides by sqrt(v), so over many steps rounding-level differences in
    # near-zero gradient coordinates grow; three keep the comparison at the rounding level.
    args = ["train", "vq_ema_mnist", "--scale", "smoke", "--device", "cpu", "--max-steps", "3"]
    one = vqlit(*args, "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", "-m", "vqlit", *args, "--out",
                          str(tmp_path / "two")], capture_output=True, text=True, env=ENV,
                         cwd=ROOT, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert load_checkpoint(tmp_path / "two" / "checkpoint.pt")["step"] == 3
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), k    # same updates, up to rounding
    assert not torch.equal(a["quantizer.ema_counts"], torch.zeros_like(a["quantizer.ema_counts"]))


def test_reproduce_writes_metrics_paper_numbers_and_provenance(tmp_path):
    done = vqlit("reproduce", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out",
                 tmp_path / "results", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [path] = (tmp_path / "results").glob("*.json")
    record = check_record(json.loads(path.read_text()))                # the results schema
    assert path.name == f"vq_nn_{record['dataset']}.json"                # named for its data
    assert record["experiment"] == "vq_nn_mnist" and record["config"]["train"]["steps"] == 60
    assert record["config"]["model"]["quantizer"].startswith("VectorQuantizer(num_codes=1024")
    assert {"psnr", "ssim", "usage", "perplexity"} <= set(record["metrics"])
    assert {"commit", "device", "torch", "date", "wall_time_s", "scale"} <= set(record["provenance"])
    assert record["paper"] is None       # this book's row: the paper's baseline is vq_nn_ce_mnist
    assert record["source"].startswith("this book")
    if record["dataset"] != "mnist":     # a smoke run on another data set says so
        assert "not the paper's mnist" in record["notes"][-1]
    shown = vqlit("evaluate", tmp_path / "runs" / "vq_nn_mnist-smoke", "--device", "cpu")
    assert shown.returncode == 0, shown.stderr
    assert abs(json.loads(shown.stdout)["psnr"] - record["metrics"]["psnr"]) < 1e-4


def test_reproduce_group_records_mean_and_sd_over_seeds_per_member(tmp_path, monkeypatch):
    members = ("compare_nn_mnist", "compare_optvq_h4_mnist")
    monkeypatch.setitem(GROUPS, "pair", Group("pair", "two members", members, {"smoke": 2}))
    monkeypatch.chdir(tmp_path)
    paths = reproduce_group("pair", scale="smoke", out=tmp_path / "results", runs=tmp_path / "runs",
                            device="cpu", dataset="digits", progress=False)
    assert sorted(p.name for p in paths) == ["compare_nn_digits.json", "compare_optvq_h4_digits.json"]
    records = [check_record(json.loads(p.read_text())) for p in paths]
    for record in records:
        m = record["metrics"]
        assert m["seeds"] == 2 and m["step_ms"] > 0 and m["bits_per_image"] > 0
        assert record["paper"] is None and record["dataset"] == "digits"
    for seed in (0, 1):                   # every run trained into its own resumable directory
        assert (tmp_path / "runs" / "pair" / f"compare_nn_mnist-smoke-seed{seed}" /
                "checkpoint.pt").is_file()
    summary = load_group("pair", "digits", tmp_path / "results")
    assert set(summary) == set(members) and summary["compare_nn_mnist"]["alone_agreement"] == 1.0
    assert load_group("pair", "mnist", tmp_path / "results") is None        # not recorded there
    assert all(r["metrics"]["psnr_sd"] > 0 for r in records)         # the seeds differ


def test_bench_json_has_one_row_per_quantizer_with_ratios_and_provenance(tmp_path):
    args = ["bench", "--device", "cpu", "--tokens", "256", "--codes", "128", "--dim", "8",
            "--repeats", "2", "--nearest-dims", "2,8", "--json", "--out", tmp_path / "b.json"]
    done = vqlit(*args)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)                       # one JSON document, as recorded
    assert json.loads((tmp_path / "b.json").read_text()) == doc
    assert doc["name"] == "bench_cpu" and doc["command"].startswith("python -m vqlit bench")
    prov = doc["provenance"]
    assert {"commit", "device", "capability", "torch", "triton", "python", "date",
            "elapsed_s"} <= set(prov) and "wall_time_s" not in prov
    assert prov["torch"] == torch.__version__ and prov["capability"] is None    # a CPU
    rows = doc["rows"]
    from vqlit.bench import LIMIT, QUANTIZERS
    assert [r["quantizer"] for r in rows] == [LIMIT, *QUANTIZERS]
    assert rows[0]["ratio_to_limit"] == 1.0 and rows[1]["ratio_to_nn"] == 1.0
    assert all(r["ratio_to_limit"] == r["ms"] / rows[0]["ms"] for r in rows if "ms" in r)
    assert all(r["ms"] > 0 and r["peak_mib"] is None for r in rows if "ms" in r)
    paths = [(r["path"], r["dim"]) for r in doc["nearest"]]
    assert paths == [("torch", 2), ("fused", 2), ("torch", 8), ("fused", 8)]   # side by side
    for r in doc["nearest"]:                 # no CUDA here: the fused rows say so, nothing fails
        assert r["ms"] > 0 if r["path"] == "torch" else r["skipped"].startswith("not available")
    priors = doc["priors"]                   # the second stage's rows, timed in the same run
    assert [(r["prior"], r["task"]) for r in priors] == [
        ("Gated PixelCNN", "training step, batch 32"), ("Gated PixelCNN", "one grid"),
        ("transformer", "training step, batch 32"), ("transformer", "one grid, no cache"),
        ("transformer", "one grid, key/value cache")]
    assert all(r["ms"] > 0 and r["codes"] == 512 and r["grid"] == [8, 8] for r in priors)
    assert priors[-1]["speedup_over_no_cache"] == priors[-2]["ms"] / priors[-1]["ms"]
    text = vqlit(*args[:-3], "--repeats", "1", "--no-priors")
    assert text.returncode == 0 and "not available" in text.stdout and "commit " in text.stdout
    assert "key/value cache" not in text.stdout


def test_bench_forces_each_nearest_path_and_restores_the_default(monkeypatch):
    from vqlit import nearest_triton
    from vqlit.bench import bench_nearest, nearest_path
    seen = []

    def nearest(z, e):                       # stands in for nearest_code: which path was asked
        seen.append(nearest_triton.ENABLED)
        if nearest_triton.ENABLED and broken:
            nearest_triton.FAILED["nearest"] = "CompilationError: no"   # as try_fused records
        return z[:, 0].long()

    monkeypatch.setattr("vqlit.bench.nearest_code", nearest)
    monkeypatch.setattr(nearest_triton, "FAILED", {})
    monkeypatch.setattr(nearest_triton, "fused_wanted", lambda device, dim: nearest_triton.ENABLED)
    monkeypatch.setattr("vqlit.bench.fused_unavailable",          # as on a GPU with Triton
                        lambda device: nearest_triton.FAILED.get("nearest"))
    default, broken = nearest_triton.ENABLED, False
    rows = bench_nearest(device="cpu", tokens=8, codes=4, dims=(2,), repeats=1, warmup=0)
    assert nearest_triton.ENABLED == default
    assert set(seen) == {True, False} and seen[0] is False        # the torch path first
    assert rows[1]["path"] == "fused" and rows[1]["agreement"] == 1.0
    broken = True                            # the kernel fails: nearest_code ran the torch path
    rows = bench_nearest(device="cpu", tokens=8, codes=4, dims=(2,), repeats=1, warmup=0)
    assert rows[1]["skipped"] == "not available: CompilationError: no"   # not a torch timing
    with pytest.raises(ValueError, match="path must be one of"):
        with nearest_path("cuda"):
            pass


def test_bench_rejects_nonsense_sizes():
    with pytest.raises(ValueError, match="tokens must be at least 1"):
        bench(device="cpu", tokens=0)


def test_a_second_training_on_a_directory_in_use_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (out / ".lock").write_text(str(sleeper.pid))           # a live training holds it
        done = vqlit("train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out", out,
                     "--dataset", "digits")
        assert done.returncode == 2 and f"in use by another training (process {sleeper.pid})" \
            in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not (out / "run.json").exists()                 # nothing of it was touched
    finally:
        sleeper.kill()
        sleeper.wait()
    done = vqlit("train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out", out,
                 "--dataset", "digits", "--max-steps", "3")     # the holder is gone: taken over
    assert done.returncode == 0, done.stderr
    assert not (out / ".lock").exists()


def test_a_refused_resume_leaves_the_run_as_it_was(tmp_path):
    out = tmp_path / "run"
    first = vqlit("train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out", out,
                  "--dataset", "digits", "--max-steps", "3")
    assert first.returncode == 0, first.stderr
    before = (out / "run.json").read_text()
    for other in (["--scale", "quick"], ["--dataset", "fashion-mnist"]):
        args = ["--scale", "smoke", *other] if other[0] == "--dataset" else other
        done = vqlit("train", "vq_nn_mnist", *args, "--device", "cpu", "--out", out, "--resume")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert (out / "run.json").read_text() == before
    again = vqlit("evaluate", out, "--device", "cpu")
    assert again.returncode == 0 and json.loads(again.stdout)["scale"] == "smoke"


def test_a_run_json_naming_another_run_is_refused(tmp_path):
    out = tmp_path / "run"
    done = vqlit("train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out", out,
                 "--dataset", "digits", "--max-steps", "2")
    assert done.returncode == 0, done.stderr
    kept = json.loads((out / "run.json").read_text())
    for edit in ({"experiment": "compare_nn_mnist"}, {"seed": kept["seed"] + 1}):
        (out / "run.json").write_text(json.dumps({**kept, **edit}))
        done = vqlit("evaluate", out, "--device", "cpu")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "vq_nn_mnist at smoke on digits, seed 0" in done.stderr, done.stderr
    (out / "run.json").write_text(json.dumps({**kept, "experiment": "compare_nn_mnist"}))
    resumed = vqlit("train", "compare_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out",
                    out, "--dataset", "digits", "--resume")   # run.json says so, the checkpoint not
    assert resumed.returncode == 2 and "different recipe" in resumed.stderr, resumed.stderr
    (out / "run.json").write_text(json.dumps(kept))
    again = vqlit("evaluate", out, "--device", "cpu")
    assert again.returncode == 0 and json.loads(again.stdout)["experiment"] == "vq_nn_mnist"


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_a_corrupt_checkpoint_is_named_and_not_loaded_unsafely(tmp_path, damage):
    out = tmp_path / "run"
    done = vqlit("train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out", out,
                 "--dataset", "digits", "--max-steps", "2")
    assert done.returncode == 0, done.stderr
    ckpt = out / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2] if damage == "truncated" else os.urandom(len(data)))
    for args in (["evaluate", out, "--device", "cpu"],
                 ["train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out", out,
                  "--dataset", "digits", "--resume"]):
        done = vqlit(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "checkpoint.pt is not a readable checkpoint" in done.stderr
        assert "Delete it" in done.stderr


def test_small_output_directory_faults_give_one_line(tmp_path):
    (tmp_path / "a_file").write_text("")
    for out in (tmp_path / "a_file", tmp_path / "a_file" / "under"):
        done = vqlit("train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out", out,
                     "--dataset", "digits", "--max-steps", "1")
        assert done.returncode == 2 and "is not a directory" in done.stderr, done.stderr
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{not json")
    done = vqlit("evaluate", tmp_path / "run")
    assert done.returncode == 2 and "run.json is not valid JSON" in done.stderr, done.stderr
    (tmp_path / "run" / "run.json").write_text('{"experiment": "vq_nn_mnist"}')
    done = vqlit("evaluate", tmp_path / "run")
    assert done.returncode == 2 and "must name experiment, scale" in done.stderr, done.stderr
    fresh = vqlit("train", "vq_nn_mnist", "--scale", "smoke", "--device", "cpu", "--out",
                  tmp_path / "new", "--dataset", "digits", "--max-steps", "1", "--resume")
    assert fresh.returncode == 0 and "holds no checkpoint to resume" in fresh.stdout, fresh.stderr


# Checks moved from Appendix E's pages (book/chapters/a4a_registry.md, a4b_runs.md).

def test_the_soft_noise_sweep_is_one_protocol_and_includes_the_released_setting():
    from types import SimpleNamespace

    from vqlit.experiments import SOFT_NOISES, get_experiment
    grey_soft = SimpleNamespace(image_shape=(1, 28, 28),
                                train_images=torch.zeros(4, 1, 28, 28, dtype=torch.uint8))
    swept = [get_experiment(f"soft_noise{n:g}_mnist").model(grey_soft).quantizer.noise_std
             for n in SOFT_NOISES]
    assert swept == list(SOFT_NOISES) and 0.0 in swept                  # the released setting too
    released = get_experiment("soft_bayes_mnist")
    assert all(get_experiment(f"soft_noise{n:g}_mnist").recipes == released.recipes
               for n in SOFT_NOISES)                                    # one protocol for the sweep


def test_summarize_gives_the_mean_and_the_sample_sd_over_seeds():
    import numpy as np

    from vqlit.experiments import GroupRun, summarize
    runs = [GroupRun("a", s, None, None, None, None, {"psnr": p, "notes": ["x"]})
            for s, p in enumerate((20.0, 22.0, 27.0))]
    runs.append(GroupRun("b", 0, None, None, None, None, {"psnr": 5.0}))
    summary = summarize(runs)
    assert summary["a"]["psnr"] == 23.0 and summary["a"]["seeds"] == 3
    assert abs(summary["a"]["psnr_sd"] - np.std([20.0, 22.0, 27.0], ddof=1)) < 1e-12   # NumPy
    assert summary["b"] == {"seeds": 1, "psnr": 5.0, "psnr_sd": 0.0}


def test_the_facade_keeps_every_name_of_the_old_experiments_module():
    import vqlit
    import vqlit.experiments as experiments
    old = ['Experiment', 'EXPERIMENTS', 'register', 'get_experiment', 'VQ_SCALES', 'OPTVQ_SCALES',
           'VQWAE_SCALES', 'VQWAE_LIVE_SCALES', 'SOFT_SCALES', 'SOFT_NOISES', 'COMPARE_SCALES',
           'COMPARE_SEEDS', 'COMPARE_METHODS', 'Group', 'GROUPS', 'prepare_data',
           'train_experiment', 'expected_cost', 'measure', 'evaluate_run', 'compare_metrics',
           'reproduce', 'record_run', 'results_table', 'GroupRun', 'get_group', 'run_group',
           'summarize', 'reproduce_group', 'load_group', 'group_table']
    assert [n for n in old if not hasattr(experiments, n)] == []
    for name in ("EXPERIMENTS", "train_experiment", "expected_cost", "reproduce"):
        assert getattr(vqlit, name) is getattr(experiments, name)


def test_reproduce_papers_runs_every_row_that_has_a_paper_number_on_its_own_data(monkeypatch,
                                                                                capsys):
    import vqlit.cli as cli
    ran = []
    monkeypatch.setattr(cli, "reproduce",
                        lambda name, **kw: ran.append((name, kw.get("dataset"))) or f"{name}.json")
    assert cli.main(["reproduce", "--papers", "--scale", "smoke", "--device", "cpu"]) == 0
    rows = sorted(n for n, e in EXPERIMENTS.items() if e.paper)
    assert [n for n, _ in ran] == rows and all(d is None for _, d in ran)   # the paper's data
    assert {"vq_nn_ce_mnist", "soft_vae_mnist", "wae_vqwae_cifar10", "optvq_mnist"} <= set(rows)
    assert f"{len(rows)} paper rows" in capsys.readouterr().out
