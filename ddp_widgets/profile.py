"""Command line: `python -m ddp_widgets.profile` profiles a model over a dataset and writes one profile file.

    python -m ddp_widgets.profile --model pkg.mod:make_model --data pkg.mod:make_data --out run.npz
    torchrun --nproc-per-node 4 -m ddp_widgets.profile --model ... --data ... --out run.npz   # shard="auto"
    python -m ddp_widgets.profile --shard 3/8 ... --out part3.npz                           # a job-array task
    python -m ddp_widgets.profile merge --out all.npz part*.npz                             # merge the parts

Under torchrun / srun (WORLD_SIZE > 1) every rank profiles its block and rank 0 writes the merged file.
See docs/distributed.md for SLURM, Ray and Dask recipes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .core.errors import DDPWidgetsError, InvalidArgumentError


def _shard(text: str) -> tuple[int, int]:
    rank, sep, world = text.partition("/")
    if not sep or not rank.isdigit() or not world.isdigit():
        raise argparse.ArgumentTypeError(f"--shard takes RANK/WORLD_SIZE, e.g. 0/4, got {text!r}")
    return int(rank), int(world)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m ddp_widgets.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--model", required=True, help="factory of the model, 'pkg.module:function'")
    ap.add_argument("--data", required=True, help="factory of the data, 'pkg.module:function'")
    ap.add_argument("--out", required=True, help="profile file to write ('.npz' is appended)")
    ap.add_argument("--layers", help="comma-separated layer names (default: every profilable layer)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--top-n", type=int, default=16)
    ap.add_argument("--threshold", type=float, default=0.1)
    ap.add_argument("--aggregation", default="mean")
    ap.add_argument("--calls", default="first")
    ap.add_argument("--ignore-index", type=int)
    ap.add_argument("--shard", type=_shard, help="RANK/WORLD_SIZE for job arrays (not under torchrun)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: cuda:LOCAL_RANK)")
    ap.add_argument("--backend", help="torch.distributed backend (default: nccl on cuda, gloo on cpu)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--progress", action="store_true", help="show a progress bar (rank 0)")
    return ap


def merge_files(out: str, parts: Sequence[str]) -> str:
    from .profile_record import Profile

    if not parts:
        raise InvalidArgumentError("merge needs the profile files to merge")
    return str(Profile.merge(Profile.load(p) for p in parts).save(out))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["merge"]:
            mp = argparse.ArgumentParser(prog="python -m ddp_widgets.profile merge")
            mp.add_argument("--out", required=True)
            mp.add_argument("parts", nargs="+")
            m = mp.parse_args(argv[1:])
            print(merge_files(m.out, m.parts))
            return 0
        args = _parser().parse_args(argv)
        from ._launch import run_rank

        options = {
            "layers": args.layers.split(",") if args.layers else None,
            "batch_size": args.batch_size,
            "top_n": args.top_n,
            "threshold": args.threshold,
            "aggregation": args.aggregation,
            "calls": args.calls,
            "ignore_index": args.ignore_index,
            "shard": args.shard,
            "device": args.device,
            "backend": args.backend,
            "threads": args.threads,
            "progress": args.progress,
        }
        result = run_rank(args.model, args.data, args.out, options)
    except DDPWidgetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "error" in result:
        print(f"error: {result['error']}", file=sys.stderr)
        return 1
    if "path" in result:
        print(result["path"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
