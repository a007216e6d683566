"""The practitioners' fixes under torch.distributed (vqlit.vq, Chapter 1): two gloo processes, each
on its own half of every batch, start from one k-means codebook and move the same dead codes onto
the same features, so their codebooks stay equal at every step."""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vqlit.ema import EMAVectorQuantizer
from vqlit.vq import VectorQuantizer

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built")

STEPS, K, D = 6, 16, 3


def batches(rank):
    """This process's half of each batch: the halves differ, so nothing is equal by accident."""
    g = torch.Generator().manual_seed(100 + rank)
    return [torch.randn(40, D, generator=g) * (1 + rank) + 3 * rank for _ in range(STEPS)]


def worker(rank, world, port, path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        torch.set_num_threads(1)
        torch.manual_seed(rank)              # different random streams: the fixes must not care
        ema = EMAVectorQuantizer(num_codes=K, dim=D, kmeans_init=True, dead_code_threshold=3.0)
        vq = VectorQuantizer(num_codes=K, dim=D, kmeans_init=True)
        books = []
        for z in batches(rank):
            ema(z)
            books.append(ema.codebook.clone())
        vq(batches(rank)[0])
        first = batches(rank)[0]
        torch.save({"ema": torch.stack(books), "vq": vq.codebook.detach().clone(),
                    "first": first}, f"{path}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp_vq")
    mp.spawn(worker, args=(2, free_port(), str(path)), nprocs=2, join=True)
    return [torch.load(path / f"rank{r}.pt") for r in range(2)]


def test_every_process_holds_the_same_codebook_at_every_step(two_ranks):
    r0, r1 = two_ranks
    assert torch.equal(r0["vq"], r1["vq"])                                  # one k-means start
    assert torch.equal(r0["ema"], r1["ema"])                                # and every step after


def test_the_k_means_start_is_process_0s(two_ranks):
    r0, _ = two_ranks
    first = r0["first"]
    nearest = torch.cdist(first, r0["vq"]).argmin(1)                       # (N,) brute force
    centres = torch.stack([first[nearest == k].mean(0) for k in nearest.unique()])
    assert torch.allclose(centres, r0["vq"][nearest.unique()], atol=1e-5)  # a Lloyd fixed point
    assert (torch.cdist(r0["vq"], first).amin(1) < 3).all()                # among rank 0's data


def test_dead_codes_are_moved_onto_features_of_process_0():
    """In one process: the codes that no feature chose are moved onto features of the batch."""
    q = EMAVectorQuantizer(num_codes=4, dim=2, dead_code_threshold=0.5)
    with torch.no_grad():
        q.codebook.copy_(torch.tensor([[0.0, 0.0], [50.0, 50.0], [-50.0, 50.0], [0.2, 0.0]]))
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 0.1
    q(z)
    for k in (1, 2):
        assert (z == q.codebook[k]).all(1).any()                            # onto a feature
    assert torch.allclose(q.ema_counts[1:3] / (1 - q.decay), torch.full((2,), 0.5))


def test_bad_threshold_is_a_clear_error():
    with pytest.raises(ValueError, match="dead_code_threshold"):
        EMAVectorQuantizer(num_codes=4, dim=2, dead_code_threshold=-1.0)
