"""The fused nearest-code kernel (vqlit.nearest_triton, Chapter 4) against a float64 brute force.

Without a GPU it runs in Triton's interpreter, in a fresh process (TRITON_INTERPRET=1 must be set
before the kernels are defined); tests/test_cuda.py runs it compiled.
"""
import importlib.util
import warnings

import numpy as np
import pytest
import torch

import vqlit.nearest_triton as nt
from test_sinkhorn_triton import compile_errors, interpreted, interpreter_only
from vqlit.vq import nearest_code

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                  reason="Triton is not installed")

CHECK = """
    import torch
    from vqlit.nearest_triton import fused_nearest
    EXACT = "donot_use_mm_for_euclid_dist"
    g = torch.Generator().manual_seed(0)
    shapes = [(1, 1, 1), (150, 70, 5), (300, 257, 16), (64, 64, 64), (65, 129, 3)]
    for n, k, d in shapes:
        for scale in (1.0, 1e-3, 1e3):
            z = scale * torch.randn(n, d, generator=g)
            e = scale * torch.randn(k, d, generator=g)
            d64 = torch.cdist(z.double(), e.double(), compute_mode=EXACT).square()    # (N, K)
            got = fused_nearest(z, e)
            gap = d64.gather(1, got[:, None]) - d64.amin(1, keepdim=True)
            assert (gap <= 1e-6 * d64.amin(1, keepdim=True) + 1e-30).all(), (n, k, d, scale)
    e = torch.randn(20, 4, generator=g).repeat(5, 1)                            # 5 copies of 20
    got = fused_nearest(torch.randn(200, 4, generator=g), e)
    assert (got < 20).all()                                                     # lowest index
    for block_m, block_k in ((16, 16), (128, 32)):
        z, e = torch.randn(99, 6, generator=g), torch.randn(77, 6, generator=g)
        want = torch.cdist(z.double(), e.double(), compute_mode=EXACT).argmin(1)
        assert torch.equal(fused_nearest(z, e, block_m=block_m, block_k=block_k), want)
    # NaN: a NaN feature gets code 0, a NaN code (here in the second tile) is everyone's, as
    # torch.argmin's first NaN; never an index past the codebook
    z, e = torch.randn(70, 3, generator=g), torch.randn(90, 3, generator=g)
    for cell in ((z, (5, 0)), (e, (77, 1)), (e, (3, 2))):
        cell[0][cell[1]] = float("nan")
        got = fused_nearest(z, e, block_k=64)
        want = torch.cdist(z.double(), e.double(), compute_mode=EXACT).argmin(1)
        assert torch.equal(got, want) and got.max() < 90, (cell[1], got, want)
    print("ok")
"""


@needs_triton
@interpreter_only
def test_fused_nearest_codes_are_a_float64_brute_force_up_to_float32_ties(tmp_path):
    assert interpreted(CHECK, tmp_path).strip() == "ok"


@needs_triton
@interpreter_only
def test_fused_nearest_refuses_what_it_cannot_compute(tmp_path):
    out = interpreted("""
        import torch
        from vqlit.nearest_triton import fused_nearest
        for z, e, word in ((torch.randn(4, 3).double(), torch.randn(5, 3).double(), "float32"),
                           (torch.randn(4, 3), torch.randn(5, 2), "(N, d)"),
                           (torch.randn(4, 3), torch.randn(0, 3), "non-empty")):
            try:
                fused_nearest(z, e)
                raise AssertionError("accepted")
            except ValueError as err:
                assert word in str(err), err
        print("ok")
    """, tmp_path)
    assert out.strip() == "ok"


def test_off_the_gpu_without_the_interpreter_it_says_what_it_needs():
    from vqlit.nearest_triton import fused_nearest, triton_available
    if triton_available("cpu"):
        pytest.skip("the interpreter is on in this process")
    with pytest.raises(RuntimeError, match="needs Triton and a CUDA device"):
        fused_nearest(torch.randn(4, 3), torch.randn(5, 3))


@pytest.fixture
def fresh_probe():
    """interpreter_works() probed anew in the test, and again after it (it caches per process)."""
    nt.interpreter_works.cache_clear()
    yield
    nt.interpreter_works.cache_clear()


@needs_triton
def test_the_probe_says_no_where_the_interpreter_raises(monkeypatch, fresh_probe):
    from triton.runtime.errors import InterpreterError

    class Kernel:                    # what Triton 3.6's interpreter does with range(0, K, BLOCK_K)
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                raise InterpreterError("TypeError('only 0-dimensional arrays can be converted "
                                       "to Python scalars')")
            return launch

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(nt, "_nearest_kernel", Kernel())
    assert nt.interpreter_works() is False
    assert nt.triton_available("cpu") is False           # so no caller takes the kernels there
    with pytest.raises(RuntimeError, match="needs Triton and a CUDA device"):
        nt.fused_nearest(torch.randn(4, 3), torch.randn(5, 3))


@needs_triton
def test_the_probe_knows_the_releases_that_fail_without_running_them(monkeypatch, fresh_probe):
    monkeypatch.setattr(nt.triton, "__version__", "3.6.0")
    monkeypatch.setattr(np, "__version__", "2.4.1")
    monkeypatch.setattr(nt, "_probe", lambda: pytest.fail("probed a known-bad release"))
    monkeypatch.setattr(nt.subprocess, "run", lambda *a, **k: pytest.fail("probed in a process"))
    assert nt.interpreter_works() is False


@needs_triton
def test_the_probe_runs_the_kernel_in_a_fresh_interpreter(fresh_probe):
    known_bad = (nt._version(nt.triton.__version__) < (3, 7)
                 and nt._version(np.__version__) >= (2, 4))
    assert nt.interpreter_works() is not known_bad      # a real run, in a process that interprets


def test_nearest_code_falls_back_with_one_warning_when_the_kernel_fails(monkeypatch):
    for error in compile_errors():
        calls = []

        def cannot_compile(*args, error=error, **kwargs):
            calls.append(1)
            raise error

        z, e = torch.randn(50, 4), torch.randn(30, 4)
        want = nearest_code(z, e)                                      # the torch path
        monkeypatch.setattr(nt, "FAILED", {})
        monkeypatch.setattr(nt, "fused_wanted", lambda device, dim: True)   # as on CUDA
        monkeypatch.setattr(nt, "fused_nearest", cannot_compile)           # the launch raises
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = [nearest_code(z, e) for _ in range(3)]
        fell_back = [w for w in caught if issubclass(w.category, nt.FusedKernelWarning)]
        assert len(fell_back) == 1 and len(calls) == 1, error             # once per process
        message = str(fell_back[0].message)
        assert "'nearest'" in message and str(error) in message and "ENABLED = False" in message
        assert all(torch.equal(codes, want) for codes in got)
        monkeypatch.undo()


@needs_triton
def test_the_fused_nearest_search_runs_where_measured_faster_or_forced(monkeypatch):
    monkeypatch.setattr(nt, "ENABLED", None)
    monkeypatch.setattr(nt, "FASTER_DIMS", frozenset())
    assert not any(nt.fused_wanted("cuda", d) for d in range(1, 257))      # none measured yet
    monkeypatch.setattr(nt, "FASTER_DIMS", frozenset({64}))
    assert nt.fused_wanted("cuda", 64) and not nt.fused_wanted("cuda", 8)
    monkeypatch.setattr(nt, "ENABLED", True)
    assert nt.fused_wanted("cuda", 8) and not nt.fused_wanted("cpu", 8)     # CUDA only
    monkeypatch.setattr(nt, "ENABLED", False)
    assert not nt.fused_wanted("cuda", 64)
