"""The fused Triton kernels of Chapter 4 (vqlit.sinkhorn_triton) against the torch path.

Without a GPU they run in Triton's interpreter (TRITON_INTERPRET=1, which must be set before the
kernels are defined, so each check runs in a fresh process); with one, tests/test_cuda.py runs
them compiled. Skipped where Triton is not installed, or where its interpreter cannot run them
(vqlit.nearest_triton.interpreter_works). The guards that need no kernel (a kernel that fails to
compile falls back to the torch path) run everywhere.
"""
import importlib.util
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

import vqlit.nearest_triton as nt
import vqlit.sinkhorn_triton as st
from vqlit.optvq import SinkhornQuantizer, sinkhorn_assign

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                  reason="Triton is not installed")


def _interpreter_only():
    """On a GPU the compiled kernels are checked by tests/test_cuda.py; on the CPU, only where the
    interpreter runs the kernels (Triton 3.6's cannot run range() over a kernel argument under
    NumPy >= 2.4; the `test` extra asks for 3.7 or later)."""
    if torch.cuda.is_available():
        return pytest.mark.skip(reason="compiled on this GPU by tests/test_cuda.py")
    if nt.triton is not None and not nt.interpreter_works():
        return pytest.mark.skip(reason=f"the interpreter of Triton {nt.triton.__version__} cannot "
                                       f"run the kernels here (Triton 3.7 or later can)")
    return pytest.mark.skipif(False, reason="")


interpreter_only = _interpreter_only()


def compile_errors() -> list[Exception]:
    """What Triton raises where a kernel cannot compile: no C compiler (its launcher is C), and,
    with Triton installed, a ptxas failure."""
    errors = [RuntimeError("Failed to find C compiler. Please specify via CC environment variable "
                           "or set triton.knobs.build.impl.")]
    try:
        from triton.runtime.errors import PTXASError
        errors.append(PTXASError("ptxas fatal: Unresolved extern function"))
    except ImportError:
        pass
    return errors


def interpreted(code: str, tmp_path) -> str:
    """Run `code` as a fresh script with the Triton interpreter on; return its output."""
    script = tmp_path / "check.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@needs_triton
@interpreter_only
def test_fused_codes_equal_the_torch_path_across_scales_shapes_and_outliers(tmp_path):
    out = interpreted("""
        import torch
        from vqlit.optvq import sinkhorn_assign
        from vqlit.sinkhorn import SinkhornSolver, normalize_cost, sinkhorn
        g = torch.Generator().manual_seed(0)
        cases = ties = 0
        for n, k, d in [(96, 40, 6), (40, 96, 6), (33, 1, 3), (1, 17, 2), (257, 130, 5)]:
            for scale in (1e-3, 1.0, 1e4):
                # unnormalized at 1e4, epsilon C is ~1e5: every entry but the row minima
                # underflows, the regime the normalization exists to avoid; OptVQ and the
                # quantizer always normalize
                for normalize in (True, False) if scale < 1e4 else (True,):
                    z = torch.randn(n, d, generator=g) * scale
                    e = (torch.randn(k, d, generator=g) + 0.3) * scale
                    z[0] += 100 * scale * z.std()                        # an outlier
                    solver = SinkhornSolver(iters=5, normalize=normalize, method="scaling")
                    fused = sinkhorn_assign(z, e, solver=solver, backend="triton")
                    ref = sinkhorn_assign(z, e, solver=solver, backend="torch")
                    assert fused.dtype == torch.int64 and fused.shape == (n,)
                    assert fused.min() >= 0 and fused.max() < k
                    assert (fused == ref).double().mean() >= 0.95, (n, k, scale, normalize)
                    cost = torch.cdist(z.double(), e.double())           # the float64 plan
                    cost = normalize_cost(cost) if normalize else cost
                    plan = sinkhorn(cost, epsilon=10.0, iters=5).dense()   # (N, K)
                    rows = (fused != ref).nonzero().flatten()
                    picked, other = plan[rows, fused[rows]], plan[rows, ref[rows]]
                    assert torch.allclose(picked, other, rtol=1e-5), (picked, other)
                    cases, ties = cases + 1, ties + len(rows)
        print(cases, ties)
    """, tmp_path)
    cases, ties = map(int, out.split()[-2:])
    assert cases == 25 and ties <= 5               # disagreements are float32 ties, and rare


