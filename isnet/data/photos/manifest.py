"""The photo manifest (one row per photo: origin, licence, checksums, hashes, group, split) and file checks."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pandas as pd
from PIL import Image

from ...io import atomic_write_text, cache_dir, refuse_overwrite, sha256_file
from .collect import Candidate, _thumbnail_rgb
from .dedup import assign_split, dhash, group_near_duplicates, mixed_split, phash, validation_groups

FETCH_COMMAND = "isnet data fetch photos"
SPLITS = ("train", "test")
# The mixed split (``dedup.mixed_split``): every package's groups on both sides, excluded photos on neither.
MIXED_SPLITS = ("mix-train", "mix-test")
# Derived from a train side (``dedup.validation_groups``): ``val`` = held-out training groups, ``fit`` = the rest;
# ``mix-val`` / ``mix-fit`` the same for ``mix-train``.
DERIVED_SPLITS = ("fit", "val", "mix-fit", "mix-val")
EXCLUDED_COLUMNS = ["id", "reason"]

MANIFEST_COLUMNS = ["id", "split", "group", "package", "version", "path", "member", "offset", "licence",
                    "width", "height", "sha256", "file", "dhash", "phash"]


def default_manifest_path() -> Path:
    """The committed manifest: ``$ISNET_PHOTOS_MANIFEST`` or ``<repo>/isnet/resources/photos_manifest.csv``."""
    env = os.environ.get("ISNET_PHOTOS_MANIFEST")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "resources" / "photos_manifest.csv"


def default_excluded_path() -> Path:
    """Photos judged not natural photographs: ``$ISNET_PHOTOS_EXCLUDED`` or ``<repo>/isnet/resources/photos_excluded.csv``."""
    env = os.environ.get("ISNET_PHOTOS_EXCLUDED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "resources" / "photos_excluded.csv"


def read_excluded(path: str | os.PathLike | None = None) -> dict[str, str]:
    """id → reason for every photo the mixed split leaves out (data/README.md lists them)."""
    path = Path(path) if path is not None else default_excluded_path()
    if not path.is_file():
        raise FileNotFoundError(f"list of excluded photos {path} not found; it is committed in the repository as "
                                "isnet/resources/photos_excluded.csv (set ISNET_PHOTOS_EXCLUDED to point elsewhere)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(df.columns) != EXCLUDED_COLUMNS or not df["id"].is_unique or (df["reason"].str.strip() == "").any():
        raise ValueError(f"{path} must have columns {EXCLUDED_COLUMNS}, unique ids and a reason on every row")
    return dict(zip(df["id"], df["reason"]))


def photo_root() -> Path:
    """Where the photo files live: ``<cache>/photos/images`` (named ``<id>.<ext>``)."""
    return cache_dir("photos") / "images"


def _hex64(value: int) -> str:
    return f"{int(value):016x}"


def build_manifest(candidates: list[Candidate]) -> pd.DataFrame:
    """Hashes, near-duplicate groups and the split for a list of candidates → the manifest table."""
    ids = [c.id for c in candidates]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"photo ids are not unique: {dupes}")
    thumbs = [_thumbnail_rgb(Image.open(io.BytesIO(c.data))) for c in candidates]
    dh = [dhash(t) for t in thumbs]
    ph = [phash(t) for t in thumbs]
    groups = group_near_duplicates(ids, [c.package for c in candidates], dh, ph)
    splits = assign_split(groups, [c.split for c in candidates])
    rows = [dict(id=c.id, split=s, group=g, package=c.package, version=c.version, path=c.path, member=c.member,
                 offset="" if c.offset is None else int(c.offset), licence=c.licence, width=c.width,
                 height=c.height, sha256=_sha256(c.data), file=c.file, dhash=_hex64(d), phash=_hex64(p))
            for c, g, s, d, p in zip(candidates, groups, splits, dh, ph)]
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return df.sort_values(["split", "package", "id"], kind="stable").reset_index(drop=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(df: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False) -> Path:
    refuse_overwrite(path, overwrite, what="photo manifest")
    return atomic_write_text(path, df.to_csv(index=False))


def read_manifest(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The committed photo manifest, with a clear error when it is missing or malformed."""
    path = Path(path) if path is not None else default_manifest_path()
    if not path.is_file():
        raise FileNotFoundError(f"photo manifest {path} not found; it is committed in the repository as "
                                "isnet/resources/photos_manifest.csv (set ISNET_PHOTOS_MANIFEST to point elsewhere), or "
                                f"build one with `{FETCH_COMMAND} --rebuild-manifest`")
    df = pd.read_csv(path, dtype={"offset": "string", "member": "string", "version": "string"},
                     keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"photo manifest {path} lacks columns {missing}; rebuild it with "
                         f"`{FETCH_COMMAND} --rebuild-manifest --overwrite`")
    return df


