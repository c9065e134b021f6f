"""The engine's commands: ``isnet train``, ``isnet evaluate`` and ``isnet inpaint`` (parsers and exit codes)."""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import warnings
from pathlib import Path
from typing import Iterator, Mapping

from tqdm.auto import tqdm

from ..io import refuse_overwrite
from ..method.baselines import BASELINES
from . import inpaint
from .config import Config, load_config
from .evaluate import evaluate, summarize, summary_markdown, write_results
from .inpaint import DEFAULT_MAX_MEMORY_GB, HOLES, InputErrors, inpaint_files
from .modes import AUTO, MODES
from .train import Dist, NonFiniteLossError, train


def add_cli(sub, profiles: Mapping[str, Config]) -> None:
    """Register ``train`` (``--profile`` chooses a base config from ``profiles``), ``evaluate`` and ``inpaint``."""
    _add_train(sub, profiles)
    _add_evaluate(sub)
    _add_inpaint(sub)


# ----------------------------------------------------------------------------------------- train
def config_from_args(args: argparse.Namespace, profiles: Mapping[str, Config]) -> Config:
    """``--profile`` (a name in ``profiles``) as the base, then ``--config FILE``, then ``key=value`` overrides."""
    if not args.profile and not args.config:
        raise SystemExit(f"isnet train: give --profile ({', '.join(sorted(profiles))}) or --config FILE")
    cfg = profiles[args.profile] if args.profile else Config()
    if args.config:
        cfg = load_config(args.config, base=cfg)
    return cfg.with_overrides(args.overrides)


def _cmd_train(args: argparse.Namespace, profiles: Mapping[str, Config]) -> int:
    try:
        cfg = config_from_args(args, profiles)
        summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    except (ValueError, KeyError, FileExistsError, FileNotFoundError, NonFiniteLossError) as e:
        print(f"isnet train: {e}", file=sys.stderr)
        return 2
    if Dist.from_env().main:
        print(json.dumps(summary.to_dict(), indent=1, default=str))
    return 1 if summary.stopped_early else 0


def _add_train(sub, profiles: Mapping[str, Config]) -> None:
    p = sub.add_parser("train", help="train a generator (single process or under torchrun)",
                       description="Train ISNet (or another generator) from a profile or config file. "
                                   "Options first, then dotted key=value overrides, e.g. "
                                   "isnet train --profile smoke --resume model.blocks=2 train.iterations=100. "
                                   "Multi-process: torchrun --standalone --nproc-per-node=N -m isnet train ...")
    p.add_argument("--profile", choices=sorted(profiles), help="a built-in profile as the base config")
    p.add_argument("--config", help="YAML file with sections model, loss, data, train, out")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (dotted keys)")
    p.set_defaults(func=functools.partial(_cmd_train, profiles=profiles))


