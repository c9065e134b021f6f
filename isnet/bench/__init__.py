"""``isnet bench KIND``: benchmarks that print ratios measured side by side in one run.

Each kind is a module in this package exposing ``add_arguments(parser)`` and ``run(args) -> int``.
They are never timed unit tests; the tests only run them at toy sizes to check they work.
"""
from __future__ import annotations

from . import data, learn, losses, model, pra, table3, train

BENCHES = {
    "model": model,    # params, GFLOPs, latency, fast paths (issue: foundation)
    "losses": losses,  # shared-backbone loss path vs the authors' four VGG passes
    "pra": pra,        # PRA vs one-shot latency and passes per bucket
    "data": data,      # loader images/s vs the training step's consumption
    "table3": table3,  # the paper's Table 3 and training it/s
    "learn": learn,    # learning curve vs Telea / NS / biharmonic: sets each profile's budget
    "train": train,    # training images/s at a profile's scale: the authors' path vs ours, fast paths
}


def add_cli(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (ratios measured side by side in one run)")
    kinds = p.add_subparsers(dest="bench_kind", metavar="KIND")
    for kind, mod in BENCHES.items():
        q = kinds.add_parser(kind, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(q)
        q.set_defaults(func=mod.run)
