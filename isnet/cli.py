"""The ``isnet`` command: one parser that each layer's own small CLI module fills in.

Each ``add_cli(subparsers)`` adds its subcommands and sets ``func`` to a callable taking the parsed
arguments and returning an exit code. The engine's ``train`` gets the profile table from the study layer.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__, bench
from .data import cli as data_cli
from .engine import cli as engine_cli
from .method import cli as method_cli
from .study import cli as study_cli
from .study.profiles import base_configs


# Each layer's CLI module, in the order of ``isnet --help``: ``add_cli(subparsers, **options)`` registers its commands
# (bench; masks; weights and data; train, evaluate and inpaint; search and study).
LAYER_CLIS = (bench, method_cli, data_cli, engine_cli, study_cli)
COMMAND_MODULES = [m.__name__ for m in LAYER_CLIS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isnet", description="ISNet + PRA inpainting: models, training, evaluation and the reproducible study.")
    parser.add_argument("--version", action="version", version=f"isnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    options = {engine_cli: {"profiles": base_configs()}}  # ``train --profile`` chooses from the study's table
    for module in LAYER_CLIS:
        if module is data_cli:
            data_cli.add_weights_cli(sub)  # ``isnet weights`` (calibration reads photos: the data layer)
        module.add_cli(sub, **options.get(module, {}))
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