# ----------------------------------------------------------------------------------------- evaluate
def _cmd_evaluate(args: argparse.Namespace) -> int:
    method = args.checkpoint or args.method
    try:
        if args.out:  # before the (long) evaluation, not after it
            for name in ("per_pair.csv", "summary.csv", "summary.md"):
                refuse_overwrite(Path(args.out) / name, args.overwrite, "result file")
        df = evaluate(method, args.pairs, pra=args.pra, name=args.name, device=args.device,
                      batch_size=args.batch_size, pra_kernel=args.kernel, progress=not args.no_progress,
                      limit=args.limit)
        if args.out:
            paths = write_results(df, args.out, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError) as e:
        print(f"isnet evaluate: error: {e}", file=sys.stderr)
        return 2
    print(summary_markdown(summarize(df)))
    if args.out:
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint or a classical method on fixed pairs (per bucket, 95%% CI)",
                       description="PSNR, SSIM and MAE of the composite (whole image and hole only) per pair, "
                                   "aggregated per hole-ratio bucket with 95 % confidence intervals.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="our checkpoint (best.pt, iter_*.pt) or the authors' InpaintingModel_gen.pth")
    which.add_argument("--method", choices=sorted(BASELINES), help="a classical baseline")
    p.add_argument("--pairs", required=True, help="pairs manifest written by `isnet data pairs`")
    p.add_argument("--pra", action="store_true", help="progressive reconstruction instead of one pass")
    p.add_argument("--kernel", type=int, default=15, help="PRA growth kernel (code: 15, paper Figure 6: 9)")
    p.add_argument("--out", default=None, help="folder for per_pair.csv, summary.csv, summary.md")
    p.add_argument("--name", default=None, help="method label in the tables (default from the method)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, default=None, help="only the first N pairs (a quick look)")
    p.add_argument("--overwrite", action="store_true", help="replace existing result files in --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_evaluate)


# ----------------------------------------------------------------------------------------- inpaint
@contextlib.contextmanager
def _one_line_warnings(prog: str) -> Iterator[None]:
    """Show warnings as ``isnet inpaint: warning: ...`` lines, without source-code context."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield
    finally:
        warnings.showwarning = previous


def _cmd_inpaint(args: argparse.Namespace) -> int:
    prog = "isnet inpaint"
    with _one_line_warnings(prog):
        try:
            written = inpaint_files(args.checkpoint, args.images, args.masks, args.out, pra=args.pra,
                                    holes=args.holes, save_raw=args.save_raw, overwrite=args.overwrite,
                                    device=args.device, progress=not args.no_progress,
                                    max_memory_gb=args.max_memory, tile=args.tile, mode=args.mode,
                                    on_image=lambda r: tqdm.write(r.line(args.pra)))
        except InputErrors as e:
            for line in e.lines:
                print(f"{prog}: error: {line}", file=sys.stderr)
            return 2
        except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError) as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 2
    print(f"wrote {len(written)} composite(s) to {args.out}")
    return 0


def _add_inpaint(sub) -> None:
    p = sub.add_parser("inpaint", help="inpaint your own images with a checkpoint (ours or the authors')",
                       description=inpaint.__doc__.split("\n\n", 1)[1] if inpaint.__doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None,
                   help="a run's checkpoints/best.pt or iter_*.pt, or the authors' InpaintingModel_gen.pth; default: "
                        "the small generator shipped with the package (isnet.pretrained; its name and scores are "
                        "printed)")
    p.add_argument("--images", required=True, help="an image file or a folder of images")
    p.add_argument("--masks", default=None,
                   help="a mask file (used for every image) or a folder, paired by name (not with --holes alpha)")
    p.add_argument("--out", required=True, help="output folder (not an input folder)")
    p.add_argument("--pra", action="store_true",
                   help="progressive reconstruction (several passes for big holes; each image's count is printed)")
    p.add_argument("--mode", choices=(AUTO, *MODES), default=AUTO,
                   help="inference mode (isnet.engine.modes): native runs the photo at its own size; coarse-to-fine "
                        "inpaints at the model's training size and upsamples the fill into the hole; auto (default) "
                        "takes the shipped model's best measured mode at the photo's size (isnet bench scale) and "
                        "warns where every mode measured below Telea; other checkpoints: native")
    p.add_argument("--holes", choices=HOLES, default="white",
                   help="white or black: which colour marks the hole in the mask files (default white); alpha: "
                        "no mask files, each image's transparent pixels are the hole")
    p.add_argument("--save-raw", action="store_true", help="also write the raw generator output to OUT/raw/")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--max-memory", type=float, default=DEFAULT_MAX_MEMORY_GB, metavar="GB",
                   help=f"estimated memory per image (default {DEFAULT_MAX_MEMORY_GB:g}); a bigger image is run in "
                        "overlapping tiles, and refused if even tiles would not fit")
    p.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="always run in tiles of this size (a multiple of 16) instead of choosing from --max-memory")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_inpaint)
