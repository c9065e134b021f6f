"""The method layer's command line: ``isnet masks make | nvidia`` (fixed mask sets, NVIDIA mask index)."""
from __future__ import annotations

import argparse

from .masks import BUCKET_SCHEMES, FAMILIES, HOLES, MANIFEST, NVIDIA_GROUP_SIZE, index_nvidia_masks, make_mask_set


def _cli_make(args: argparse.Namespace) -> int:
    df = make_mask_set(args.out, (args.size, args.width or args.size), args.per_bucket, scheme=args.scheme,
                       seed=args.seed, overwrite=args.overwrite, family=args.family, holes=args.holes)
    counts = df.groupby("bucket", sort=False)["hole_ratio"].agg(["count", "min", "max"])
    print(f"wrote {len(df)} masks and {MANIFEST} to {args.out}\n{counts.to_string()}")
    return 0


def _cli_nvidia(args: argparse.Namespace) -> int:
    df = index_nvidia_masks(args.root, args.out, size=args.size, holes=args.holes, group_size=args.group_size,
                            overwrite=args.overwrite)
    print(f"indexed {len(df)} masks (holes={df['holes'].iloc[0]!r}) into {args.out}")
    print(df.groupby("bucket", dropna=False).size().to_string())
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("masks", help="make fixed test-mask sets; index NVIDIA irregular masks")
    msub = parser.add_subparsers(dest="masks_command", metavar="ACTION", required=True)

    make = msub.add_parser("make", help="write a seeded mask set with an exact count per hole-ratio bucket")
    make.add_argument("--out", required=True, help="output folder (PNGs + manifest.csv)")
    make.add_argument("--size", type=int, default=256, help="mask height in px (evaluation resolution)")
    make.add_argument("--width", type=int, default=None, help="mask width in px (default: --size)")
    make.add_argument("--per-bucket", type=int, required=True, help="masks per bucket (exact)")
    make.add_argument("--scheme", choices=sorted(BUCKET_SCHEMES), default="paper")
    make.add_argument("--family", choices=sorted(FAMILIES), default=None, help="stroke family (default: mixed)")
    make.add_argument("--holes", choices=HOLES, default="white", help="colour that marks holes in the files")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--overwrite", action="store_true", help="replace an existing set in --out")
    make.set_defaults(func=_cli_make)

    nv = msub.add_parser("nvidia", help="check polarity of and bucket a NVIDIA irregular-mask folder")
    nv.add_argument("--root", required=True, help="folder with 00000.png … 11999.png")
    nv.add_argument("--out", required=True, help="manifest CSV to write")
    nv.add_argument("--size", type=int, default=None, help="measure ratios after nearest resize to this size")
    nv.add_argument("--holes", choices=("auto",) + HOLES, default="auto")
    nv.add_argument("--group-size", type=int, default=NVIDIA_GROUP_SIZE)
    nv.add_argument("--overwrite", action="store_true")
    nv.set_defaults(func=_cli_nvidia)
