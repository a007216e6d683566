"""The fused nearest-code kernel (vqlit.nearest_triton, Chapter 4) against a float64 brute force.

Without a GPU it runs in Triton's interpreter, in a fresh process (TRITON_INTERPRET=1 must be set
before the kernels are defined); tests/test_cuda.py runs it compiled.
"""
import importlib.util

import pytest
import torch

from test_sinkhorn_triton import interpreted, interpreter_only

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
