"""Training throughput at a profile's scale: images/s of a full step (G and D, the profile's loss), path by path.

Every path is an ``isnet.train.Engine`` built from the same config (same seed, so the same initial G and D)
and stepped on the same batch, all in one process and interleaved (A, B, C, A, B, C, ...; medians), so load
on a shared machine hits every path alike. Paths:

- **authors**: the authors' training step on our generator and discriminator: ``AuthorsLossPath`` with two
  VGG19 copies run to relu5_4 (perceptual relu1_1…relu5_1, style relu2_2…relu5_2), four VGG passes, nsgan,
  D's weight gradients computed in the G step, D stepped every iteration. The reference of ``ratio_vs_authors``.
  Random VGG19 weights unless ``vgg19-imagenet`` is cached: weights do not change the cost.
- **authors, profile backbone**: the same two-copies / four-passes path on the profile's own backbone and GAN
  loss, to separate what sharing the backbone saves from what VGG16 vs VGG19 saves.
- **fp32**: our loss path (one shared backbone, gt once without grad) in fp32, NCHW, eager.
- **channels-last**; **compiled** (``train.compile``: ``torch.compile`` of the generator; its compile time is
  reported apart, from the first step); **compiled + channels-last**.
- **bf16**, **bf16 + channels-last** (and compiled): only where bf16 runs in hardware (CUDA, or a CPU with AVX512-BF16 or
  AMX); not the same training, so its loss difference is shown but it is never "the fastest correct path"
  (except for a profile that trains in bf16 anyway, such as ``paper``).
- **fp32, adv. warm-up (no D)**: the ``train.adv_warmup`` phase (D neither run nor stepped).
- **fp32, batch 2×**: images/s at twice the batch, which is not the same training.

Every path states its precision, layout and compilation; the authors' paths are fp32, NCHW, eager.

Each row also gives the first step's generator loss and its difference from the fp32 path's (same
weights, same batch): a fast path must train the same thing (``loss_diff_vs_fp32`` ≲ 1e-5).

``isnet bench train --profile laptop --csv results/bench/train.csv``

Why this file is long: one benchmark with its training paths (the authors' and ours, fp32/bf16/compile),
per-profile set-up and its table; each path is a few lines of the same measurement.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, field

import torch

from ..engine.device import bf16_supported, device_name, pick_device, sync
from ..markdown import markdown_table
from ..engine.train import Engine
from ..io import atomic_write_text
from ..method.features import BACKBONES, build_backbone
from ..method.losses import VGG19_PERCEPTUAL, VGG19_STYLE, AuthorsLossPath, _frozen
from ..study import PROFILES, TABLES, table_rows
from .table3 import fixed_pairs

# The settings the brief fixes for the small profiles until isnet.study.PROFILES carries them (no-ops after).
SMALL_SETTING = {"model.init_gain": 0.02, "model.d_width": 0.25}
PROFILE_OVERRIDES = {"smoke": SMALL_SETTING, "laptop": SMALL_SETTING, "paper": {}}


@dataclass(frozen=True)
class TrainPath:
    """One way of running the training step: which loss path and which config overrides."""

    loss: str = "ours"                      # ours | authors | authors-vgg19
    overrides: dict = field(default_factory=dict)
    bf16: bool = False                      # only where bf16 runs in hardware (CUDA, or a CPU with AVX512-BF16 or AMX)
    note: str = ""


LOSS_TOLERANCE = 1e-5  # relative: a path whose first-step loss differs more does not train the same thing
AUTHORS = "authors (2×VGG19, 4 passes, nsgan)"
PATHS: dict[str, TrainPath] = {
    AUTHORS: TrainPath("authors-vgg19"),
    "authors, profile backbone": TrainPath("authors"),
    "fp32": TrainPath(),
    "channels-last": TrainPath(overrides={"train.channels_last": True}),
    "compiled": TrainPath(overrides={"train.compile": True}),
    "compiled + channels-last": TrainPath(overrides={"train.compile": True, "train.channels_last": True}),
    "bf16": TrainPath(overrides={"train.amp": "bf16"}, bf16=True),
    "bf16 + channels-last": TrainPath(overrides={"train.amp": "bf16", "train.channels_last": True}, bf16=True),
    "bf16 + channels-last, compiled": TrainPath(overrides={"train.amp": "bf16", "train.channels_last": True,
                                                           "train.compile": True}, bf16=True),
    "fp32, adv. warm-up (no D)": TrainPath(overrides={"train.adv_warmup": 10**9},
                                           note="the train.adv_warmup phase: G step only"),
    "fp32, batch 2×": TrainPath(overrides={"batch*": 2}, note="not the same training: twice the batch"),
}
DEFAULT_PATHS = [AUTHORS, "authors, profile backbone", "fp32", "channels-last", "compiled", "compiled + channels-last",
                 "bf16", "bf16 + channels-last", "bf16 + channels-last, compiled", "fp32, adv. warm-up (no D)"]


# ----------------------------------------------------------------------------------------- config
def _cached(backbone: str) -> bool:
    """Whether a pretrained backbone's weights are on disk (no download is ever started here)."""

    if BACKBONES[backbone].kind == "random":
        return True
    try:
        build_backbone(backbone, ("relu1_1",), download=False)
        return True
    except Exception:  # missing weights raise an error naming the fetch command; here it only means "not cached"
        return False


