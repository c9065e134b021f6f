"""Contact sheets of the photo pool: PNG grids of thumbnails labelled with their manifest ids, for checking by eye.

Used to decide which photos are not natural photographs (isnet/resources/photos_excluded.csv). The sheets
go to a temporary folder and are never committed.

    nice -n 19 .venv/bin/python scripts/photo_contact_sheets.py --out /tmp/isnet-sheets [--cols 5 --rows 4]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from PIL import Image, ImageDraw

from isnet.io import cache_dir  # stdlib only: importing isnet.data would load torch, slow on a busy machine

RESOURCES = Path(__file__).resolve().parents[1] / "isnet" / "resources"


def sheet(rows: list[tuple[str, Path, str]], cols: int, thumb: int, label_h: int = 28) -> Image.Image:
    """One grid: each cell a thumbnail (aspect kept) above its id and a mark when it is already excluded."""
    n_rows = -(-len(rows) // cols)
    out = Image.new("RGB", (cols * thumb, n_rows * (thumb + label_h)), "white")
    draw = ImageDraw.Draw(out)
    for k, (pid, path, mark) in enumerate(rows):
        x, y = (k % cols) * thumb, (k // cols) * (thumb + label_h)
        with Image.open(path) as im:
            im.draft("RGB", (thumb, thumb))  # JPEG: decode at a reduced DCT scale (much faster on large photos)
            im = im.convert("RGB")
            im.thumbnail((thumb - 4, thumb - 4))
            out.paste(im, (x + (thumb - im.width) // 2, y + (thumb - im.height) // 2))
        draw.text((x + 3, y + thumb + 1), pid[:40], fill="black")
        draw.text((x + 3, y + thumb + 13), f"#{k} {mark}"[:40], fill="red" if mark else "grey")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the PNG sheets (outside the repository)")
    ap.add_argument("--cols", type=int, default=5)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--thumb", type=int, default=240, help="cell size in pixels")
    ap.add_argument("--from-sheet", type=int, default=0, help="skip the sheets before this one (resume)")
    args = ap.parse_args()
    with open(RESOURCES / "photos_manifest.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (r["package"], r["id"]))
    excluded: dict[str, str] = {}
    if (RESOURCES / "photos_excluded.csv").is_file():
        with open(RESOURCES / "photos_excluded.csv", newline="") as f:
            excluded = {r["id"]: r["reason"] for r in csv.DictReader(f)}
    root = cache_dir("photos") / "images"  # as isnet.data.photos.photo_root()
    cells = [(r["id"], root / r["file"], excluded.get(r["id"], "")) for r in rows]
    per = args.cols * args.rows
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.from_sheet * per, len(cells), per):
        path = args.out / f"sheet_{i // per:02d}.png"
        sheet(cells[i:i + per], args.cols, args.thumb).save(path)
        print(path, ", ".join(c[0] for c in cells[i:i + per]), flush=True)


if __name__ == "__main__":
    main()