@needs_triton
@interpreter_only
def test_program_counts_and_iterations_do_not_change_the_codes(tmp_path):
    interpreted("""
        import torch
        from vqlit.optvq import sinkhorn_assign
        from vqlit.sinkhorn import SinkhornSolver
        from vqlit.sinkhorn_triton import fused_assign
        g = torch.Generator().manual_seed(1)
        z, e = torch.randn(70, 4, generator=g), torch.randn(50, 4, generator=g)
        for iters in (1, 2, 7):
            ref = sinkhorn_assign(z, e, solver=SinkhornSolver(iters=iters, normalize=True,
                                                              method="scaling"), backend="torch")
            for programs in (1, 3, 200):                       # fewer, and more, than row tiles
                got = fused_assign(z, e, iters=iters, programs=programs)
                assert (got == ref).double().mean() >= 0.99, (iters, programs)
        for bad, word in ((dict(iters=0), "iters"), (dict(epsilon=0.0), "epsilon")):
            try:
                fused_assign(z, e, **bad)
                raise AssertionError(f"{bad} was accepted")
            except ValueError as err:
                assert word in str(err)
    """, tmp_path)


@needs_triton
@interpreter_only
def test_quantizer_with_the_fused_backend_matches_the_torch_backend(tmp_path):
    interpreted("""
        import torch
        from vqlit.optvq import SinkhornQuantizer
        torch.manual_seed(0)
        a = SinkhornQuantizer(num_codes=64, dim=8, heads=2, backend="torch")
        b = SinkhornQuantizer(num_codes=64, dim=8, heads=2, backend="triton")
        b.load_state_dict(a.state_dict())
        z = torch.randn(4, 5, 5, 8, requires_grad=True)
        oa, ob = a(z), b(z)
        assert (oa.indices == ob.indices).double().mean() >= 0.99
        assert ob.indices.shape == (4, 5, 5, 2)
        ob.loss.backward()
        assert z.grad is not None and torch.isfinite(z.grad).all()
    """, tmp_path)


@needs_triton
@interpreter_only
def test_two_processes_equal_one_process_with_the_fused_kernels(tmp_path):
    interpreted("""
        import socket
        import torch
        import torch.distributed as dist
        import torch.multiprocessing as mp
        from vqlit.optvq import sinkhorn_assign

        def batch():
            g = torch.Generator().manual_seed(0)
            z = torch.randn(64, 5, generator=g)
            z[32:] *= 3                                          # the halves differ in spread
            return z, torch.randn(24, 5, generator=g) + 0.5

        def worker(rank, port, path):
            dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                    world_size=2)
            try:
                z, e = batch()
                part = z.chunk(2)[rank]
                codes = sinkhorn_assign(part, e, group=dist.group.WORLD, backend="triton")
                torch.save(codes, f"{path}/rank{rank}.pt")
            finally:
                dist.destroy_process_group()

        if __name__ == "__main__":
            import tempfile
            path = tempfile.mkdtemp()
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            mp.spawn(worker, args=(port, path), nprocs=2, join=True)
            both = torch.cat([torch.load(f"{path}/rank{r}.pt") for r in range(2)])
            z, e = batch()
            one = sinkhorn_assign(z, e, backend="triton")
            local = torch.cat([sinkhorn_assign(p, e, backend="triton") for p in z.chunk(2)])
            assert torch.equal(both, one), (both, one)
            assert not torch.equal(local, one)                   # the reductions matter here
            print("ok")
    """, tmp_path)


def test_asking_for_the_fused_backend_where_it_cannot_run_is_a_clear_error():
    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("the kernels can run here")
    with pytest.raises(ValueError, match="backend='triton' needs Triton on a CUDA device"):
        sinkhorn_assign(torch.randn(8, 2), torch.randn(4, 2), backend="triton")
    with pytest.raises(ValueError, match="backend must be one of"):
        sinkhorn_assign(torch.randn(8, 2), torch.randn(4, 2), backend="cuda")
    with pytest.raises(ValueError, match="backend must be one of"):
        SinkhornQuantizer(num_codes=4, dim=2, backend="fused")