def profile_config(profile: str, overrides=(), backbone: str | None = None):
    """The study profile's training config at its size, width, blocks and batch (resolved).

    A pretrained backbone that is not cached is replaced by the random one of the same architecture (the
    same cost); the printed header says so.
    """

    base = PROFILES[profile].base
    setting = {k: v for k, v in PROFILE_OVERRIDES.get(profile, {}).items()  # only options this config has
               if hasattr(getattr(base, k.split(".")[0]), k.split(".")[1])}
    cfg = base.with_overrides({**setting, "out.dir": "unused"})
    cfg = cfg.with_overrides(list(overrides))
    name = backbone or cfg.loss.loss_weights().backbone
    if not _cached(name):
        name = f"{BACKBONES[name].arch}-random"
    return cfg.with_overrides({"loss.backbone": name, "loss.allow_test_backbone": True}).resolve()


def path_config(cfg, path: TrainPath):
    """The config of one path: the profile's, with the path's overrides (and the authors' loss for theirs)."""

    # every path states its precision, layout and compilation (the paper profile itself trains in bf16)
    over = {"train.amp": "none", "train.channels_last": False, "train.compile": False,
            **{k: v for k, v in path.overrides.items() if k != "batch*"}}
    if "batch*" in path.overrides:
        over["train.batch"] = cfg.train.batch * path.overrides["batch*"]
    if path.loss == "authors-vgg19":
        vgg19 = "vgg19-imagenet" if _cached("vgg19-imagenet") else "vgg19-random"
        over.update({"loss.backbone": vgg19, "loss.allow_test_backbone": True, "loss.gan_loss": "nsgan",
                     "loss.perceptual_layers": list(VGG19_PERCEPTUAL), "loss.style_layers": list(VGG19_STYLE),
                     "loss.normalize_input": False})
    return cfg.with_overrides(over).resolve()


def build_engine(cfg, path: TrainPath, device: torch.device):
    c = path_config(cfg, path)
    loss = None
    if path.loss.startswith("authors"):
        w = c.loss.loss_weights()
        loss = AuthorsLossPath(w, w.backbone)
    return Engine(c, device, loss=loss), c


