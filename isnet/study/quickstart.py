"""The quickstart's logic: fill one image every way, look inside ISNet's two branches, and the interactive app.

Why this file is long: the quickstart is one student-facing tool: the fills and scores, the separation
hooks, three figures and the widget app that redraws them; each part is short and they share the same state.

``notebooks/00_quickstart.ipynb`` is a thin shell over this module. One call, :func:`fill_all`, fills an image
with the hole it is given by one shot, PRA (with its passes), Telea and biharmonic and scores each composite
against the original; :func:`separation` runs the generator once with forward hooks (nothing in the model is
changed) and keeps each phase's branch features. The figures (:func:`comparison_figure`,
:func:`pra_figure`, :func:`separation_figure`) are what papermill keeps in the executed copy;
:class:`QuickstartApp` (ipywidgets + ipycanvas) redraws the same figures whenever the student draws a hole,
picks an image, a random mask or a kernel.

Mask convention of every figure here: **white = hole** (as in mask files on disk); inside the package the
tensor ``known`` is 1 = known pixel, 0 = hole.

Images are worked on at the generator's own training size (the shipped ``isnet-laptop`` was trained at 48 px,
``isnet.engine.pretrained``) and shown enlarged.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..data.sources import PhotoSource, SamplesSource, read_image
from ..data.transforms import eval_transform
from ..engine.modes import choose_mode, read_measurements, run_mode, training_size
from ..engine.pretrained import DEFAULT, describe, load_pretrained
from ..method.baselines import inpaint_classical
from ..method.masks import PAPER_BUCKETS, known_from_hole, sample_hole_in_bucket
from ..method.metrics import psnr, ssim
from ..method.pra import PRAResult, one_shot, progressive_inpaint
from .profiles import PROFILES

METHODS = ("one shot", "PRA", "Telea", "biharmonic")
MASK_NOTE = "In every figure the hole is white (as in mask files: white = hole)."
DEFAULT_IMAGE = "chelsea"
DEFAULT_BUCKET = "40-50"
DEFAULT_SEED = 1  # with the laptop kernel: PRA takes several passes and differs from the one shot

# What the paper says each part does (paper §III, "Inpainting", "Interaction", "Aggregation"; Figure 3)
BRANCH_NOTES = {
    "high": "High-resolution branch after Inpainting (ResBlocks, dilation 1): 'handles a series of features with a "
            "fixed full resolution', the texture side of the balance the paper strikes.",
    "low": "Low-resolution branch after Inpainting (ResBlocks, dilation 2): it 'scales down the propagating "
           "features as it progresses' with more channels, the semantic-context side; phase 1 has none.",
    "interaction": "Interaction, low to high: the low branch brought up to full resolution by sub-pixel "
                   "convolutions, 'stacked with previous features of the high-resolution branch'.",
    "output": "Aggregation, the phase's output: a 3×3 convolution 'to merge and compress the channels' of what the "
              "Interaction stacked (high branch shown).",
}


# ----------------------------------------------------------------------------------------- the model and images
def shipped_model(name: str = DEFAULT):
    """(generator, its training size, the profile it was trained in, one line on where it came from)."""
    g = load_pretrained(name)
    info = describe(name)
    return g, training_size(name), info.get("profile", "laptop"), g.isnet_source


def default_kernel(profile: str = "laptop") -> int:
    """PRA's kernel for the model's own profile (``pra_kernels[0]``: the one derived for that profile's size)."""
    return int(PROFILES[profile].pra_kernels[0])


def image_choices() -> dict[str, str]:
    """Name → what to load: the sample photos, then the pool's test photos when they were fetched."""
    out = {n: n for n in SamplesSource.IDS}
    try:
        pool = PhotoSource("test", verify=False)
        out.update({f"pool: {i}": str(p) for i, p in zip(pool.ids, pool.paths) if Path(p).is_file()})
    except (FileNotFoundError, ValueError, OSError):
        pass
    return out


def load_image(name: str, size: int) -> torch.Tensor:
    """1×3×size×size: a sample photo's name, a pool photo (``pool: id``), or an image file path (centre square)."""
    choices = image_choices()
    target = choices.get(name, name)
    if Path(target).suffix:
        arr = read_image(target)
    else:
        src = SamplesSource()
        if target not in src.ids:
            raise ValueError(f"unknown image {name!r}; choose one of {list(choices)[:12]}... or give a file path")
        arr = src.load(src.index_of(target))
    return eval_transform(arr, size, upscale=True)[None]


def random_known(size: int, bucket: str = DEFAULT_BUCKET, seed: int = DEFAULT_SEED) -> torch.Tensor:
    """A seeded free-form hole in one paper bucket, as 1×1×size×size known (1 = known)."""
    if bucket not in PAPER_BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}; choose one of {list(PAPER_BUCKETS)}")
    hole = sample_hole_in_bucket(size, size, np.random.default_rng(seed), bounds=PAPER_BUCKETS[bucket])
    return known_from_hole(hole).float()


