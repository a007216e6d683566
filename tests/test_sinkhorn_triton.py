"""The fused Triton kernels of the appendix (vqlit.sinkhorn_triton) against the torch path.

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
        import vqlit.sinkhorn_triton  # the fused kernels are opt-in
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
        import vqlit.sinkhorn_triton  # the fused kernels are opt-in
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
        import vqlit.sinkhorn_triton  # the fused kernels are opt-in
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
        import vqlit.sinkhorn_triton  # the fused kernels are opt-in
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


@needs_triton
@interpreter_only
def test_each_pass_alone_equals_torch_in_float64(tmp_path):
    """Each kernel of the eight passes on one small problem (N = 300, K = 100, two programs: masked
    columns, a partial last tile, a program that owns two tiles), against torch in float64. These
    were the per-pass checks of the appendix page a6b_sinkhorn_kernels."""
    out = interpreted(r'''
        import math
        import torch
        from torch import Tensor
        from vqlit.nearest_triton import jit, tl
        from vqlit.sinkhorn import center_
        from vqlit.sinkhorn_triton import (_COLUMNS, _TILE, _argmax_kernel, _columns_kernel,
                                           _kernel_kernel, _load_v, _moments_kernel, _scaling_kernel,
                                           _start_in_group, _start_kernel)
        from vqlit.vq import squared_distances
        g = torch.Generator().manual_seed(0)
        kernel_device = torch.device("cpu")
        def kernels_run(what: str) -> bool:
            """Whether the kernels run here for the check of `what` (where they cannot, the first cell
            of "Fusing the passes" said why)."""
            return triton_available(kernel_device)


        def near(got: Tensor, want: Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> None:
            """A kernel's float32 output equals torch's float64 value up to float32 rounding."""
            torch.testing.assert_close(got.double(), want.to(got.device, torch.float64), rtol=rtol,
                                       atol=atol)


        n_tr, k_tr, p_tr = 300, 100, 2
        z_tr = (3 * torch.randn(n_tr, 4, generator=g)).to(kernel_device)              # (N, d)
        e_tr = (torch.randn(k_tr, 4, generator=g) + 0.5).to(kernel_device)            # (K, d)
        s_tr = squared_distances(z_tr, e_tr)                                          # (N, K) pass 1
        c_tr = s_tr.double().clamp_min(0).sqrt()                                      # (N, K) C
        f_tr = c_tr.amin(1)                                                           # (N,) f_i
        block_k_tr = max(16, 1 << (k_tr - 1).bit_length())                            # 128 >= K
        sizes_tr = dict(BLOCK_M=_TILE // block_k_tr, BLOCK_K=block_k_tr, num_warps=16)
        owner_tr = torch.arange(n_tr, device=kernel_device) // sizes_tr["BLOCK_M"] % p_tr  # (N,) program
        tiny_tr = torch.finfo(torch.float32).tiny
        assert sizes_tr["BLOCK_M"] == 128 and (owner_tr == 0).sum() == 128 + 44

        if True:
            f_2, mean_2, m2_2 = torch.empty(3, n_tr, device=kernel_device).unbind(0)    # (N,) each
            gpart_2 = torch.empty(p_tr, k_tr, device=kernel_device)                     # (P, K)
            _moments_kernel[(p_tr,)](s_tr, f_2, mean_2, m2_2, gpart_2, n_tr, k_tr, p_tr, **sizes_tr)
            near(f_2, f_tr)
            near(mean_2, c_tr.mean(1))
            near(m2_2, (c_tr - c_tr.mean(1, keepdim=True)).square().sum(1))             # (N,) M_i
            for q in range(p_tr):                                       # program q: the rows it owns
                near(gpart_2[q], (c_tr - f_tr[:, None])[owner_tr == q].amin(0), atol=1e-5)
            print("pass 2: f_i, m_i, M_i and the programs' column minima equal torch's")

        if True:
            k_c, blocks_c = 2500, 3
            part_c = torch.rand(3, k_c, generator=g).to(kernel_device)                 # (P, K)
            part_c[:, 7] = 0.0                                              # an empty column: b / tiny
            b_c = torch.full((k_c,), 1.0 / k_c, device=kernel_device)                  # (K,)
            g_c, v_c = torch.empty(2, k_c, device=kernel_device).unbind(0)             # (K,) each
            vmax_c = torch.empty(blocks_c, device=kernel_device)
            _columns_kernel[(blocks_c,)](part_c, part_c, g_c, vmax_c, 3, k_c, tiny_tr, SCALE=False,
                                         BLOCK=_COLUMNS)
            assert torch.equal(g_c, part_c.amin(0))                                     # g_k
            _columns_kernel[(blocks_c,)](part_c, b_c, v_c, vmax_c, 3, k_c, tiny_tr, SCALE=True,
                                         BLOCK=_COLUMNS)
            v_ref = b_c.double() / part_c.double().sum(0).clamp_min(tiny_tr)            # (K,) b / K^T u
            near(v_c, v_ref, atol=0)
            near(vmax_c, torch.stack([v.max() for v in v_ref.split(_COLUMNS)]), atol=0)
            print("combining: the column minima, v = b / K^T u and the blocks' maxima equal torch's")

        if True:
            c_s = 50 + torch.rand(2500, 8, generator=g).to(kernel_device)              # (N, K)
            f_s, mean_s = c_s.amin(1), c_s.mean(1)                                      # (N,) each
            m2_s = (c_s - mean_s[:, None]).square().sum(1)                              # (N,) M_i
            sigma_s = center_(c_s.double().clone()).item()                              # Eq. (normalize)
            state_s = torch.empty(2, device=kernel_device)
            for normalize_s, eps_want in ((True, 10.0 / (sigma_s + 1e-6)), (False, 10.0)):
                _start_kernel[(1,)](f_s, mean_s, m2_s, state_s, 2500, 8, 10.0, NORMALIZE=normalize_s,
                                    BLOCK=1024)
                near(state_s[0], torch.tensor(eps_want), rtol=1e-4)
                assert state_s[1] == f_s.min()
            print(f"start: epsilon / sigma = {10.0 / sigma_s:.4f} as center_ gives it, and min f")

        if True:
            @jit
            def _load_v_probe(V, VMAX, NV, OUT, K, tiny, BLOCK_K: tl.constexpr, BLOCK_V: tl.constexpr):
                """OUT = what _load_v returns for the columns 0 .. K - 1."""
                cols = tl.arange(0, BLOCK_K)
                tl.store(OUT + cols, _load_v(V, VMAX, NV, cols, cols < K, tiny, BLOCK_V), mask=cols < K)

            v_l = 1e-3 * torch.rand(k_tr, generator=g).to(kernel_device)               # (K,)
            v_l[3] = 0.0                                                    # clamped at tiny
            vmax_l = torch.stack([v_l[:60].amax(), v_l[60:].amax()])        # (2,) two blocks' maxima
            out_l = torch.empty(k_tr, device=kernel_device)
            _load_v_probe[(1,)](v_l, vmax_l, 2, out_l, k_tr, tiny_tr, BLOCK_K=block_k_tr, BLOCK_V=2)
            near(out_l, (v_l.double() / v_l.max()).clamp_min(tiny_tr), atol=0)
            assert out_l[3] == tiny_tr
            print("_load_v: v / max v, clamped at the smallest normal number")

        if True:
            g_3 = (c_tr - f_tr[:, None]).amin(0)                                        # (K,) g_k
            eps_3 = 10.0 / (center_(c_tr.clone()).item() + 1e-6)                       # Eq. (normalize)
            state_3 = torch.tensor([eps_3, f_tr.min().item()], device=kernel_device)
            buf_3, cpart_3 = s_tr.clone(), torch.empty(p_tr, k_tr, device=kernel_device)
            _kernel_kernel[(p_tr,)](buf_3, f_tr.float(), g_3.float(), state_3, cpart_3, n_tr, k_tr, p_tr,
                                    **sizes_tr)
            kern_3 = torch.exp(-eps_3 * (c_tr - f_tr[:, None] - g_3))                  # (N, K) stabilized
            u_3 = torch.exp(-eps_3 * (f_tr - f_tr.min()))                              # (N,) Eq. (start)
            near(buf_3, kern_3, rtol=1e-4)
            for q in range(p_tr):
                near(cpart_3[q], u_3[owner_tr == q] @ kern_3[owner_tr == q], rtol=1e-4)   # (K,) K^T u
            near(buf_3.amax(1), torch.ones(n_tr))                                       # a 1 in every row
            print("pass 3: the stabilized kernel and the first column sums K^T u equal torch's")

        if True:
            q_4 = kern_3.float()                                                         # (N, K)
            v_4 = (torch.rand(k_tr, generator=g) + 0.1).to(kernel_device)                # (K,)
            vmax_4 = torch.stack([v_4[:60].amax(), v_4[60:].amax()])                     # (2,)
            cpart_4 = torch.empty(p_tr, k_tr, device=kernel_device)
            a_4 = torch.full((), 1.0 / n_tr, device=kernel_device)
            _scaling_kernel[(p_tr,)](q_4, v_4, vmax_4, 2, a_4, cpart_4, n_tr, k_tr, p_tr, tiny_tr,
                                     BLOCK_V=2, **sizes_tr)
            u_4 = (1.0 / n_tr) / (q_4.double() @ (v_4.double() / v_4.max()))            # (N,) a / K v
            for q in range(p_tr):
                own = owner_tr == q
                near(cpart_4[q], u_4[own] @ q_4[own].double())                           # (K,) K^T u
            print("passes 4 to 7: u = a / K v and the column sums K^T u equal torch's")

        if True:
            q_8, v_8 = q_4.clone(), v_4.clone()
            q_8[0] = 0.0
            q_8[0, 5] = q_8[0, 7] = 1.0
            v_8[7] = v_8[5]                                                              # a tie in row 0
            q_8[1], q_8[2, 40] = float("nan"), float("nan")                             # NaN rows 1 and 2
            vmax_8 = torch.stack([v_8[:60].amax(), v_8[60:].amax()])                     # (2,)
            out_8 = torch.empty(n_tr, dtype=torch.int64, device=kernel_device)
            _argmax_kernel[(p_tr,)](q_8, v_8, vmax_8, 2, out_8, n_tr, k_tr, p_tr, tiny_tr, BLOCK_V=2,
                                    **sizes_tr)
            want_8 = (q_8 * (v_8 / v_8.max()).clamp_min(tiny_tr)).argmax(1)              # (N,)
            assert torch.equal(out_8, want_8) and out_8[:3].tolist() == [5, 0, 40]
            print("pass 8: the codes equal torch.argmax, ties and NaN included")

        if True:
            state_g, g_g = torch.empty(2, device=kernel_device), torch.rand(8, device=kernel_device)
            inv_n_g = _start_in_group(c_s, f_s, mean_s, m2_s, g_g, state_g, 10.0, True, None)
            _start_kernel[(1,)](f_s, mean_s, m2_s, state_s, 2500, 8, 10.0, NORMALIZE=True, BLOCK=1024)
            near(state_g, state_s, rtol=1e-4)
            assert inv_n_g == 1 / 2500
            print("the start in torch operations equals the start kernel")
        print("all passes ok")
    ''', tmp_path)
    assert "all passes ok" in out
