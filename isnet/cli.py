"""The ``isnet`` command. Each subcommand lives beside its logic and registers itself here.

A module listed in ``COMMAND_MODULES`` exposes ``add_cli(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning an exit code.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__

COMMAND_MODULES = [
    "isnet.bench",      # isnet bench {model,losses,pra,data,...}
    "isnet.masks",      # isnet masks make|nvidia
    "isnet.features",   # isnet weights fetch|list
    "isnet.data",       # isnet data fetch|pairs|list
    "isnet.train",      # isnet train
    "isnet.evaluate",   # isnet evaluate
    "isnet.inpaint",    # isnet inpaint
    "isnet.search",     # isnet search
    "isnet.study",      # isnet study
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isnet", description="ISNet + PRA inpainting: models, training, evaluation and the reproducible study.")
    parser.add_argument("--version", action="version", version=f"isnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that part of the package is not there (yet)
                continue
            raise
        if hasattr(module, "add_cli"):
            module.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileExistsError, FileNotFoundError, NotADirectoryError, ValueError) as e:
        # bad input: the message names the file and the fix; ISNET_DEBUG=1 shows the traceback
        if os.environ.get("ISNET_DEBUG"):
            raise
        print(f"isnet {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
