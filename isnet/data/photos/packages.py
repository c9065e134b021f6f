"""What the pool takes: the selection rules per Debian package and the photos that PyPI wheels ship."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackageSpec:
    """Selection rules for one Debian package (paths are inside the package, without a leading ``/``)."""

    package: str
    split: str
    prefix: str                                 # id prefix
    include: tuple[str, ...] = ()               # fnmatch patterns of photo files
    exclude: tuple[str, ...] = ()
    rcc: tuple[str, ...] = ()                   # Qt resource files to carve WebP photos out of
    id_from: int = -1                           # which path part names the photo (-1: file stem)
    largest_per_folder: bool = False            # multi-resolution wallpapers: keep the largest only
    licences: tuple[tuple[str, str], ...] = ()  # per-file overrides (pattern, licence) from the package's credits
    desktop_licence: bool = False               # read the licence from a sibling .desktop file
    note: str = ""

    @property
    def copyright(self) -> str:
        return f"usr/share/doc/{self.package}/copyright"


_GC = "usr/share/gcompris-qt/rcc/"
_CV = "usr/share/doc/opencv-doc/examples/"
_OPENCV_PHOTOS = (
    "alphamat/input_images/plant.jpg", "reg/home.png",
    *(f"text/scenetext0{i}.jpg" for i in range(1, 7)),
    *(f"data/{n}" for n in (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg",
        "butterfly.jpg", "chicky_512.png", "ela_modified.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png",
        "graf3.png", "home.jpg", "left.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "right.jpg",
        "rubberwhale1.png", "rubberwhale2.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg")),
)
_PLASMA_PHOTOS = ("BytheWater", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Kite", "OneStandsOut",
                  "Path", "Volna", "summer_1am")

PACKAGES: dict[str, PackageSpec] = {s.package: s for s in (
    PackageSpec(
        "gcompris-qt-data", "train", "gcompris",
        rcc=tuple(_GC + f"{a}.rcc" for a in ("erase", "explore_monuments", "explore_world_animals",
                                             "explore_farm_animals", "categorization", "clickgame",
                                             "explore_world_music")),
        note="WebP photos carved out of the Qt resource files of 7 activities; lang, details, paintings, "
             "babyshapes (clip-art, paintings) and rendered planets are not taken"),
    PackageSpec(
        "opencv-doc", "test", "opencv", include=tuple(_CV + p for p in _OPENCV_PHOTOS),
        note="OpenCV sample photos from examples/ only; renders, charts, documents, grey images, "
             "the painting and lena (removed by Debian) are not taken"),
    PackageSpec(
        "tuxpaint-data", "train", "tuxpaint",
        include=("usr/share/tuxpaint/templates/*.jpg", "usr/share/tuxpaint/starters/reef-back.png",
                 "usr/share/tuxpaint/starters/skyline-sf-dusk-back.jpeg"),
        licences=(("*/starters/*", "public-domain (NOAA photo library)"),),
        note="photo templates and the two photographic starter backgrounds"),
    PackageSpec(
        "lomiri-wallpapers-16.04", "train", "lomiri",
        include=("usr/share/backgrounds/*_by_*.jpg",),
        exclude=("*/analogpattern_by_*", "*/umang_by_*"), note="photo wallpapers; two abstract ones left out"),
    PackageSpec(
        "lomiri-wallpapers-20.04", "train", "lomiri", include=("usr/share/backgrounds/Kleiber_by_*.jpg",),
        note="the one photo (the others are renders)"),
    PackageSpec(
        "mate-backgrounds", "train", "mate", include=("usr/share/backgrounds/mate/nature/*.jpg",),
        note="nature photos only (abstract/desktop are artwork)"),
    PackageSpec(
        "plasma-workspace-wallpapers", "train", "plasma",
        include=tuple(f"usr/share/wallpapers/{w}/contents/images/*" for w in _PLASMA_PHOTOS),
        id_from=-4, largest_per_folder=True,
        note="photo wallpapers, largest resolution of each; the nearly grey ColdRipple and Grey and all renders "
             "left out"),
    PackageSpec(
        "palapeli-data", "test", "palapeli", include=("usr/share/palapeli/collection/*.jpg",),
        desktop_licence=True, note="puzzle photos; licence and author from each puzzle's .desktop file"),
)}


@dataclass(frozen=True)
class PyPIPhoto:
    """A photo shipped inside an installed Python distribution (no download needed)."""

    id: str
    distribution: str   # PyPI name, for the version
    module: str         # importable package holding the file
    relpath: str        # path of the file inside that package
    licence: str


PYPI_PHOTOS: tuple[PyPIPhoto, ...] = (
    PyPIPhoto("skimage-astronaut", "scikit-image", "skimage", "data/astronaut.png", "public-domain (NASA)"),
    PyPIPhoto("skimage-chelsea", "scikit-image", "skimage", "data/chelsea.png", "CC0 (Stefan van der Walt)"),
    PyPIPhoto("skimage-coffee", "scikit-image", "skimage", "data/coffee.png", "CC0 (Rachel Michetti)"),
    PyPIPhoto("skimage-rocket", "scikit-image", "skimage", "data/rocket.jpg", "public-domain (SpaceX)"),
    PyPIPhoto("skimage-motorcycle_left", "scikit-image", "skimage", "data/motorcycle_left.png",
              "Middlebury 2014 stereo data set (Scharstein et al.), via scikit-image"),
    PyPIPhoto("skimage-motorcycle_right", "scikit-image", "skimage", "data/motorcycle_right.png",
              "Middlebury 2014 stereo data set (Scharstein et al.), via scikit-image"),
    PyPIPhoto("sklearn-china", "scikit-learn", "sklearn", "datasets/images/china.jpg", "CC-BY-2.0 (danielbuechele)"),
    PyPIPhoto("sklearn-flower", "scikit-learn", "sklearn", "datasets/images/flower.jpg", "CC-BY-2.0 (vultilion)"),
    PyPIPhoto("matplotlib-grace_hopper", "matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
              "public-domain (U.S. Navy photo)"),
)
PYPI_SPLIT = "test"


def pypi_photo_path(photo: PyPIPhoto) -> Path:
    """Where an installed distribution keeps the photo (found without importing the module)."""
    import importlib.util

    spec = importlib.util.find_spec(photo.module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"photo {photo.id}: Python package {photo.distribution} is not installed; "
                                f"pip install {photo.distribution}")
    return Path(list(spec.submodule_search_locations)[0]) / photo.relpath