def known_from_file(path: str | os.PathLike, size: int) -> torch.Tensor:
    """A mask file (white = hole) as 1×1×size×size known, centre square like the image."""
    arr = read_image(path)
    grey = eval_transform(arr, size, upscale=True)[None].mean(1, keepdim=True)
    return (grey < 0.5).float()


def scale_table():
    """``isnet bench scale``'s measurements of the shipped generator (composite PSNR per size, mode and classical
    method, Δ vs Telea, in-hole checkerboard vs the photos', the mode picked), or a line saying how to make them."""
    import pandas as pd

    m = read_measurements()
    if not m:
        return "no measurements yet: run `isnet bench scale --write-modes` (the pool's test photos are needed)"
    rows = []
    for size, entry in sorted(m["sizes"].items(), key=lambda kv: int(kv[0])):
        choice = choose_mode(int(size), m)
        for method, value in entry["psnr"].items():
            d = entry["vs_telea"].get(method)
            rows.append({"size px": int(size), "method": method, "PSNR dB": round(value, 2),
                         "vs Telea dB [95 % CI]": "—" if d is None else f"{d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}]",
                         "hole checkerboard vs photos": f"{entry['hole_p2_ratio'][method]:.2f}x",
                         "picked": "← auto" if method == choice.mode else ""})
    note = (f"{m['photos']} test photos × {m['per_bucket']} hole(s) per bucket (seed {m['seed']}), model "
            f"{m['model']} trained at {m['training_size']} px; reproduce: `isnet bench scale --write-modes`")
    print(note)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------- filling
@dataclass
class Fills:
    """Every fill of one (image, hole): composites by method, scores, PRA's result and the mode used."""

    image: torch.Tensor
    known: torch.Tensor
    composites: dict[str, torch.Tensor]
    scores: dict[str, dict[str, float]]
    pra: PRAResult
    kernel: int
    mode: str
    notes: list[str] = field(default_factory=list)

    @property
    def hole_ratio(self) -> float:
        return 1 - float(self.known.mean())

    @property
    def pra_passes(self) -> int:
        return int(self.pra.passes[0])

    @property
    def pra_max_change(self) -> float:
        """max |PRA − one shot| inside the hole (0–1 scale)."""
        hole = (self.known == 0).expand_as(self.image)
        diff = (self.composites["PRA"] - self.composites["one shot"]).abs()
        return float(diff[hole].max()) if bool(hole.any()) else 0.0

    def score_line(self, method: str) -> str:
        s = self.scores[method]
        return f"PSNR {s['psnr']:.2f} dB · SSIM {s['ssim']:.3f}"


