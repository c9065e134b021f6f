"""The ``isnet`` command: one parser that each layer's own small CLI module fills in.

Each ``add_cli(subparsers)`` adds its subcommands and sets ``func`` to a callable taking the parsed
arguments and returning an exit code. The engine's ``train`` gets the profile table from the study layer.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__, bench
from .data import cli as data_cli
from .engine import cli as engine_cli
from .io import describe_os_error
from .method import cli as method_cli
from .study import cli as study_cli
from .study.profiles import base_configs
from .study.search import default_storage


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
    """Run one command; every error a user can cause ends here as one line and exit status 2.

    The boundary: a bad input (ValueError and the FileNotFound/FileExists/NotADirectory errors), any other
    OSError (read-only folder, full disk, permission), a malformed ``--config`` YAML file and an Optuna
    storage that is not a database become ``isnet <cmd>: error: ...`` naming the file or option and the fix,
    without a traceback. ``ISNET_DEBUG=1`` re-raises them to show the traceback.
    """
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
    except Exception as e:
        message = user_error(e, args)
        if message is None or os.environ.get("ISNET_DEBUG"):
            raise
        lines = message.strip().splitlines() or [type(e).__name__]
        for line in lines:
            print(f"isnet {args.command}: error: {line}", file=sys.stderr)
        return 2


def user_error(e: BaseException, args: argparse.Namespace) -> str | None:
    """The message for an error a user can cause and fix (None: a bug, which keeps its traceback)."""
    if isinstance(e, (FileExistsError, FileNotFoundError, NotADirectoryError)) and e.errno is None:
        return str(e)  # our own messages, which name the file and the fix
    if isinstance(e, OSError):
        return describe_os_error(e)
    if isinstance(e, ValueError):
        return str(e)
    yaml_message = _yaml_error(e, args)
    if yaml_message is not None:
        return yaml_message
    return _storage_error(e, args)


def _yaml_error(e: BaseException, args: argparse.Namespace) -> str | None:
    yaml = sys.modules.get("yaml")
    if yaml is None or not isinstance(e, yaml.YAMLError):
        return None
    where = f"--config {args.config}" if getattr(args, "config", None) else "a YAML file"
    mark = getattr(e, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return (f"{where} is not valid YAML ({problem}{at}); fix the file: sections such as `train:` on their own "
            "line, then indented `key: value` lines (e.g. `  iterations: 100`)")


def _storage_error(e: BaseException, args: argparse.Namespace) -> str | None:
    """An Optuna storage that is not a database (sqlite says "file is not a database")."""
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(e, exc.DatabaseError):
        return None
    storage = getattr(args, "storage", None)
    if storage:
        where = f"--storage {storage}"
    elif args.command == "study":
        where = f"the study's Optuna storage {Path(args.results or Path('results') / args.profile) / 'optuna.db'}"
    elif args.command == "search" and getattr(args, "profile", None):
        where = f"the Optuna storage {default_storage(args.profile)}"
    else:
        where = "the Optuna storage"
    orig = getattr(e, "orig", None) or e
    return (f"{where} cannot be used ({str(orig).splitlines()[0]}): it is not an Optuna database; move that file "
            "away (or pass --storage with a new file name), then run again")


if __name__ == "__main__":
    sys.exit(main())
