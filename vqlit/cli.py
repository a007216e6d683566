# This file is generated from book/chapters/a4f_cli.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4f_cli.md: def _positive, def _dims
"""`python -m vqlit {train,evaluate,reproduce,sample,bench}`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from vqlit.data_formats import DataError, DatasetUnavailable
from vqlit.bench import NEAREST_DIMS, bench_record, format_bench, format_nearest
from vqlit.experiments import (EXPERIMENTS, GROUPS, evaluate_run, get_experiment, reproduce,
                               reproduce_group, train_experiment)
from vqlit.sampling import bench_priors, format_priors, sample_run
from vqlit.train_config import PRECISIONS, SCALES
from vqlit.train_distributed import distributed, init_distributed


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _dims(text: str) -> tuple[int, ...]:
    """"2,8,64" -> (2, 8, 64), each a positive integer."""
    try:
        return tuple(_positive(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, "
                                         f"got {text}") from None


# %% book/chapters/a4f_cli.md: def parser
def parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    p = argparse.ArgumentParser(prog="python -m vqlit",
                                description="Train, evaluate, reproduce, sample from and benchmark "
                                            "the quantizers of the vqlit book.")
    verbs = p.add_subparsers(dest="verb", required=True,
                             metavar="{train,evaluate,reproduce,sample,bench}")
    scales = SCALES + ("auto",)

    t = verbs.add_parser("train", help="train a named experiment into a directory")
    t.add_argument("name", help="an experiment (see `reproduce --list`)")
    t.add_argument("--scale", choices=scales, default="auto")
    t.add_argument("--max-steps", type=_positive, help="stop at this step (resume later)")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    t.add_argument("--out", help="directory for checkpoint.pt, metrics.jsonl, run.json "
                                 "(default: runs/NAME-SCALE)")
    t.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoint.pt (else an existing run is an error)")
    t.add_argument("--dataset", help="override the paper's data set")
    t.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the networks' arithmetic: auto (bf16 from CUDA capability 8.0, else "
                        "fp32) | bf16 | fp32")

    e = verbs.add_parser("evaluate", help="the test-set metrics of a trained run")
    e.add_argument("dir")
    e.add_argument("--device", default="auto")

    r = verbs.add_parser("reproduce", help="train + evaluate a paper's protocol, record JSON")
    r.add_argument("name", nargs="?", help="an experiment or a group (see --list)")
    r.add_argument("--list", action="store_true", help="print the experiments, one per line")
    r.add_argument("--papers", action="store_true",
                   help="every experiment with a paper row, each on its paper's data set")
    r.add_argument("--scale", choices=scales, default="auto")
    r.add_argument("--out", help="directory for NAME.json (default: book/results)")
    r.add_argument("--device", default="auto")
    r.add_argument("--dataset", help="override the paper's data set")
    r.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="as for train; the record holds the precision that ran")

    s = verbs.add_parser("sample", help="new images from a trained run's prior (trained once)")
    s.add_argument("run", help="a training directory of `train --out DIR`")
    s.add_argument("--num", type=int, default=64, help="how many images to draw")
    s.add_argument("--out", required=True, help="directory for samples.png and metrics.json")
    s.add_argument("--device", default="auto")
    s.add_argument("--class-conditional", action="store_true",
                   help="a prior given the class (DIR/prior-classes.pt): one row per class")
    s.add_argument("--temperature", type=float, default=1.0, help="0: the most likely codes")
    s.add_argument("--top-k", type=int, help="draw among the k most likely codes")
    s.add_argument("--seed", type=int, default=0, help="the seed of the draws")

    b = verbs.add_parser("bench", help="time every quantizer side by side")
    b.add_argument("--device", default="auto")
    b.add_argument("--tokens", type=_positive, default=8192)
    b.add_argument("--codes", type=_positive, default=16384)
    b.add_argument("--dim", type=_positive, default=64)
    b.add_argument("--repeats", type=_positive, default=10)
    b.add_argument("--nearest-dims", type=_dims, default=NEAREST_DIMS, metavar="D,D,...",
                   help="dimensions of the nearest-code search's two paths (default: "
                        f"{','.join(map(str, NEAREST_DIMS))})")
    b.add_argument("--json", action="store_true",
                   help="print the run as one JSON document: command, provenance, rows")
    b.add_argument("--out", help="also write that JSON document to this file")
    b.add_argument("--no-priors", dest="priors", action="store_false",
                   help="skip the priors' rows (a training step, one grid with and without cache)")
    return p


# %% book/chapters/a4f_cli.md: def _train
def _train(args: argparse.Namespace) -> None:
    """The `train` verb."""
    out = Path(args.out or f"runs/{args.name}-{args.scale}")
    get_experiment(args.name)
    device = init_distributed(args.device)
    if (out / "checkpoint.pt").exists() and not args.resume:
        raise ValueError(f"{out} already holds a run; pass --resume to continue it, or "
                         "choose another --out")
    if args.resume and not (out / "checkpoint.pt").exists() and distributed()[0] == 0:
        print(f"note: {out} holds no checkpoint to resume; training from step 0")
    _, _, result, _ = train_experiment(args.name, scale=args.scale, device=device, out=out,
                                       max_steps=args.max_steps, dataset=args.dataset,
                                       precision=args.precision)
    if distributed()[0] == 0:
        print(f"trained {args.name} to step {result.steps} in {result.wall_time:.1f} s; "
              f"checkpoint in {out / 'checkpoint.pt'}")
    if distributed()[1] > 1:
        torch.distributed.destroy_process_group()               # leave the group cleanly


# %% book/chapters/a4f_cli.md: def main
def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: the arguments after `python -m vqlit`, e.g. ["bench", "--device", "cpu"]; None
            reads them from sys.argv.
    """
    p = parser()
    args = p.parse_args(argv)
    try:
        if args.verb == "train":
            _train(args)
        elif args.verb == "evaluate":
            print(json.dumps(evaluate_run(args.dir, device=args.device), indent=2))
        elif args.verb == "reproduce":
            if args.list:
                for name in sorted(EXPERIMENTS):
                    print(f"{name}\t{EXPERIMENTS[name].summary}")
                for name in sorted(GROUPS):
                    print(f"{name}\tgroup: {GROUPS[name].summary}")
            elif args.papers:
                rows = sorted(n for n, e in EXPERIMENTS.items() if e.paper)
                print(f"{len(rows)} paper rows, one after another: {', '.join(rows)}")
                for name in rows:
                    path = reproduce(name, scale=args.scale, out=args.out, device=args.device,
                                     precision=args.precision)       # the paper's data set
                    print(f"wrote {path}")
            elif args.name is None:
                p.error("reproduce needs an experiment NAME, --papers or --list")
            elif args.name in GROUPS:
                for path in reproduce_group(args.name, scale=args.scale, out=args.out,
                                            device=args.device, dataset=args.dataset,
                                            precision=args.precision):
                    print(f"wrote {path}")
            else:
                path = reproduce(args.name, scale=args.scale, out=args.out, device=args.device,
                                 dataset=args.dataset, precision=args.precision)
                print(f"wrote {path}")
        elif args.verb == "sample":
            done = sample_run(args.run, num=args.num, out=args.out, device=args.device,
                              class_conditional=args.class_conditional, seed=args.seed,
                              temperature=args.temperature, top_k=args.top_k)
            print(f"wrote {Path(args.out) / 'samples.png'} and metrics.json: the prior spends "
                  f"{done['bits_per_image']:.1f} bits per held-out image (uniform "
                  f"{done['uniform_bits']:.0f}); the samples use {done['code_usage']:.1%} of the "
                  "codes")
        elif args.verb == "bench":
            command = " ".join(["python -m vqlit", *(sys.argv[1:] if argv is None else argv)])
            doc = bench_record(device=args.device, tokens=args.tokens, codes=args.codes,
                               dim=args.dim, repeats=args.repeats, nearest_dims=args.nearest_dims,
                               command=command)
            if args.priors:
                doc["priors"] = bench_priors(device=args.device)
            text = json.dumps(doc, indent=2) + "\n"
            if args.out:                                  # whole or not at all: tmp, then rename
                out = Path(args.out)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.with_name(f".{out.name}.tmp").write_text(text)
                out.with_name(f".{out.name}.tmp").replace(out)
            prov = doc["provenance"]
            print(text.rstrip() if args.json else
                  f"{format_bench(doc['rows'])}\n\n{format_nearest(doc['nearest'])}\n\n"
                  + (f"{format_priors(doc['priors'])}\n\n" if args.priors else "")
                  + f"commit {prov['commit']}; {prov['device']}"
                  + (f" (capability {prov['capability']})" if prov["capability"] else "")
                  + f"; torch {prov['torch']}, Triton {prov['triton']}; {prov['date']}")
    except (ValueError, DataError, DatasetUnavailable, OSError, FloatingPointError) as err:
        print(f"{p.prog} {args.verb}: error: {err}", file=sys.stderr)
        return 2
    return 0


__all__ = ['parser', 'main']