@torch.no_grad()
def fill_all(model: torch.nn.Module, image: torch.Tensor, known: torch.Tensor, kernel: int,
             train_size: int | None = None, mode: str | None = None) -> Fills:
    """One shot, PRA, Telea and biharmonic composites of ``image`` with ``known``, each scored (PSNR and SSIM over
    the whole composite, as the paper scores). ``mode=None``: the shipped generator's mode that measured best at this
    size (``isnet.engine.modes.choose_mode``; at its training size, the image as it is); else ``native`` or
    ``coarse-to-fine``."""
    notes: list[str] = []
    if mode is None:
        choice = choose_mode(min(image.shape[-2:]))
        mode = choice.mode
        notes = [choice.warning()] if choice.warning() else []
    if mode == "native" or train_size is None:
        single = one_shot(model, image, known)
        pra = progressive_inpaint(model, image, known, kernel=kernel, trace=True)
    else:
        single = run_mode(mode, model, image, known, train_size)[0]
        comp, passes = run_mode(mode, model, image, known, train_size, pra=True, kernel=kernel)
        pra = PRAResult(composite=comp, passes=passes, known=known, trace=[(known, comp)])
    comps = {"one shot": single, "PRA": pra.composite,
             "Telea": inpaint_classical("telea", image, known),
             "biharmonic": inpaint_classical("biharmonic", image, known)}
    scores = {m: {"psnr": float(psnr(c.clamp(0, 1), image)[0]), "ssim": float(ssim(c.clamp(0, 1), image)[0])}
              for m, c in comps.items()}
    return Fills(image, known, comps, scores, pra, kernel, mode, notes)


