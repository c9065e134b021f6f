"""Sample images of a study: stored composites per method, the sample figures and the quickstart's model and pair."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data import PairsDataset, build_source, eval_transform, read_image
from ..engine.checkpoint import load_generator
from ..engine.evaluate import as_method
from ..engine.pretrained import DEFAULT, available, load_pretrained
from ..method.masks import (
    PAPER_BUCKETS,
    known_from_hole,
    load_known,
    sample_hole_in_bucket,
)
from ..method.pra import one_shot, progressive_inpaint
from .experiments import CLASSICAL
from .figures import save_image
from .report import (
    masked_input,
    sample_grid,
)
from .generators import run_generator


class Samples:
    """The part of :class:`isnet.study.Study` that stores and draws sample composites."""

    # ---------------------------------------------------------------- stored composites for figures
    def pair_ids(self, bucket: str | None = None) -> list[str]:
        """Ids of the fixed evaluation pairs (of one bucket), in manifest order."""
        table = pd.read_csv(self.pairs_path())
        return [str(p) for p in (table if bucket is None else table[table.bucket == bucket])["pair"]]

    def save_samples(self, methods: Mapping[str, Any], pairs: Sequence[str] | None = None) -> pd.DataFrame:
        """Write composites of a few fixed pairs per method to samples/<method>/<pair>.png (for Figures 5, 8)."""
        import torch

        ds = PairsDataset(self.pairs_path())
        if pairs is None:
            pairs = _spread(self.pair_ids(), self.profile.samples_per_method)
        rows = []
        for method, spec in methods.items():
            pra = method.endswith("-pra")
            if isinstance(spec, (str, Path)) and (self.dir / "runs" / Path(spec).name).exists():
                inpainter = load_generator(run_generator(self.dir / "runs" / Path(spec).name)).eval()
            else:
                inpainter, _ = as_method(spec, torch.device("cpu"))
            for pair in pairs:
                image, known, meta = ds[_pair_index(ds, pair)]
                out = self.dir / "samples" / method / f"{pair}.png"
                if not out.exists():
                    with torch.no_grad():
                        comp = (progressive_inpaint(inpainter, image[None], known[None]).composite if pra
                                else one_shot(inpainter, image[None], known[None]))
                    save_image(comp[0], out)
                for extra, img in (("input", masked_input(image, known)), ("gt", image)):
                    path = self.dir / "samples" / extra / f"{pair}.png"
                    if not path.exists():
                        save_image(img, path)
                rows.append({"method": method, "pair": pair, "bucket": meta.get("bucket"), "path": str(out)})
        return pd.DataFrame(rows)

    def sample_rows(self, methods: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, list]:
        """Stored composites as rows for ``isnet.report.sample_grid``: input, each method, ground truth."""
        from PIL import Image

        folder = self.dir / "samples"
        if pairs is None:
            pairs = _spread(self.pair_ids(), self.profile.samples_per_method)
        out = {}
        for m in ["input", *methods, "gt"]:
            paths = [folder / m / f"{pair}.png" for pair in pairs]
            missing = [str(p) for p in paths if not p.exists()]
            if missing:
                raise FileNotFoundError(f"stored sample {missing[0]} is missing; run the notebook that makes it")
            out[{"input": "masked input", "gt": "ground truth"}.get(m, m)] = [
                np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255 for p in paths]
        return out

    def sample_figure(self, methods: Sequence[str], name: str, title: str, pairs: Sequence[str] | None = None,
                      scores: pd.DataFrame | None = None):
        """A sample grid saved as figures/<name>.png: input, each method, ground truth; each column titled with
        its bucket and pair, each composite with its PSNR (from per-pair ``scores``, the first seed)."""

        if not methods:  # none of the table's rows is trained at this profile (StudyProfile.methods)
            print(f"{name}: no row of this table is trained at profile {self.profile.name} (not run at this "
                  "scale), so there is no figure")
            return None
        if pairs is None:
            pairs = _spread(self.pair_ids(), self.profile.samples_per_method)
        table = pd.read_csv(self.pairs_path()).assign(pair=lambda t: t["pair"].astype(str)).set_index("pair")
        titles = [f"{table.loc[str(p), 'bucket']} % hole" if "bucket" in table.columns else str(p) for p in pairs]
        text = {}
        if scores is not None and len(scores):
            sc = scores.assign(pair_id=scores["pair_id"].astype(str))
            sc = sc[sc["seed"] == sc["seed"].min()] if "seed" in sc.columns else sc
            lookup = sc.groupby(["method", "pair_id"])["psnr"].mean()
            for m in methods:
                text[m] = [f"{lookup[(m, str(p))]:.1f} dB" if (m, str(p)) in lookup.index else "" for p in pairs]
        rows = self.sample_rows(methods, pairs)
        text = {k: v for k, v in text.items() if k in rows}
        return sample_grid(rows, out_path=self.dir / "figures" / f"{name}.png", overwrite=True,
                           column_titles=titles, cell_text=text,
                           title=f"{title} — profile {self.profile.name}, PSNR of each composite")

    def comparison_methods(self, runs: pd.DataFrame) -> dict[str, Any]:
        """Figure 8's methods: the classical ones, then each of Table 5's trained rows this profile ran (run
        folder by method, first seed) and ISNet with PRA."""

        first = runs.drop_duplicates("method").set_index("method")["run"]
        out: dict[str, Any] = {m: m for m in CLASSICAL}
        out.update({m: first[m] for m in ("unet", "isnet-eq4", "isnet-eq5") if m in first.index})
        if "isnet-eq5" in first.index:
            out["isnet-eq5-pra"] = first["isnet-eq5"]
        return out

    def quickstart_model(self, checkpoint: str | os.PathLike | None = None):
        """(generator, where it came from): the given checkpoint (ours or the authors' InpaintingModel_gen.pth),
        else the generator shipped with the package (``isnet.pretrained``), else the profile's default ISNet
        (trained now if it is not there yet)."""

        if not checkpoint and DEFAULT in available():
            g = load_pretrained(DEFAULT)
            return g, g.isnet_source
        path = Path(checkpoint) if checkpoint else run_generator(self.run_of("table5", "isnet-eq5"))
        return load_generator(path).eval(), str(path)

    def quickstart_pair(self, image: str = "astronaut", mask_file: str | os.PathLike | None = None,
                        bucket: str = "40-50", size: int | None = None, holes: str = "white", seed: int = 0):
        """(image, known) as 1×3×H×W and 1×1×H×W: a sample photo (or an image file) and a mask file
        (white = hole unless ``holes='black'``) or a generated mask in ``bucket``."""
        import torch

        size = size or self.profile.eval_size
        if Path(image).suffix:
            arr = read_image(image)
        else:
            src = build_source("samples", split="all")
            if image not in src.ids:
                raise ValueError(f"unknown sample image {image!r}; choose one of {list(src.ids)} or give a file path")
            arr = src.load(src.index_of(image))
        img = eval_transform(arr, size)[None]
        if mask_file:
            known = load_known(mask_file, size=(img.shape[-2], img.shape[-1]), holes=holes)
        else:
            hole = sample_hole_in_bucket(size, size, np.random.default_rng(seed), bounds=PAPER_BUCKETS[bucket])
            known = known_from_hole(hole)
        return img, known.to(torch.float32)


def _spread(ids: Sequence[str], n: int) -> list[str]:
    """n pair ids spread evenly over the manifest (so over the buckets, largest holes last)."""
    n = min(n, len(ids))
    return [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n).round()]


def _pair_index(ds, pair: str) -> int:
    ids = [str(p) for p in ds.table["pair"]]
    if str(pair) not in ids:
        raise ValueError(f"pair {pair!r} is not in the evaluation pairs {ds.base if hasattr(ds, 'base') else ''}")
    return ids.index(str(pair))
