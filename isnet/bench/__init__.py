"""``isnet bench KIND``: benchmarks that print ratios measured side by side in one run.

Each kind is a module in this package exposing ``add_arguments(parser)`` and ``run(args) -> int``.
They are never timed unit tests; the tests only run them at toy sizes to check they work.
"""
from __future__ import annotations

import importlib

BENCHES = {
    "model": "isnet.bench.model",    # params, GFLOPs, latency, fast paths (issue: foundation)
    "losses": "isnet.bench.losses",  # shared-backbone loss path vs the authors' four VGG passes
    "pra": "isnet.bench.pra",        # PRA vs one-shot latency and passes per bucket
    "data": "isnet.bench.data",      # loader images/s vs the training step's consumption
    "table3": "isnet.bench.table3",  # the paper's Table 3 and training it/s
    "learn": "isnet.bench.learn",    # learning curve vs Telea / NS / biharmonic: sets each profile's budget
    "train": "isnet.bench.train",    # training images/s at a profile's scale: the authors' path vs ours, fast paths
}


def add_cli(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (ratios measured side by side in one run)")
    kinds = p.add_subparsers(dest="bench_kind", metavar="KIND")
    for kind, modname in BENCHES.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue
            raise
        q = kinds.add_parser(kind, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(q)
        q.set_defaults(func=mod.run)