def near_duplicate_groups(df: pd.DataFrame) -> dict[str, list[str]]:
    """Groups with more than one photo: group id → member ids."""
    sizes = df.groupby("group")["id"].apply(list)
    return {g: sorted(m) for g, m in sizes.items() if len(m) > 1}


def no_apt_hint() -> str:
    if shutil.which("apt-get"):
        return ""
    return (" This machine has no apt-get, so the pool (built from Debian packages) cannot be fetched here: "
            "use the `folder` source with a directory of your own photos instead "
            "(build_source('folder', root=DIR) or --source folder --root DIR), or pass .deb files with --debs.")


def verify_files(df: pd.DataFrame, root: Path | None = None) -> list[Path]:
    """Paths of the manifest's photos after checking each exists and has the recorded SHA-256.

    Raises FileNotFoundError / ValueError naming every bad file and the command that repairs it.
    """
    root = photo_root() if root is None else Path(root)
    missing, changed, paths = [], [], []
    for row in df.itertuples(index=False):
        path = root / row.file
        paths.append(path)
        if not path.is_file():
            missing.append(row.file)
        elif sha256_file(path) != row.sha256:
            changed.append(row.file)
    repair = f"run `{FETCH_COMMAND}` to repair." + no_apt_hint()
    if missing:
        raise FileNotFoundError(f"{len(missing)} photo(s) missing from {root}: {_listing(missing)}; {repair}")
    if changed:
        raise ValueError(f"{len(changed)} photo(s) in {root} do not match their SHA-256 in the manifest: "
                         f"{_listing(changed)}; delete them and {repair}")
    return paths


def _listing(names: list[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def mixed_assignment(df: pd.DataFrame, excluded: dict[str, str] | None = None) -> pd.Series:
    """``mix-train`` / ``mix-test`` / ``""`` (excluded) per manifest row, indexed like ``df``."""
    excluded = read_excluded() if excluded is None else excluded
    keep = [i not in excluded for i in df["id"]]
    return pd.Series(mixed_split(list(df["group"]), list(df["package"]), keep), index=df.index, name="mix")


def select_split(df: pd.DataFrame, split: str, excluded: dict[str, str] | None = None) -> pd.DataFrame:
    """The manifest rows of ``split``: ``train``/``test`` as stored; ``val`` the held-out training groups; ``fit``
    the training rows without them; ``mix-train``/``mix-test`` the mixed split (without the ``excluded`` photos,
    by default :func:`read_excluded`); ``mix-val``/``mix-fit`` the same held-out groups of ``mix-train``;
    ``all`` everything."""
    if split == "all":
        return df
    if split in SPLITS:
        return df[df["split"] == split]
    if split not in DERIVED_SPLITS + MIXED_SPLITS:
        raise ValueError(f"photos has splits {list(SPLITS + MIXED_SPLITS + DERIVED_SPLITS)} (or 'all'), not {split!r}")
    if split.startswith("mix-"):
        side = mixed_assignment(df, excluded)
        if split in MIXED_SPLITS:
            return df[side == split]
        splits, train = ["train" if s == "mix-train" else s for s in side], df[side == "mix-train"]
    else:
        splits, train = list(df["split"]), df[df["split"] == "train"]
    held = validation_groups(list(df["group"]), list(df["package"]), splits)
    return train[train["group"].isin(held)] if split.endswith("val") else train[~train["group"].isin(held)]


def source_mix(df: pd.DataFrame | None = None,
               splits: tuple[str, ...] = ("train", "test", "mix-train", "mix-test", "mix-val")) -> pd.DataFrame:
    """Photos per package (rows) and split (columns), with a total row: whether both sides draw on the same sources."""
    df = read_manifest() if df is None else df
    table = pd.DataFrame({s: select_split(df, s)["package"].value_counts() for s in splits}).fillna(0).astype(int)
    table = table.sort_values(list(splits), ascending=False)
    table.loc["total"] = table.sum()
    return table