# ----------------------------------------------------------------------------------------- inside the separation
@torch.no_grad()
def separation(model: torch.nn.Module, image: torch.Tensor, known: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Per phase: the high and low branch after Inpainting, the low→high Interaction message and the phase's
    (aggregated) high output, each C×h×w, captured by forward hooks during one ordinary forward pass."""
    phases = getattr(model, "phases", None)
    assert phases is not None, f"{type(model).__name__} has no phases: the separation view is for ISNet generators"
    captured: list[dict[str, torch.Tensor]] = [{} for _ in phases]
    handles = []

    def keep(k: int, key: str, pick: Callable[[Any], torch.Tensor]):
        def hook(_module, _inputs, output):
            captured[k][key] = pick(output)[0].detach().float().cpu()
        return hook

    for k, phase in enumerate(phases):
        handles.append(phase.inpaint_hi.register_forward_hook(keep(k, "high", lambda o: o)))
        if hasattr(phase, "inpaint_lo"):
            handles.append(phase.inpaint_lo.register_forward_hook(keep(k, "low", lambda o: o)))
            handles.append(phase.lo_to_hi.register_forward_hook(keep(k, "interaction", lambda o: o)))
        handles.append(phase.register_forward_hook(keep(k, "output", lambda o: o[0])))
    try:
        out = model(image * known)
    finally:
        for h in handles:
            h.remove()
    captured.append({"prediction": out[0].detach().float().cpu()})
    return captured


def principal_rgb(features: torch.Tensor, size: int | None = None) -> np.ndarray:
    """The top three principal components of a C×h×w feature map as an h×w×3 image in [0, 1] (channel mean in
    grey when C < 3), enlarged by nearest neighbour to ``size``."""
    c, h, w = features.shape
    x = features.reshape(c, -1).T.double()
    x = x - x.mean(0, keepdim=True)
    if c >= 3:
        _, _, v = torch.linalg.svd(x, full_matrices=False)
        y = x @ v[:3].T
    else:
        y = x.mean(1, keepdim=True).expand(-1, 3)
    lo, hi = torch.quantile(y, 0.01, dim=0), torch.quantile(y, 0.99, dim=0)
    y = ((y - lo) / (hi - lo).clamp(min=1e-8)).clamp(0, 1)
    img = y.T.reshape(3, h, w).float().numpy().transpose(1, 2, 0)
    if size and size != h:
        f = max(1, size // h)
        img = img.repeat(f, 0).repeat(f, 1)
    return img


# ----------------------------------------------------------------------------------------- figures
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)


def masked_view(image: torch.Tensor, known: torch.Tensor) -> np.ndarray:
    """What the model is given, for display: the hole painted white."""
    return _np(image[0] * known[0] + (1 - known[0]))


def comparison_figure(fills: Fills, title: str = "", cell: float = 2.6):
    """Row 1: masked input, one shot, PRA, Telea, biharmonic, original (scores under each fill); row 2: the error
    |fill − original| of each fill (inside the hole; the same colour scale for all)."""
    import matplotlib.pyplot as plt

    cols = ["masked input", *METHODS, "original"]
    fig, axes = plt.subplots(2, len(cols), figsize=(cell * len(cols), cell * 2 + 0.9), squeeze=False)
    errors = {m: (fills.composites[m] - fills.image).abs().mean(1)[0].numpy() for m in METHODS}
    vmax = max(max(float(e.max()) for e in errors.values()), 1e-3)
    for j, name in enumerate(cols):
        top, bottom = axes[0, j], axes[1, j]
        if name == "masked input":
            top.imshow(masked_view(fills.image, fills.known), interpolation="nearest")
            top.set_title(f"masked input\n{fills.hole_ratio:.0%} hole", fontsize=9)
            bottom.imshow(1 - fills.known[0, 0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            bottom.set_title("the hole (white)", fontsize=9)
        elif name == "original":
            top.imshow(_np(fills.image[0]), interpolation="nearest")
            top.set_title("original", fontsize=9)
            bottom.axis("off")
        else:
            label = f"PRA, {fills.pra_passes} passes (k={fills.kernel})" if name == "PRA" else name
            top.imshow(_np(fills.composites[name][0]), interpolation="nearest")
            top.set_title(f"{label}\n{fills.score_line(name)}", fontsize=9)
            im = bottom.imshow(errors[name], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            bottom.set_title(f"error, {name}", fontsize=9)
        top.set_xticks([]), top.set_yticks([]), bottom.set_xticks([]), bottom.set_yticks([])
    fig.colorbar(im, ax=list(axes[1, 1:len(METHODS) + 1]), fraction=0.02, pad=0.01, label="|fill − original|")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def pra_figure(fills: Fills, cell: float = 2.2):
    """PRA pass by pass: top, the region each pass re-predicts (white); bottom, the composite after that pass."""
    import matplotlib.pyplot as plt

    steps = fills.pra.steps(0) if fills.pra.trace and len(fills.pra.trace) >= fills.pra_passes else []
    n = max(1, len(steps))
    fig, axes = plt.subplots(2, n, figsize=(cell * n, cell * 2 + 0.6), squeeze=False)
    for j, (known, comp) in enumerate(steps):
        region = 1 - known[0].numpy()
        axes[0, j].imshow(region, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[0, j].set_title(f"pass {j + 1}: re-predicts\n{region.mean():.0%} of the image", fontsize=9)
        axes[1, j].imshow(_np(comp), interpolation="nearest")
        axes[1, j].set_title(f"after pass {j + 1}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"PRA (kernel {fills.kernel}): each pass grows the known region by a {fills.kernel}×{fills.kernel} "
                 f"square and re-predicts what is left of the hole; max |PRA − one shot| in the hole = "
                 f"{fills.pra_max_change:.3f}", fontsize=9)
    return fig


def separation_figure(maps: list[dict[str, torch.Tensor]], cell: float = 2.1, notes: bool = True):
    """Rows: phases 1–4; columns: high branch, low branch, low→high interaction, phase output (top three principal
    components as RGB, enlarged to the image size); the last row ends with the generator's prediction."""
    import matplotlib.pyplot as plt

    keys = list(BRANCH_NOTES)
    phases = maps[:-1]
    size = phases[0]["high"].shape[-1]
    fig, axes = plt.subplots(len(phases), len(keys) + 1, figsize=(cell * (len(keys) + 1), cell * len(phases) + 1.2),
                             squeeze=False)
    titles = {"high": "high branch", "low": "low branch", "interaction": "low → high", "output": "phase output"}
    for i, phase in enumerate(phases):
        for j, key in enumerate(keys):
            ax = axes[i, j]
            if key in phase:
                f = phase[key]
                ax.imshow(principal_rgb(f, size), interpolation="nearest")
                ax.set_title(f"phase {i + 1}: {titles[key]}\n{f.shape[0]} ch @ {f.shape[-1]} px", fontsize=8)
            else:
                ax.text(0.5, 0.5, "— (phase 1 has\none branch)", ha="center", va="center", fontsize=8)
            ax.set_xticks([]), ax.set_yticks([])
        ax = axes[i, -1]
        if i == len(phases) - 1:
            ax.imshow(_np(maps[-1]["prediction"]), interpolation="nearest")
            ax.set_title("after Final Fusion:\nthe prediction", fontsize=8)
        else:
            ax.axis("off")
        ax.set_xticks([]), ax.set_yticks([])
    if notes:
        text = "\n".join(f"• {BRANCH_NOTES[k]}" for k in keys)
        fig.text(0.01, 0.0, text, fontsize=7.5, va="top", wrap=True)
    fig.suptitle("Inside the interactive separation: each branch's features per phase "
                 "(top three principal components as RGB)", fontsize=10)
    return fig


def scores_html(fills: Fills) -> str:
    """The scores as a small HTML table (what the app shows, and what the browser test reads)."""
    rows = "".join(f"<tr><td>{m if m != 'PRA' else f'PRA ({fills.pra_passes} passes)'}</td>"
                   f"<td>{fills.scores[m]['psnr']:.2f}</td><td>{fills.scores[m]['ssim']:.3f}</td></tr>"
                   for m in METHODS)
    return (f"<table class='isnet-scores'><tr><th>method</th><th>PSNR dB</th><th>SSIM</th></tr>{rows}</table>"
            f"<div class='isnet-hole'>hole {fills.hole_ratio:.1%}, max |PRA − one shot| {fills.pra_max_change:.3f}"
            f"</div>")


# ----------------------------------------------------------------------------------------- the interactive app
class QuickstartApp:
    """Pick an image, draw the hole (brush, erase, clear) or draw a random one of a bucket, choose PRA's kernel;
    every change refills and redraws. Needs ipywidgets and ipycanvas (``isnet.study.quickstart.widgets_available``).
    """

    def __init__(self, model: torch.nn.Module, train_size: int, image: str = DEFAULT_IMAGE,
                 known: torch.Tensor | None = None, kernel: int = 3, bucket: str = DEFAULT_BUCKET,
                 seed: int = DEFAULT_SEED, scale: int | None = None):
        import ipywidgets as W
        from ipycanvas import MultiCanvas, hold_canvas

        self._hold = hold_canvas
        self.model, self.size = model, train_size
        self.scale = scale or max(1, 320 // train_size)
        self.choices = image_choices()
        self.image = load_image(image, train_size)
        self.hole = (known[0, 0] == 0).numpy().copy() if known is not None else \
            (random_known(train_size, bucket, seed)[0, 0] == 0).numpy().copy()
        self.seed = seed
        side = train_size * self.scale
        self.canvas = MultiCanvas(2, width=side, height=side)
        self.canvas.layout.width = f"{side}px"
        self.canvas.layout.height = f"{side}px"
        self.image_pick = W.Dropdown(options=list(self.choices), value=image if image in self.choices else None,
                                     description="image")
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="your file")
        self.brush = W.IntSlider(value=max(1, train_size // 16), min=1, max=max(2, train_size // 4),
                                 description="brush px")
        self.erase = W.ToggleButton(value=False, description="erase", icon="eraser")
        self.clear = W.Button(description="clear")
        self.bucket = W.Dropdown(options=list(PAPER_BUCKETS), value=bucket, description="bucket")
        self.random = W.Button(description="random mask")
        self.kernel = W.IntSlider(value=kernel, min=1, max=max(3, train_size // 2 + 1), step=2, description="PRA k")
        self.status = W.HTML()
        self.scores = W.HTML()
        self.figures = W.Output()
        self.drawing = False
        self.updates = 0

        self.canvas[1].on_mouse_down(self._down)
        self.canvas[1].on_mouse_move(self._move)
        self.canvas[1].on_mouse_up(self._up)
        self.canvas[1].on_mouse_out(self._up)
        self.image_pick.observe(self._pick, names="value")
        self.upload.observe(self._uploaded, names="value")
        self.clear.on_click(self._clear)
        self.random.on_click(self._random)
        self.kernel.observe(lambda _: self.refresh(), names="value")
        controls = W.VBox([self.image_pick, self.upload, self.brush, W.HBox([self.erase, self.clear]), self.bucket,
                           self.random, self.kernel, self.scores, self.status])
        self.widget = W.VBox([
            W.HTML(f"<b>Draw the hole with the mouse</b> ({MASK_NOTE}) The model works at its training size, "
                   f"{train_size}×{train_size} px, shown {self.scale}× enlarged."),
            W.HBox([self.canvas, controls]), self.figures])
        self._draw_image()
        self.refresh()

    # -- state → pixels
    @property
    def known(self) -> torch.Tensor:
        return torch.from_numpy(~self.hole).float()[None, None]

    def _draw_image(self) -> None:
        rgb = (_np(self.image[0]) * 255).round().astype(np.uint8).repeat(self.scale, 0).repeat(self.scale, 1)
        rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], -1)  # RGBA is sent as PNG, RGB as JPEG
        self.canvas[0].put_image_data(rgba, 0, 0)
        self._draw_hole()

    def _draw_hole(self) -> None:
        rgba = np.zeros((*self.hole.shape, 4), np.uint8)
        rgba[self.hole] = (255, 255, 255, 255)
        rgba = rgba.repeat(self.scale, 0).repeat(self.scale, 1)
        with self._hold():
            self.canvas[1].clear()
            self.canvas[1].put_image_data(rgba, 0, 0)

    def paint(self, x: float, y: float) -> None:
        """Paint (or erase) a disc of the brush's radius at canvas position (x, y)."""
        cx, cy, r = x / self.scale, y / self.scale, self.brush.value / 2
        yy, xx = np.mgrid[: self.size, : self.size]
        disc = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= max(r, 0.5) ** 2
        self.hole[disc] = not self.erase.value
        if self.hole.all():  # the classical fills need some context
            self.hole[0, 0] = False

    # -- events
    def _down(self, x, y):
        self.drawing = True
        self.paint(x, y)
        self._draw_hole()

    def _move(self, x, y):
        if self.drawing:
            self.paint(x, y)
            self._draw_hole()

    def _up(self, x, y):
        if self.drawing:
            self.drawing = False
            self.refresh()

    def _pick(self, change) -> None:
        if change["new"] is None:
            return
        self.image = load_image(change["new"], self.size)
        self._draw_image()
        self.refresh()

    def _uploaded(self, change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        from PIL import Image

        arr = np.asarray(Image.open(io.BytesIO(bytes(item["content"]))).convert("RGB"), np.float32) / 255
        self.image = eval_transform(arr, self.size, upscale=True)[None]
        self._draw_image()
        self.refresh()

    def _clear(self, _=None) -> None:
        self.hole[:] = False
        self._draw_hole()
        self.refresh()

    def _random(self, _=None) -> None:
        self.seed += 1
        self.hole = (random_known(self.size, self.bucket.value, self.seed)[0, 0] == 0).numpy().copy()
        self._draw_hole()
        self.refresh()

    def refresh(self) -> None:
        """Refill and redraw the scores and every figure."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.updates += 1
        if not self.hole.any():
            self.scores.value = "<i>no hole yet: draw one on the image</i>"
            self.figures.clear_output()
            return
        fills = fill_all(self.model, self.image, self.known, self.kernel.value, self.size)
        self.fills = fills
        self.scores.value = scores_html(fills)
        self.status.value = f"<small>update {self.updates}; {'; '.join(fills.notes)}</small>"
        figs = [comparison_figure(fills), pra_figure(fills),
                separation_figure(separation(self.model, self.image, self.known), notes=False)]
        with self.figures:
            self.figures.clear_output(wait=True)
            for fig in figs:
                display(fig)
                plt.close(fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def widgets_available() -> bool:
    """True when ipywidgets and ipycanvas import (the app needs both; the figures need neither)."""
    try:
        import ipycanvas  # noqa: F401
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def released_weights(path: str | os.PathLike | None = None) -> Path | None:
    """The authors' released ``InpaintingModel_gen.pth`` (256 px) when present: ``path``, else
    ``$ISNET_RELEASED_WEIGHTS``; ``None`` when neither names an existing file."""
    path = path or os.environ.get("ISNET_RELEASED_WEIGHTS")
    return Path(path) if path and Path(path).is_file() else None


__all__ = ["BRANCH_NOTES", "DEFAULT_BUCKET", "DEFAULT_IMAGE", "DEFAULT_SEED", "Fills", "MASK_NOTE", "METHODS",
           "QuickstartApp", "comparison_figure", "default_kernel", "fill_all", "image_choices",
           "known_from_file", "load_image", "masked_view", "pra_figure", "principal_rgb", "random_known", "released_weights",
           "scale_table", "scores_html", "separation", "separation_figure", "shipped_model", "widgets_available"]
