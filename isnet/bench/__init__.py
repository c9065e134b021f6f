"""``isnet bench KIND``: benchmarks that print ratios measured side by side in one run.

Each kind is a module in this package exposing ``add_arguments(parser)`` and ``run(args) -> int``.
They are never timed unit tests; the tests only run them at toy sizes to check they work.
"""
from __future__ import annotations

import argparse
import re

from . import data, learn, losses, model, pra, pra_kernel, scale, table3, train

BENCHES = {
    "model": model,    # params, GFLOPs, latency, fast paths (issue: foundation)
    "losses": losses,  # shared-backbone loss path vs the authors' four VGG passes
    "pra": pra,        # PRA vs one-shot latency and passes per bucket
    "pra-kernel": pra_kernel,  # a profile's PRA kernel, derived from hole shrinkage (no scores)
    "data": data,      # loader images/s vs the training step's consumption
    "table3": table3,  # the paper's Table 3 and training it/s
    "learn": learn,    # learning curve vs Telea / NS / biharmonic: sets each profile's budget
    "train": train,    # training images/s at a profile's scale: the authors' path vs ours, fast paths
    "scale": scale,    # the shipped model at 48/128/256 px vs Telea/NS/biharmonic, per inference mode
}


OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.[\w*]+)+=")  # section.key=value (never an option: those start with -)


class OverridesAnywhere(argparse.ArgumentParser):
    """A bench's parser that takes ``section.key=value`` overrides in any position.

    ``--paths fp32 train.batch=4`` would otherwise hand the override to ``--paths`` (``nargs="+"``, an invalid
    choice). Tokens that look like dotted overrides are taken out before parsing and given to the ``overrides``
    positional, in their order; everything after ``--`` is left as it is."""

    def parse_known_args(self, args=None, namespace=None):
        if not any(a.dest == "overrides" for a in self._actions):
            return super().parse_known_args(args, namespace)
        import sys

        tokens = list(sys.argv[1:] if args is None else args)
        cut = tokens.index("--") if "--" in tokens else len(tokens)
        found = [t for t in tokens[:cut] if OVERRIDE.match(t)]
        rest = [t for t in tokens[:cut] if not OVERRIDE.match(t)] + tokens[cut:]
        ns, extra = super().parse_known_args(rest, namespace)
        ns.overrides = found + list(getattr(ns, "overrides", None) or [])
        return ns, extra


def add_cli(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks (ratios measured side by side in one run)")
    kinds = p.add_subparsers(dest="bench_kind", metavar="KIND", parser_class=OverridesAnywhere)
    for kind, mod in BENCHES.items():
        q = kinds.add_parser(kind, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(q)
        q.set_defaults(func=mod.run)
