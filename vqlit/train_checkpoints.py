# This file is generated from book/chapters/a3b_checkpoints.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a3b_checkpoints.md: statements
"""Checkpoints written atomically and loaded without unpickling code, one run per output
directory (a lock file), and the check that keeps a non-finite state out of a checkpoint."""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn


# %% book/chapters/a3b_checkpoints.md: def save_checkpoint
def save_checkpoint(path: str | Path, state: dict) -> Path:
    """torch.save to a temporary file, fsync, then an atomic rename over `path`.

    A write that fails (a full disk, a lost mount) raises OSError naming the file and the reason;
    the previous checkpoint stays as it was.

    Args:
        path: the checkpoint file; its directory is created where missing.
        state: what to save: tensors, numbers, strings and containers of them, which load with
            weights_only=True.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:           # torch reports a full disk as RuntimeError
        chain = [err]
        while chain[-1].__cause__ or chain[-1].__context__:
            chain.append(chain[-1].__cause__ or chain[-1].__context__)
        full = any(getattr(e, "errno", None) == errno.ENOSPC or "No space left" in str(e)
                   for e in chain)
        reason = "no space left on the device" if full else f"{type(err).__name__}: {err}"
        raise OSError(f"could not write the checkpoint {path} ({reason}); the previous "
                      "checkpoint, if any, is intact") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


# %% book/chapters/a3b_checkpoints.md: def load_checkpoint
def load_checkpoint(path: str | Path, map_location=None) -> dict:
    """Load a checkpoint without unpickling arbitrary objects (weights_only=True). A file that is
    not a readable checkpoint (truncated, corrupt, another format) raises ValueError naming it.

    Args:
        path: the checkpoint file; a missing one raises FileNotFoundError.
        map_location: as in torch.load: the device the tensors are loaded onto; None keeps the
            devices they were saved from.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:                  # torch's own text advises weights_only=False: no
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}): it is "
                         "truncated, corrupt or not a vqlit checkpoint. Delete it, or restore a "
                         "copy, to train from the start; never load an untrusted file with "
                         "weights_only=False, which runs any code it holds") from None


# %% book/chapters/a3b_checkpoints.md: def claim_dir, def _alive
def claim_dir(out: str | Path) -> Callable[[], None]:
    """Claim directory `out` for this process (out/.lock holds its pid) and remove the temporary
    files of interrupted saves; returns the function that releases it (a no-op where this process
    holds it already). ValueError if a live process holds it, or `out` is not a directory.

    Args:
        out: the run's output directory, created where missing.
    """
    out = Path(out)
    if out.exists() and not out.is_dir() or any(p.is_file() for p in out.parents):
        raise ValueError(f"{out} is not a directory; out_dir must be one, or not exist yet")
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".lock"
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder == os.getpid():
                return lambda: None                                  # held by this process
            if holder and _alive(holder):
                raise ValueError(f"{out} is in use by another training (process {holder}); wait "
                                 "for it to end, or choose another output directory") from None
            lock.unlink(missing_ok=True)                             # its process is gone
            print(f"note: {lock} was held by process {holder}, which has ended; taking it over")
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        for tmp in out.glob(".checkpoint.pt.*.tmp"):                # from saves a kill cut short
            tmp.unlink(missing_ok=True)
        return lambda: lock.unlink(missing_ok=True)
    raise ValueError(f"could not claim {out}: its lock file keeps changing")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                          # another user's process: alive
        return True
    return True


# %% book/chapters/a3b_checkpoints.md: def check_finite_state
def check_finite_state(model: nn.Module, *, step: int, keep: Path | None = None) -> None:
    """Raise FloatingPointError if a floating-point parameter or buffer of `model` holds NaN or
    infinity.

    Args:
        model: the module whose state_dict is checked.
        step: the training step, named in the error.
        keep: the checkpoint left untouched, which the error names as the one to resume from;
            None names none.
    """
    floats = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    finite = torch.stack([torch.isfinite(v).all() for v in floats.values()])     # (tensors,)
    if not bool(finite.all()):
        bad = [k for k, ok in zip(floats, finite.tolist()) if not ok]
        where = f"; {keep} still holds the last good state, resume from it" if keep else ""
        raise FloatingPointError(f"at step {step} the model holds NaN or infinity in "
                                 f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}{where}")


__all__ = ['save_checkpoint', 'load_checkpoint', 'claim_dir', 'check_finite_state']
