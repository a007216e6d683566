"""Checks moved off Chapter 3's pages (book/chapters/03?_*.md): the solver's input validation and
the Wasserstein quantizer's rejection of bad inputs, each kind of malformed input on its own; and
the pages' attribution of what comes from the ICLR 2023 text of VQ-WAE."""
import re
from pathlib import Path

import pytest
import torch

from vqlit.wasserstein import ExactOT, WassersteinQuantizer, _broadcast_marginals, home_logits


def test_one_pair_of_marginals_serves_a_batch_of_problems():
    cost = torch.arange(60.0, dtype=torch.float64).reshape(3, 5, 4)          # (G, N, K)
    a, b = _broadcast_marginals(cost, torch.full((5,), 0.2), torch.full((4,), 0.25))
    assert a.shape == (3, 5) and b.shape == (3, 4)


@pytest.mark.parametrize("what, args, words", [
    ("integer cost", (torch.ones(5, 4, dtype=torch.int64), torch.ones(5), torch.ones(4)),
     "floating-point cost"),
    ("empty cost", (torch.zeros(5, 0), torch.ones(5), torch.ones(0)), "non-empty"),
    ("rows do not fit", (torch.zeros(3, 5, 4), torch.ones(4), torch.ones(4)), "do not fit"),
])
def test_malformed_problems_are_named(what, args, words):
    with pytest.raises(ValueError, match=words):
        _broadcast_marginals(*args)
    with pytest.raises(ValueError):
        ExactOT()(*args)


@pytest.mark.parametrize("what, bad", [
    ("a single vector", torch.randn(8)),
    ("channels first", torch.randn(4, 8, 6, 6)),
    ("integer dtype", torch.ones(4, 8, dtype=torch.int64)),
    ("NaN", torch.full((4, 8), float("nan"))),
    ("empty batch", torch.randn(0, 8)),
])
def test_quantizer_rejects_bad_inputs_with_a_message(what, bad):
    wae = WassersteinQuantizer(num_codes=64, dim=8)
    with pytest.raises(ValueError) as err:
        wae(bad)
    assert len(str(err.value)) > 20, f"{what}: {err.value}"


def test_bfloat16_autocast_keeps_the_loss_in_float32():
    wae = WassersteinQuantizer(num_codes=16, dim=8)
    z = torch.randn(2, 4, 4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = wae(z.bfloat16())
    assert half.quantized.dtype == torch.bfloat16 and half.loss.dtype == torch.float32


def test_home_logits_fewer_codes_than_positions():
    assert torch.equal(home_logits(4, 3), torch.zeros(4, 3))
    assert torch.equal(home_logits(64, 512).sum(1), torch.full((64,), 8.0))


def test_home_logits_follow_the_official_eight_per_position():
    start = home_logits(64, 512)                       # moved off 03c: the code's 8i .. 8i + 7
    assert torch.equal(start[3].nonzero().flatten(), torch.arange(24, 32))
    assert torch.equal(start.sum(0), torch.ones(512))  # each codeword is home to one position


CHAPTER_3 = sorted((Path(__file__).resolve().parents[1] / "book" / "chapters").glob("03*.md"))
ICLR_FACTS = re.compile(r"Corollary 3\.1|Lemma 3\.1|Theorems? 3\.[12]|Tables? [12]\b|\\lambda = 1\$")


def test_what_comes_from_the_iclr_text_cites_it():
    """The theorems, lambda = 1 and the numbers of Tables 1 and 2 come from the ICLR 2023
    OpenReview text, not from the ICML paper: every page that uses them cites that text."""
    bib = (CHAPTER_3[0].parents[1] / "references.bib").read_text(encoding="utf-8")
    assert "@misc{vuong2023vqwaeiclr," in bib and "openreview.net/forum?id=Z8qk2iM5uLI" in bib
    using = [p for p in CHAPTER_3 if ICLR_FACTS.search(p.read_text(encoding="utf-8"))]
    assert len(using) >= 5, [p.name for p in using]
    uncited = [p.name for p in using if "{cite}`vuong2023vqwaeiclr`" not in p.read_text("utf-8")]
    assert not uncited, f"pages using the ICLR text without citing it: {uncited}"
