"""The training loop (vqlit.train, from Appendix C): scales, config, checkpoints, exact resume."""
import json
import os
import pickle

import pytest
import torch

from vqlit.data import load_dataset
from vqlit.models import small_cnn_autoencoder
from vqlit.train import (TrainConfig, fit, load_checkpoint, quiet_finite_checks, resolve_device,
                         resolve_scale, save_checkpoint)
from vqlit.ema import EMAVectorQuantizer
from vqlit.vq import VectorQuantizer

IMAGES = load_dataset("digits", image_size=16, verbose=False).train_images[:256]   # (256, 1, 16, 16) uint8


def model_with(quantizer_cls):
    torch.manual_seed(0)
    return small_cnn_autoencoder(quantizer_cls(num_codes=32, dim=8))


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_scales_and_devices():
    assert resolve_scale("auto", "cpu") == "quick"
    assert [resolve_scale(s) for s in ("smoke", "quick", "full")] == ["smoke", "quick", "full"]
    with pytest.raises(ValueError, match="scale must be one of"):
        resolve_scale("medium")
    with pytest.raises(ValueError, match="not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"


@pytest.mark.parametrize("field, value", [("optimizer", "sgd"), ("schedule", "cosine"), ("steps", 0),
                                          ("batch_size", 0), ("lr", 0.0)])
def test_config_is_checked(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("quantizer_cls", [VectorQuantizer, EMAVectorQuantizer])
@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
def test_stopped_and_resumed_equals_uninterrupted(tmp_path, quantizer_cls, schedule):
    recipe = dict(steps=24, batch_size=32, lr=3e-3, schedule=schedule, optimizer="adamw", weight_decay=0.05,
                  grad_clip=1.0, log_every=5, progress=False)
    whole = model_with(quantizer_cls)
    fit(whole, IMAGES, TrainConfig(**recipe), device="cpu")

    first = model_with(quantizer_cls)
    calls = {"n": 0}

    def stop(module, args):                 # stop inside step 17: after the step-12 checkpoint and
        calls["n"] += 1                     # the step-15 row, which the resumed run writes again
        if calls["n"] == 17:
            raise KeyboardInterrupt
    handle = first.register_forward_pre_hook(stop)
    with pytest.raises(KeyboardInterrupt):
        fit(first, IMAGES, TrainConfig(**recipe, checkpoint_every=6, out_dir=str(tmp_path)), device="cpu")
    handle.remove()
    resumed = model_with(quantizer_cls)
    result = fit(resumed, IMAGES, TrainConfig(**recipe, checkpoint_every=6, out_dir=str(tmp_path)), device="cpu")
    assert result.resumed_from == 12 and result.steps == 24
    assert same_weights(whole, resumed)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 24]          # the step-15 row written once
    assert [r["step"] for r in result.history] == [5, 10, 15, 20, 24]


def test_checkpoint_loads_with_weights_only(tmp_path):
    model = model_with(VectorQuantizer)
    fit(model, IMAGES, TrainConfig(steps=3, batch_size=16, progress=False, out_dir=str(tmp_path)), device="cpu")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3 and set(state) >= {"model", "optimizer", "batcher", "rng", "config"}


def test_finished_run_is_not_retrained(tmp_path):
    config = TrainConfig(steps=3, batch_size=16, progress=False, out_dir=str(tmp_path))
    fit(model_with(VectorQuantizer), IMAGES, config, device="cpu")
    again = fit(model_with(VectorQuantizer), IMAGES, config, device="cpu")
    assert again.resumed_from == 3 and again.steps == 3


def test_a_fresh_run_starts_a_fresh_log(tmp_path):
    config = dict(steps=4, batch_size=16, log_every=2, progress=False, out_dir=str(tmp_path))
    fit(model_with(VectorQuantizer), IMAGES, TrainConfig(**config), device="cpu")
    fit(model_with(VectorQuantizer), IMAGES, TrainConfig(**config, resume=False), device="cpu")
    (tmp_path / "checkpoint.pt").unlink()                            # as after a crash before any
    fit(model_with(VectorQuantizer), IMAGES, TrainConfig(**config), device="cpu")   # checkpoint
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4]


def test_resume_with_a_different_recipe_is_refused(tmp_path):
    fit(model_with(VectorQuantizer), IMAGES, TrainConfig(steps=3, batch_size=16, progress=False,
                                                         out_dir=str(tmp_path)), device="cpu")
    with pytest.raises(ValueError, match="different recipe.*batch_size"):
        fit(model_with(VectorQuantizer), IMAGES, TrainConfig(steps=6, batch_size=32, progress=False,
                                                             out_dir=str(tmp_path)), device="cpu")


def test_failed_save_keeps_the_previous_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "ck.pt", {"step": 1, "w": torch.ones(3)})
    with pytest.raises((pickle.PicklingError, AttributeError)):   # a lambda cannot be saved
        save_checkpoint(path, {"step": 2, "w": torch.ones(3), "bad": lambda: None})
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_loss_falls():
    model = model_with(VectorQuantizer)
    run = fit(model, IMAGES, TrainConfig(steps=30, batch_size=32, lr=3e-3, log_every=10, progress=False),
              device="cpu")
    assert run.history[-1]["recon"] < run.history[0]["recon"]
    assert [r["step"] for r in run.history] == [10, 20, 30] and run.steps == 30


