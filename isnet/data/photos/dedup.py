"""Perceptual hashes (dHash, pHash) and the near-duplicate groups that keep one subject on one side of the split."""
from __future__ import annotations

import hashlib
import math
import re

import numpy as np
from PIL import Image


def _grey_small(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Luma, resized with an antialiased box filter (what perceptual hashes expect)."""
    arr = np.asarray(rgb, np.float32)
    if arr.max(initial=0) <= 1.0:
        arr = arr * 255.0
    luma = arr[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32) if arr.ndim == 3 else arr
    img = Image.fromarray(np.clip(luma, 0, 255).astype(np.uint8))
    return np.asarray(img.resize((width, height), Image.Resampling.BOX), np.float64)


def _bits_to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits.ravel()), 2)


def dhash(rgb: np.ndarray, size: int = 8) -> int:
    """Difference hash: ``size²`` bits, 1 where a pixel is brighter than its right neighbour."""
    g = _grey_small(rgb, size + 1, size)
    return _bits_to_int(g[:, 1:] > g[:, :-1])


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix ``C`` (``C @ x`` transforms a length-n signal)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    c = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def phash(rgb: np.ndarray, size: int = 8, factor: int = 4) -> int:
    """DCT hash: the ``size×size`` lowest frequencies of a ``size·factor`` square thumbnail vs their median.

    The DC term is left out of the median so the hash does not depend on overall brightness.
    """
    n = size * factor
    c = _dct_matrix(n)
    low = (c @ _grey_small(rgb, n, n) @ c.T)[:size, :size]
    med = np.median(low.ravel()[1:])
    return _bits_to_int(low > med)


def hamming(a: int, b: int) -> int:
    return bin(int(a) ^ int(b)).count("1")


# Name patterns that mark one subject photographed several times (stereo pairs, video frames,
# viewpoint series, light/dark variants). Stripped from the end of an id's last part to form a
# series key; photos of one package whose keys agree share a group.
_SERIES_SUFFIX = re.compile(r"(?:[-_](?:left|right|original|modified|dark|light|back)|\d+|[LRAB])$")


def series_key(photo_id: str) -> str:
    """``opencv-aloeL`` → ``opencv-aloe``; ``gcompris-clickgame-sea3`` → ``gcompris-clickgame-sea``."""
    key = photo_id
    while (stripped := _SERIES_SUFFIX.sub("", key)) != key and stripped and not stripped.endswith("-"):
        key = stripped
    return key


def subject_key(photo_id: str, package: str) -> str:
    """The same subject name inside one package (e.g. a giraffe in two GCompris activities)."""
    return f"{package}:{series_key(photo_id).rsplit('-', 1)[-1].lower()}"


# Hash thresholds (bits of 64), calibrated on the pool: re-encoded copies and consecutive video
# frames (rubberwhale1/2: dHash 1, pHash 0) and a rectified stereo pair (motorcycle: 17, 6) fall
# inside; the closest unrelated photos are at pHash >= 16 (dHash alone is unreliable: two dark
# horizons at dHash 6). Wider-baseline pairs (aloe, leuven, graf) are caught by their names.
MAX_PHASH = 10
MAX_DHASH = 20


def group_near_duplicates(ids: list[str], packages: list[str], dhashes: list[int], phashes: list[int],
                          max_phash: int = MAX_PHASH, max_dhash: int = MAX_DHASH) -> list[str]:
    """A group id per photo: connected components of "near duplicate" links.

    Two photos are linked when their pHash differs in at most ``max_phash`` and their dHash in at
    most ``max_dhash`` of 64 bits, when their series keys agree (:func:`series_key`), or when they
    show the same named subject in the same package (:func:`subject_key`). A group is named after
    its alphabetically first member, so it is stable when the order of rows changes.
    """
    n = len(ids)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    for keyfn in (lambda i: series_key(ids[i]), lambda i: subject_key(ids[i], packages[i])):
        first: dict[str, int] = {}
        for i in range(n):
            union(i, first.setdefault(keyfn(i), i))
    for i in range(n):
        for j in range(i + 1, n):
            if hamming(phashes[i], phashes[j]) <= max_phash and hamming(dhashes[i], dhashes[j]) <= max_dhash:
                union(i, j)
    members: dict[int, list[str]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(ids[i])
    name = {root: min(m) for root, m in members.items()}
    return [name[find(i)] for i in range(n)]


def assign_split(groups: list[str], package_splits: list[str]) -> list[str]:
    """Split by group: a group goes to test if any member's package is a test package, else train.

    So no group is ever on both sides, and test photos come from other packages than most of the
    training photos.
    """
    test_groups = {g for g, s in zip(groups, package_splits) if s == "test"}
    return ["test" if g in test_groups else "train" for g in groups]


VAL_FRACTION = 0.1  # of the training groups, per package: held out for validation (``val``), never trained on in ``fit``


def validation_groups(groups: list[str], packages: list[str], splits: list[str],
                      fraction: float = VAL_FRACTION) -> set[str]:
    """The training groups held out for validation: in each package, the ``ceil(fraction × groups)`` training
    groups with the smallest sha256 of their name (fixed by the manifest alone, no random state), so validation
    has the training side's mix of sources and never a test photo or a group that straddles."""
    by_package: dict[str, set[str]] = {}
    for g, pkg, s in zip(groups, packages, splits):
        if s == "train":
            by_package.setdefault(pkg, set()).add(g)
    taken: set[str] = set()
    owner: dict[str, str] = {}
    for g, pkg, s in zip(groups, packages, splits):
        owner.setdefault(g, pkg)  # a group that spans packages counts once, for its first package
    for pkg, gs in sorted(by_package.items()):
        mine = sorted((g for g in gs if owner[g] == pkg), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
        taken.update(mine[:math.ceil(fraction * len(mine))])
    return taken


MIX_TEST_FRACTION = 0.2  # of each package's groups: the ``mix-test`` side of the mixed split (the rest ``mix-train``)


def _by_name_hash(names) -> list[str]:
    """Names ordered by the sha256 of the name: a fixed, seed-free shuffle that does not depend on row order."""
    return sorted(names, key=lambda g: hashlib.sha256(g.encode()).hexdigest())


def mixed_split(groups: list[str], packages: list[str], keep: list[bool],
                fraction: float = MIX_TEST_FRACTION) -> list[str]:
    """``mix-train`` / ``mix-test`` per photo (``""`` where ``keep`` is False), stratified by package.

    In each package, ``round(fraction × groups)`` of its kept groups (the ones with the smallest sha256 of
    their name: fixed by the manifest alone, no random state) go to ``mix-test``, the rest to ``mix-train``,
    so both sides draw on the same mix of sources and a group never straddles. A group that spans packages
    counts once, for its first package (as in :func:`validation_groups`).
    """
    owner: dict[str, str] = {}
    for g, pkg, k in zip(groups, packages, keep):
        if k:
            owner.setdefault(g, pkg)
    by_package: dict[str, list[str]] = {}
    for g, pkg in owner.items():
        by_package.setdefault(pkg, []).append(g)
    test: set[str] = set()
    for pkg, gs in sorted(by_package.items()):
        test.update(_by_name_hash(gs)[:math.floor(fraction * len(gs) + 0.5)])
    return ["" if not k else "mix-test" if g in test else "mix-train" for g, k in zip(groups, keep)]
