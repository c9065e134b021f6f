"""The data layer: image sources, transforms, training masks, evaluation pairs and THE training stream.

Modules, one concern each:

- :mod:`~isnet.data.sources`: the image decoder and the five sources (``SOURCES``, :func:`build_source`).
- :mod:`~isnet.data.transforms`: the evaluation view and the seeded training augmentation.
- :mod:`~isnet.data.mask_sources`: generated or file masks drawn per training sample.
- :mod:`~isnet.data.pairs`: fixed evaluation pairs (:func:`make_pairs`, :class:`PairsDataset`).
- :mod:`~isnet.data.stream`: the training dataset and :class:`SampleStream`, the one training data path.
- :mod:`~isnet.data.calibrate`: the backbones' activation calibration (``isnet weights calibrate``).
- :mod:`~isnet.data.photos`: the offline photo pool; :mod:`~isnet.data.cli`: ``isnet data ...``.

The names below are re-exported so that ``from isnet.data import make_pairs`` keeps working.
"""
from .mask_sources import MASK_SOURCES, FileMasks, GeneratedMasks, build_mask_source
from .pairs import PAIRS_COLUMNS, PairsDataset, make_pairs, pair_batches
from .sources import (CELEBA_SPLITS, EVAL_SPLITS, IMAGE_EXTENSIONS, PLACES_SPLITS, SOURCES, BadImageError,
                      CelebASource, FolderSource, ImageSource, PhotoSource, Places2Source, SamplesSource, Skipped,
                      build_source, licence_summary, list_sources, places_images_dir, read_image)
from .stream import EpochSampler, SampleStream, TrainDataset, build_train_dataset, epoch_order, seed_worker
from .transforms import CROPS, Augment, ImageTooSmallError, center_box, crop_resize, eval_transform, resize, to_tensor

__all__ = [
    "MASK_SOURCES", "FileMasks", "GeneratedMasks", "build_mask_source",
    "PAIRS_COLUMNS", "PairsDataset", "make_pairs", "pair_batches",
    "CELEBA_SPLITS", "EVAL_SPLITS", "IMAGE_EXTENSIONS", "PLACES_SPLITS", "SOURCES", "BadImageError", "CelebASource",
    "FolderSource", "ImageSource", "PhotoSource", "Places2Source", "SamplesSource", "Skipped", "build_source",
    "licence_summary", "list_sources", "places_images_dir", "read_image",
    "EpochSampler", "SampleStream", "TrainDataset", "build_train_dataset", "epoch_order", "seed_worker",
    "CROPS", "Augment", "ImageTooSmallError", "center_box", "crop_resize", "eval_transform", "resize", "to_tensor",
]
