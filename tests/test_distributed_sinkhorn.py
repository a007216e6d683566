"""Distributed Sinkhorn (vqlit.sinkhorn, vqlit.optvq): two gloo processes on halves of a batch
compute what one process computes on the whole batch."""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vqlit.optvq import SinkhornQuantizer, sinkhorn_assign
from vqlit.sinkhorn import center_, normalize_cost, sinkhorn, sinkhorn_log, sinkhorn_textbook

N, K, D = 96, 40, 6

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built")


def batch():
    """Features whose two halves differ in spread, and a codebook; float64."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(N, D, generator=g, dtype=torch.float64)
    z[N // 2:] *= 3
    return z, torch.randn(K, D, generator=g, dtype=torch.float64) + 0.5


def compute(z, codebook, group):
    """Everything that must not depend on how the rows are split."""
    cost = torch.cdist(z, codebook)                                          # (n, K)
    centred = cost.clone()
    std = center_(centred, group=group)
    plan = sinkhorn(normalize_cost(cost, group=group), epsilon=10.0, iters=7, group=group)
    alpha, beta = sinkhorn_log(cost, epsilon=2.0, iters=7, group=group)
    torch.manual_seed(1)
    q = SinkhornQuantizer(num_codes=K, dim=D).double()
    with torch.no_grad():
        q.codebook.copy_(codebook)
    return {"std": std.squeeze(), "centred": centred,
            "plan": plan.dense(), "v": plan.v, "beta": beta, "alpha": alpha,
            "textbook": sinkhorn_textbook(cost, epsilon=2.0, iters=7, guard=0.0, group=group),
            "assign": sinkhorn_assign(z, codebook, group=group),
            "quantizer": q(z).indices}


def worker(rank, world, port, path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        torch.set_num_threads(1)
        z, codebook = batch()
        part = z.chunk(world)[rank]
        result = compute(part, codebook, dist.group.WORLD)
        result["local"] = SinkhornQuantizer(num_codes=K, dim=D, distributed=False).double()
        with torch.no_grad():
            result["local"].codebook.copy_(codebook)
        result["local"] = result["local"](part).indices
        torch.save(result, f"{path}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp")
    mp.spawn(worker, args=(2, free_port(), str(path)), nprocs=2, join=True)
    return [torch.load(path / f"rank{r}.pt") for r in range(2)]


def test_two_processes_equal_one_process_on_the_whole_batch(two_ranks):
    z, codebook = batch()
    one = compute(z, codebook, None)
    r0, r1 = two_ranks
    for key in ("std",):                                                     # global statistics
        assert torch.allclose(r0[key], one[key], rtol=1e-12) and torch.allclose(r1[key], one[key])
    for key in ("v", "beta"):                                                # column quantities
        assert torch.allclose(r0[key], one[key], rtol=1e-10) and torch.allclose(r1[key], one[key],
                                                                                rtol=1e-10)
    for key in ("centred", "plan", "textbook"):                              # rows, split
        rows = torch.cat([r0[key], r1[key]])
        assert torch.allclose(rows, one[key], rtol=1e-10, atol=1e-15), key
    assert torch.allclose(torch.cat([r0["alpha"], r1["alpha"]]), one["alpha"], rtol=1e-10)
    for key in ("assign", "quantizer"):
        assert torch.equal(torch.cat([r0[key], r1[key]]), one[key]), key


def test_per_process_normalization_differs(two_ranks):
    """The official code normalizes on each process: with halves of different spread the
    assignment then depends on the split; ours does not."""
    z, codebook = batch()
    one = compute(z, codebook, None)["quantizer"]
    local = torch.cat([two_ranks[0]["local"], two_ranks[1]["local"]])
    assert not torch.equal(local, one)


def test_without_an_initialised_group_functions_run_as_one_process():
    z, codebook = batch()
    assert not dist.is_initialized()
    a = sinkhorn_assign(z, codebook, group=dist.group.WORLD)
    assert torch.equal(a, sinkhorn_assign(z, codebook))