def fixed_batch(size: int, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth seeded images and masks from every paper bucket (cost does not depend on the content)."""

    pairs = fixed_pairs(size, batch, seed)
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])


# ----------------------------------------------------------------------------------------- timing
def bench_profile(profile: str, paths: list[str], repeats: int, warmup: int, device: torch.device,
                  overrides=(), backbone: str | None = None, log=print) -> list[dict]:
    """One row per path: images/s (median of ``repeats`` interleaved steps), compile time, first-step loss."""
    cfg = profile_config(profile, overrides, backbone)
    engines, rows = {}, {}
    for name in paths:
        path = PATHS[name]
        if path.bf16 and not bf16_supported(device, fast=True):
            continue
        if path.overrides.get("train.compile") and not compile_available():
            rows[name] = {"skipped": "torch.compile unavailable here (no C++ compiler or no inductor)"}
            continue
        engine, c = build_engine(cfg, path, device)
        image, known = fixed_batch(c.data.size, c.train.batch)
        # iteration 1 is inside the warm-up for the warm-up path; None = after any warm-up for the others
        it = 1 if "train.adv_warmup" in path.overrides else None
        # the first step: compile time for compiled paths, and the loss compared across paths
        sync(device)
        t = time.perf_counter()
        terms = engine.step(image, known, iteration=it)
        sync(device)
        first = time.perf_counter() - t
        rows[name] = {"first_step_s": first, "g_loss": terms["g_total"], "batch": c.train.batch,
                      "backbone": c.loss.loss_weights().backbone, "gan_loss": c.loss.loss_weights().gan_loss}
        engines[name] = (engine, image, known, it)
        log(f"  built {name}: first step {first:.2f} s, generator loss {terms['g_total']:.6f}")
    for _ in range(warmup):
        for engine, image, known, it in engines.values():
            engine.step(image, known, iteration=it)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for r in range(repeats):
        for name, (engine, image, known, it) in engines.items():  # interleaved: drift and load hit every path alike
            sync(device)
            t = time.perf_counter()
            engine.step(image, known, iteration=it)
            sync(device)
            times[name].append(time.perf_counter() - t)
    ref_loss = rows.get("fp32", {}).get("g_loss")
    out = []
    for name in paths:
        if name not in rows:
            continue
        row = {"profile": profile, "path": name, "size": cfg.data.size, "blocks": cfg.model.blocks,
               "width": cfg.model.width, "d_width": cfg.model.d_width, "device": device_name(device),
               "threads": torch.get_num_threads(), "torch": str(torch.__version__), **rows[name]}
        if name in times:
            sec = statistics.median(times[name])
            row.update(ms_per_step=1000 * sec, it_per_s=1 / sec, images_per_s=row["batch"] / sec,
                       repeats=repeats, spread_pct=100 * (max(times[name]) - min(times[name])) / sec)
            if PATHS[name].overrides.get("train.compile"):
                row["compile_s"] = max(0.0, row["first_step_s"] - sec)
            same_training = PATHS[name].loss == "ours" and "batch*" not in PATHS[name].overrides \
                and "train.adv_warmup" not in PATHS[name].overrides
            if ref_loss is not None and same_training:
                row["loss_diff_vs_fp32"] = abs(row["g_loss"] - ref_loss)
        out.append(row)
    base = next((r["images_per_s"] for r in out if r["path"] == AUTHORS and "images_per_s" in r), None)
    for r in out:
        if base and "images_per_s" in r:
            r["ratio_vs_authors"] = r["images_per_s"] / base
    engines.clear()
    return out


def step_breakdown(profile: str, device: torch.device, repeats: int, overrides=(), backbone: str | None = None,
                   path: str = "fp32") -> list[dict]:
    """Where one training step's time goes: its parts timed apart, interleaved, on one engine (``path``'s).

    generator: G forward + backward from a unit gradient on its output; feature terms: the perceptual and style
    terms' backbone passes (gt forward, prediction forward and backward); adversarial term: D on the prediction,
    frozen, back to the prediction; discriminator step: D on gt and the prediction, backward; optimizer: both
    Adam steps. The parts add up to about one step (L1, sums and logging are the small rest).
    """
    cfg = profile_config(profile, overrides, backbone)
    engine, c = build_engine(cfg, PATHS[path], device)
    image, known = fixed_batch(c.data.size, c.train.batch)
    image, known = engine.prepare(image, known)
    loss, G, D = engine.loss, engine.G, engine.D
    with torch.no_grad():
        pred0 = G(image * known)

    def generator():
        out = G(image * known)
        out.backward(torch.ones_like(out))

    def features():
        pred = pred0.clone().requires_grad_(True)
        perc, style = loss.feature_terms(pred, image)
        (perc + style).backward()

    def adversarial():
        pred = pred0.clone().requires_grad_(True)
        with _frozen(D):
            out, _ = D(pred)
        loss.gan.g(out).backward()

    def discriminator():
        total, _ = loss.discriminator_loss(pred0, image, D)
        total.backward()

    def optimizer():
        engine.opt_g.step()
        engine.opt_d.step()

    def step():
        engine.step(image, known)

    parts = {"whole step": step, "generator forward + backward": generator,
             "feature terms (backbone passes)": features, "adversarial term (D on the prediction)": adversarial,
             "discriminator step (D on gt and prediction)": discriminator, "optimizer steps (Adam, G and D)": optimizer}
    if not c.loss.loss_weights().feature_layers:
        del parts["feature terms (backbone passes)"]
    for fn in parts.values():
        fn()  # warm-up (and gradients for the optimizer part to apply)
    times: dict[str, list[float]] = {k: [] for k in parts}
    for _ in range(repeats):
        for name, fn in parts.items():
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - t)
    whole = statistics.median(times["whole step"])
    return [{"profile": profile, "path": path, "part": name, "ms": 1000 * statistics.median(ts),
             "share_pct": 100 * statistics.median(ts) / whole} for name, ts in times.items()]


def format_breakdown(rows: list[dict]) -> str:
    return markdown_table(["part", "ms", "share of the step"],
                          [[r["part"], f"{r['ms']:.0f}", f"{r['share_pct']:.0f} %"] for r in rows])


def compile_available() -> bool:
    """Whether inductor can build kernels here (it needs a C++ compiler on the CPU)."""
    import shutil

    try:
        import torch._inductor  # noqa: F401
    except Exception:
        return False
    return torch.cuda.is_available() or any(shutil.which(c) for c in ("g++", "c++", "clang++"))


# ----------------------------------------------------------------------------------------- tables
def format_table(rows: list[dict]) -> str:
    cells = []
    for r in rows:
        if "skipped" in r:
            cells.append([r["profile"], r["path"], "—", r["skipped"]] + [""] * 5)
            continue
        diff = f"{r['loss_diff_vs_fp32']:.1e}" if "loss_diff_vs_fp32" in r else "—"
        comp = f"{r['compile_s']:.0f}" if "compile_s" in r else "—"
        ratio = f"{r['ratio_vs_authors']:.2f}×" if "ratio_vs_authors" in r else "—"
        cells.append([r["profile"], r["path"], r["batch"], f"{r['images_per_s']:.2f}", f"{r['ms_per_step']:.0f}", ratio,
                      comp, f"{r['g_loss']:.5f}", diff])
    return markdown_table(["profile", "path", "batch", "images/s", "ms/step", "× authors", "compile s",
                           "first-step G loss", "Δ loss vs fp32"], cells)


def study_iterations(profile: str) -> tuple[int, int] | None:
    """(training runs, total iterations) the profile's study trains: distinct table rows × seeds, plus the search.

    Every run is costed at the profile's ISNet step (UNet-like and other B cost somewhat less or more): an
    estimate, not a schedule. None if the study's tables cannot be listed.
    """
    try:

        p = PROFILES[profile]
        wanted = getattr(p, "methods", None)  # depth before breadth: only these methods' rows are trained
        configs = {p.base.with_overrides(dict(r.overrides)).resolve().config_hash()
                   for t in TABLES for r in table_rows(t, p) if wanted is None or r.id in wanted}
        runs = len(configs) * len(p.seeds)
        return runs + p.search_trials, runs * p.base.train.iterations + p.search_trials * p.search_iterations
    except Exception:  # the study's API moved: the per-run estimate is still printed
        return None


def profile_wall_time(rows: list[dict], profile: str) -> str:
    """The profile's training cost at the fastest path that trains the same thing (measured s/step)."""

    p = PROFILES[profile]
    bf16_profile = p.base.train.amp == "bf16"  # then the bf16 paths train what the profile trains
    same = [r for r in rows if r["profile"] == profile and "images_per_s" in r and "loss_diff_vs_fp32" in r
            and (r["loss_diff_vs_fp32"] <= LOSS_TOLERANCE * max(1.0, abs(r["g_loss"]))
                 or (bf16_profile and PATHS[r["path"]].bf16))]
    best = max(same, key=lambda r: r["images_per_s"], default=None)
    if best is None:
        return ""
    its, batch = p.base.train.iterations, p.base.train.batch
    step = batch / best["images_per_s"]  # timed at another batch (e.g. the paper profile on a CPU): scaled per image
    scaled = f", scaled from batch {best['batch']}" if best["batch"] != batch else ""
    text = (f"{profile}: one run of {its:,} iterations × {1000 * step:.0f} ms/step ({best['path']}{scaled}) "
            f"≈ {_hms(its * step)}")
    study = study_iterations(profile)
    if study:
        text += (f"; the study's {study[0]} training runs ({study[1]:,} iterations, tables × seeds + search) "
                 f"≈ {_hms(study[1] * step)} of training steps (evaluation and data loading extra)")
    return text


