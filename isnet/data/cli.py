"""The data layer's command line: ``isnet data fetch | pairs | list`` and ``isnet weights list | fetch | calibrate``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..markdown import markdown_table
from ..method.features import BACKBONES, FETCHERS, MissingWeightsError, fetch, is_cached, provenance
from . import photos as _photos
from .calibrate import calibrate
from .pairs import _mask_dir, make_pairs
from .sources import EVAL_SPLITS, SOURCES, list_sources


def _source_opts(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if getattr(args, "root", None):
        opts["root"] = str(Path(args.root).resolve())
    if getattr(args, "large", False):
        opts["small"] = False
    return opts


def _cli_fetch(args: argparse.Namespace) -> int:
    report = _photos.fetch_photos(packages=args.packages or None, manifest=args.manifest,
                                  rebuild_manifest=args.rebuild_manifest, overwrite=args.overwrite,
                                  debs_dir=args.debs, keep_debs=args.keep_debs)
    print(report.summary())
    df = _photos.read_manifest(report.manifest)
    counts = df.groupby("split").agg(photos=("id", "size"), groups=("group", "nunique"))
    print(f"\npool in {_photos.photo_root()} ({report.manifest}):\n{counts.to_string()}")
    if report.rebuilt:
        print(f"\nwrote {report.manifest}; {len(report.skipped)} candidate file(s) were not photos we keep")
    return 0


def _cli_pairs(args: argparse.Namespace) -> int:
    split = args.split or EVAL_SPLITS.get(args.source, "all")
    df = make_pairs(args.source, split, args.size, args.per_bucket, args.out, scheme=args.scheme, seed=args.seed,
                    family=args.family, overwrite=args.overwrite, upscale=args.upscale, source_opts=_source_opts(args))
    print(f"wrote {len(df)} pairs ({df['image_id'].nunique()} images) to {args.out}, masks in {_mask_dir(Path(args.out))}")
    print(df.groupby("bucket", sort=False)["hole_ratio"].agg(["count", "min", "max"]).to_string())
    return 0


def _cli_list(args: argparse.Namespace) -> int:
    df = list_sources(dict(folder=args.folder, celeba=args.celeba, places2=args.places2))
    cols = ["name", "split", "count", "licence", "note"]
    print(df[cols].to_markdown(index=False) if _has_tabulate() else df[cols].to_string(index=False))
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


def add_cli(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="image sources: fetch the offline photo pool, write evaluation pairs, list")
    dsub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    fetch = dsub.add_parser("fetch", help="build or repair the offline photo pool (apt-get download, no install)")
    fetch.add_argument("what", choices=["photos"], help="what to fetch")
    fetch.add_argument("--packages", nargs="+", default=None, help="only these packages (default: all)")
    fetch.add_argument("--manifest", default=None, help="photo manifest (default: isnet/resources/photos_manifest.csv)")
    fetch.add_argument("--debs", default=None, help="use the .deb files in this folder instead of downloading")
    fetch.add_argument("--keep-debs", action="store_true", help="keep downloaded .deb files in the cache")
    fetch.add_argument("--rebuild-manifest", action="store_true",
                       help="maintainers: apply the selection rules afresh and write a new manifest")
    fetch.add_argument("--overwrite", action="store_true", help="with --rebuild-manifest: replace the manifest")
    fetch.set_defaults(func=_cli_fetch)

    pairs = dsub.add_parser("pairs", help="write a fixed manifest of (image, mask) evaluation pairs per bucket")
    pairs.add_argument("--source", choices=sorted(SOURCES), default="photos")
    pairs.add_argument("--root", default=None, help="folder/.flist (folder), data root (celeba, places2)")
    pairs.add_argument("--large", action="store_true", help="places2: the large images instead of 256 px")
    pairs.add_argument("--split", default=None, help="default: the source's held-out split (photos/celeba: test, "
                                                     "places2: val; folder and samples have one split, all)")
    pairs.add_argument("--size", type=int, default=256)
    pairs.add_argument("--per-bucket", type=int, required=True)
    pairs.add_argument("--scheme", default="paper", help="bucket scheme: paper (4 × 10 %%) or nvidia (6 × 10 %%)")
    pairs.add_argument("--family", default=None, help="mask family (default: mixed)")
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--upscale", action="store_true", help="enlarge images smaller than --size (logged)")
    pairs.add_argument("--out", required=True, help="pairs CSV; masks go to <stem>_masks/ beside it")
    pairs.add_argument("--overwrite", action="store_true")
    pairs.set_defaults(func=_cli_pairs)

    lst = dsub.add_parser("list", help="image sources with their counts and licences")
    lst.add_argument("--folder", default=None)
    lst.add_argument("--celeba", default=None)
    lst.add_argument("--places2", default=None)
    lst.set_defaults(func=_cli_list)


# --------------------------------------------------------------------------------------------
# CLI: isnet weights list | fetch NAME | calibrate NAME (the backbones of isnet.method.features)
# --------------------------------------------------------------------------------------------

def _cmd_list(args) -> int:
    rows = [(name, spec.arch, "yes" if is_cached(name) else "no", "yes" if spec.for_tests else "", spec.training_data,
             spec.licence, spec.source) for name, spec in BACKBONES.items()]
    print(markdown_table(("backbone", "arch", "cached", "for tests", "training data", "licence", "source"), rows), end="")
    return 0


def _cmd_fetch(args) -> int:
    try:
        path = fetch(args.name, overwrite=args.overwrite)
    except (MissingWeightsError, ValueError, RuntimeError) as e:
        print(f"isnet weights fetch {args.name}: {e}", file=sys.stderr)
        return 1
    print(f"{args.name}: {path} ({provenance(args.name)['integrity']})")
    return 0


def _cmd_calibrate(args) -> int:
    """Derive a calibrated backbone's per-layer scales from the photo pool and write the resource file."""
    try:
        out, record, n = calibrate(args.name, args.source, args.split, args.size, args.out, args.overwrite)
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        print(f"isnet weights calibrate {args.name}: {e}", file=sys.stderr)
        return 2
    print(f"{args.name}: scales for {len(record['layer_scales'])} layers from {n} images -> {out}")
    return 0


def add_weights_cli(sub) -> None:
    p = sub.add_parser("weights", help="feature-backbone weights for the perceptual/style losses")
    cmds = p.add_subparsers(dest="weights_command", metavar="ACTION")
    q = cmds.add_parser("list", help="table of backbones with provenance and whether they are cached")
    q.set_defaults(func=_cmd_list)
    q = cmds.add_parser("fetch", help="download and check one backbone's weights")
    q.add_argument("name", choices=[n for n, s in BACKBONES.items() if s.kind in FETCHERS])
    q.add_argument("--overwrite", action="store_true", help="fetch again even if the file is cached")
    q.set_defaults(func=_cmd_fetch)
    q = cmds.add_parser("calibrate", help="derive a calibrated backbone's per-layer scales from photos",
                        description="Writes isnet/resources/NAME-calibration.json: 1 / mean activation of every "
                                    "layer over the images (module docstring of isnet.features).")
    q.add_argument("name", choices=[n for n, s in BACKBONES.items() if s.calibrated])
    q.add_argument("--source", default="photos", help="image source (default: the offline photo pool)")
    q.add_argument("--split", default="train")
    q.add_argument("--size", type=int, default=128, help="square size the images are resized to")
    q.add_argument("--out", help="output file (default: the package's resource file)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing calibration file")
    q.set_defaults(func=_cmd_calibrate)
