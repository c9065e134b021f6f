"""Input files of ``isnet inpaint``: listing a folder's images and pairing each image with its mask by name.

A folder is read flat (hidden files left out); a broken or looping symbolic link is named in a warning,
never skipped silently; a folder without images says what it holds instead. GIFs are images (their
first frame; the reader notes animations).
"""
from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def _images_in(path: Path, what: str = "images") -> list[Path]:
    """The image files of a folder (not recursive, hidden files left out).

    A symbolic link that is broken or loops is named in a warning, not skipped silently; a folder without
    images says which other files it holds.
    """
    files, broken = [], []
    for p in sorted(path.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if p.is_file():
            files.append(p)
        elif p.is_symlink():
            broken.append(p)
    for link in broken:
        try:
            target = os.readlink(link)
        except OSError:
            target = "?"
        why = "loops" if _loops(link) else "points to nothing"
        warnings.warn(f"skipped {link}: it is a symbolic link that {why} (-> {target}); fix or remove the link",
                      stacklevel=3)
    if not files:
        others = sorted(p.name for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
        found = (f"; it holds {len(others)} other file(s): {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}"
                 if others else "; it is empty") if not broken else f"; {len(broken)} broken symbolic link(s)"
        raise FileNotFoundError(f"no {what} ({', '.join(IMAGE_SUFFIXES)}) in --{what} {path}{found}: convert the "
                                "files to PNG or JPEG, or point --" + what + " at the right folder")
    return files


def _loops(link: Path) -> bool:
    try:
        link.resolve(strict=True)
    except RuntimeError:
        return True
    except OSError as e:
        return e.errno == errno.ELOOP
    return False


def pair_files(images: str | os.PathLike, masks: str | os.PathLike | None) -> list[tuple[Path, Path | None]]:
    """(image, mask) pairs: by file stem for folders; one mask file serves every image; mask None without masks.

    A missing mask, or two mask files with the image's stem, is an error naming the image.
    """
    images = Path(images)
    masks = Path(masks) if masks is not None else None
    for what, p in (("images", images), ("masks", masks)):
        if p is not None and not p.exists():
            raise FileNotFoundError(f"--{what} {p} does not exist")
    image_files = _images_in(images) if images.is_dir() else [images]
    if masks is None:
        return [(img, None) for img in image_files]
    if masks.is_file():
        return [(img, masks) for img in image_files]
    by_stem: dict[str, list[Path]] = {}
    for m in _images_in(masks, "masks"):
        by_stem.setdefault(m.stem, []).append(m)
    pairs: list[tuple[Path, Path | None]] = []
    for img in image_files:
        candidates = [m for m in by_stem.get(img.stem, []) if m.resolve() != img.resolve()]
        if not candidates:
            raise FileNotFoundError(f"no mask for image {img}: expected a file named {img.stem}.<png|jpg|...> "
                                    f"in {masks} (masks are matched by file name)")
        if len(candidates) > 1:
            raise ValueError(f"image {img} has several masks in {masks}: "
                             f"{', '.join(c.name for c in candidates)}; keep one")
        pairs.append((img, candidates[0]))
    return pairs