def _hms(sec: float) -> str:
    if sec < 120:
        return f"{sec:.0f} s"
    if sec < 7200:
        return f"{sec / 60:.0f} min"
    if sec < 3 * 86400:
        return f"{sec / 3600:.1f} h"
    return f"{sec / 86400:.1f} days"


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", nargs="+", default=["laptop"], metavar="PROFILE",
                   help="study profiles (isnet.study.PROFILES: smoke, laptop, paper, ...) whose size, width, blocks, "
                        "batch and loss are timed")
    p.add_argument("--paths", nargs="+", default=None, choices=list(PATHS),
                   help="paths to time (default: all but 'fp32, batch 2×'; bf16 ones only where bf16 runs in hardware)")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per path, interleaved (median taken)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per path after the first")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--backbone", default=None, help="feature backbone (default: the profile's if cached, "
                                                     "else the random one of its architecture: same cost)")
    p.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    p.add_argument("--breakdown", action="store_true",
                   help="also time the parts of one step (generator, feature terms, adversarial term, D step, "
                        "optimizers) on the authors', fp32 and channels-last paths: where the time goes")
    p.add_argument("--append", action="store_true",
                   help="keep the --csv file's rows of other profiles (the profiles timed now are replaced)")
    p.add_argument("--quick", action="store_true", help="toy sizes (32 px, B=1, width 0.125, batch 2) to check it works")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every path (e.g. train.batch=16)")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    overrides = list(args.overrides)
    if args.quick:
        overrides = ["data.size=32", "model.blocks=1", "model.width=0.125", "train.batch=2", *overrides]
        args.repeats, args.warmup = min(args.repeats, 2), min(args.warmup, 1)
    paths = args.paths or DEFAULT_PATHS

    unknown = [p for p in args.profile if p not in PROFILES]
    if unknown:
        raise SystemExit(f"isnet bench train: unknown profile(s) {unknown}; choose from {sorted(PROFILES)}")
    print(f"# isnet bench train — device {device_name(device)}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, median of {args.repeats} interleaved steps per path after "
          f"{args.warmup} warm-up (+ the first step, timed apart)")
    rows = []
    for profile in args.profile:
        cfg = profile_config(profile, overrides, args.backbone)
        w = cfg.loss.loss_weights()
        print(f"\n## {profile}: {cfg.model.generator} B={cfg.model.blocks} width {cfg.model.width}, D width "
              f"{cfg.model.d_width}, {cfg.data.size} px, batch {cfg.train.batch}, loss {cfg.loss.preset} "
              f"({w.gan_loss}, {w.backbone})", flush=True)
        rows += bench_profile(profile, paths, args.repeats, args.warmup, device, overrides, args.backbone)
        print(format_table([r for r in rows if r["profile"] == profile]), end="", flush=True)
        if not args.quick:
            print(profile_wall_time(rows, profile))
        if args.breakdown:
            for path in (AUTHORS, "fp32", "channels-last"):
                parts = step_breakdown(profile, device, args.repeats, overrides, args.backbone, path)
                print(f"\n### {profile}, {path}: where one step's time goes (median of {args.repeats}, interleaved)")
                print(format_breakdown(parts), end="", flush=True)
    if args.csv:
        import pandas as pd

        table = pd.DataFrame(rows)
        if args.append and os.path.exists(args.csv):
            old = pd.read_csv(args.csv)
            table = pd.concat([old[~old["profile"].isin(args.profile)], table], ignore_index=True)
        atomic_write_text(args.csv, table.to_csv(index=False, float_format="%.6g"))
        print(f"\nwrote {args.csv}")
    return 0