def test_float64_and_the_torch_backend_never_use_the_kernels(monkeypatch):
    import vqlit.sinkhorn_triton as fused

    def boom(*args, **kwargs):
        raise AssertionError("the fused kernels were called")

    monkeypatch.setattr(fused, "fused_assign", boom)
    z, e = torch.randn(16, 3), torch.randn(8, 3)
    sinkhorn_assign(z, e)                                    # CPU, auto: the torch path
    sinkhorn_assign(z, e, backend="torch")
    sinkhorn_assign(z.double(), e.double())


@needs_triton
@interpreter_only
def test_a_nan_feature_or_code_gives_the_torch_paths_codes_never_an_index_past_the_codebook(
        tmp_path):
    interpreted("""
        import torch
        import torch.nn.functional as F
        from vqlit.optvq import SinkhornQuantizer, sinkhorn_assign
        from vqlit.sinkhorn import SinkhornSolver
        from vqlit.sinkhorn_triton import fused_assign
        g = torch.Generator().manual_seed(0)
        for what in ("NaN feature", "inf feature", "NaN code"):
            for normalize in (True, False):
                z, e = torch.randn(60, 4, generator=g), torch.randn(20, 4, generator=g)
                if what == "NaN feature":
                    z[7] = float("nan")
                elif what == "inf feature":
                    z[7, 2] = float("inf")
                else:
                    e[3, 1] = float("nan")
                solver = SinkhornSolver(iters=5, normalize=normalize, method="scaling")
                fused = sinkhorn_assign(z, e, solver=solver, backend="triton")
                ref = sinkhorn_assign(z, e, solver=solver, backend="torch")
                assert 0 <= fused.min() and fused.max() < 20, (what, normalize, fused)
                if normalize:                   # OptVQ's: NaN reaches every entry, as in torch
                    assert torch.equal(fused, ref), (what, fused, ref)
                for programs in (1, 3):
                    got = fused_assign(z, e, normalize=normalize, programs=programs)
                    assert 0 <= got.min() and got.max() < 20, (what, normalize, programs)
        z = torch.randn(2, 3, 3, 4)
        z[0, 1, 1] = float("nan")
        errors = []
        for backend in ("torch", "triton"):
            q = SinkhornQuantizer(num_codes=16, dim=4, backend=backend)
            try:
                q(z)
            except ValueError as err:
                errors.append(str(err))
            q.check_finite = False                  # what fit does on CUDA: no host sync
            out = q(z)
            assert out.indices.min() >= 0 and out.indices.max() < 16, backend
            F.embedding(out.indices, q.codebook)    # the lookup that a CUDA assert would end
        assert len(errors) == 2 and errors[0] == errors[1] and "NaN" in errors[0], errors
        print("ok")
    """, tmp_path)


@pytest.mark.parametrize("error", compile_errors(), ids=lambda e: type(e).__name__)
def test_a_sinkhorn_kernel_that_fails_to_compile_falls_back_with_one_warning(monkeypatch, error):
    calls = []

    def cannot_compile(*args, **kwargs):
        calls.append(1)
        raise error

    z, e = torch.randn(40, 3), torch.randn(12, 3)
    want = sinkhorn_assign(z, e, backend="torch")
    monkeypatch.setattr(nt, "FAILED", {})
    monkeypatch.setattr(st, "triton_available", lambda device: True)   # as on a CUDA device
    monkeypatch.setattr(st, "fused_assign", cannot_compile)            # the launch raises
    quantizer = SinkhornQuantizer(num_codes=12, dim=3, backend="triton")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [sinkhorn_assign(z, e, backend="triton") for _ in range(3)]
        out = quantizer(z)                                             # the quantizer too
    fell_back = [w for w in caught if issubclass(w.category, nt.FusedKernelWarning)]
    assert len(fell_back) == 1 and len(calls) == 1                     # once per process
    message = str(fell_back[0].message)
    assert "'sinkhorn'" in message and str(error) in message and "backend='torch'" in message
    assert all(torch.equal(codes, want) for codes in got)
    assert out.indices.shape == (40,) and "sinkhorn" in nt.FAILED