def test_a_nan_loss_stops_the_run_at_the_end_of_its_window():
    model = model_with(VectorQuantizer)
    model.quantizer.check_finite = False                  # as on CUDA: only the window's check
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="window ending at step 4"):
        fit(model, IMAGES, TrainConfig(steps=8, batch_size=16, log_every=4, progress=False), device="cpu")


def test_quiet_finite_checks_switches_off_only_the_checks_that_are_on():
    model = small_cnn_autoencoder(VectorQuantizer(num_codes=8, dim=8))
    assert quiet_finite_checks(model) == [model.quantizer] and model.quantizer.check_finite is False
    assert quiet_finite_checks(model) == []                           # nothing left to switch off


def test_a_nan_state_never_replaces_the_last_good_checkpoint(tmp_path, monkeypatch):
    import vqlit.train as train
    step_calls, real_step = [], train._train_step

    def poisoned(*args, model, **kwargs):                  # the update of step 16 goes NaN
        out = real_step(*args, model=model, **kwargs)
        step_calls.append(1)
        if len(step_calls) == 16:
            with torch.no_grad():
                next(model.decoder.parameters()).fill_(float("nan"))
        return out

    monkeypatch.setattr(train, "_train_step", poisoned)
    model = model_with(VectorQuantizer)
    config = TrainConfig(steps=20, batch_size=32, checkpoint_every=8, log_every=50,
                         out_dir=str(tmp_path), progress=False)
    with pytest.raises(FloatingPointError, match="at step 16 .*checkpoint.pt still holds"):
        fit(model, IMAGES, config, device="cpu")
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 8
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert not (tmp_path / ".lock").exists()                # released on the way out


def test_a_full_disk_says_so_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from vqlit.train import save_checkpoint
    save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})

    def full(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos") from \
            OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match="no space left on the device.*previous checkpoint"):
        save_checkpoint(tmp_path / "checkpoint.pt", {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_a_torn_metrics_line_does_not_block_resume(tmp_path):
    config = TrainConfig(steps=6, batch_size=32, log_every=2, checkpoint_every=2,
                         out_dir=str(tmp_path), progress=False, stop_at=4)
    fit(model_with(VectorQuantizer), IMAGES, config, device="cpu")
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "lo')                           # a kill during a write
    config.stop_at = None
    result = fit(model_with(VectorQuantizer), IMAGES, config, device="cpu")
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert result.steps == 6 and steps == [2, 4, 6]


def test_a_stale_lock_and_cut_saves_are_cleared_with_a_message(tmp_path, capsys):
    import subprocess
    import sys
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()                                                     # a process id that has ended
    (tmp_path / ".lock").write_text(str(gone.pid))
    (tmp_path / ".checkpoint.pt.12345.tmp").write_bytes(b"half")   # a save a kill cut short
    config = TrainConfig(steps=2, batch_size=16, out_dir=str(tmp_path), progress=False)
    fit(model_with(VectorQuantizer), IMAGES, config, device="cpu")
    assert f"held by process {gone.pid}, which has ended" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / ".lock").exists()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2


@pytest.mark.parametrize("capability, expected", [((6, 0), "fp32"), ((7, 0), "fp32"),
                                                  ((7, 5), "fp32"), ((8, 0), "bf16"),
                                                  ((8, 9), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_is_bf16_only_from_compute_capability_8(monkeypatch, capability, expected):
    """A T4 (7.5) or V100 (7.0) has no bfloat16 units: "auto" is fp32 there, and an explicit
    "bf16" is refused with a sentence that names the capability."""
    from vqlit.train import resolve_precision
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    cuda = torch.device("cuda")
    assert resolve_precision("auto", cuda) == expected
    assert resolve_precision("fp32", cuda) == "fp32"
    if expected == "fp32":
        with pytest.raises(ValueError, match=f"capability 8.0 or more; Tesla T4 has "
                                             f"{capability[0]}.{capability[1]}"):
            resolve_precision("bf16", cuda)
    else:
        assert resolve_precision("bf16", cuda) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", cuda)


def test_auto_scale_is_quick_on_every_device():
    from vqlit.train import resolve_scale
    assert resolve_scale("auto", "cpu") == "quick"
    assert resolve_scale("full", "cpu") == "full"


def test_loop_parts_rng_log_files_and_quiet_checks(tmp_path):
    """Moved from Appendix C's loop page: the generators' state, the run's files, the NaN checks."""
    import json

    import vqlit.train as train
    from vqlit.models import small_cnn_autoencoder
    from vqlit.vq import VectorQuantizer

    cpu = torch.device("cpu")
    saved = train._rng_state(cpu)
    draws = torch.rand(3)
    train._set_rng_state(saved, cpu)
    assert torch.equal(torch.rand(3), draws)
    assert train._run_files(TrainConfig(), rank=0) == (None, None)
    ckpt, log = train._run_files(TrainConfig(out_dir=str(tmp_path / "files")), rank=0)
    assert ckpt.parent == log.parent == tmp_path / "files" and log.name == "metrics.jsonl"
    assert train._run_files(TrainConfig(out_dir=str(tmp_path / "files")), rank=1)[1] is None
    kept = []
    release = train.claim_dir(log.parent)
    train._append_row({"step": 1}, kept, log)
    train._append_row({"step": 2}, kept, log)
    release()
    assert kept == [json.loads(line) for line in log.read_text().splitlines()]
    model = small_cnn_autoencoder(VectorQuantizer(num_codes=16, dim=8))
    quieted = quiet_finite_checks(model)
    assert quieted == [model.quantizer] and model.quantizer.check_finite is False
