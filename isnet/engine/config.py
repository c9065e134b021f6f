"""Run configuration: typed, frozen dataclasses that every entry point shares.

The same ``Config`` comes from a papermill parameters dict, a YAML file, CLI ``key=value`` overrides
with dotted keys (``model.blocks=2 loss.preset=paper-eq4 train.iterations=100``) or an Optuna trial's
params, so an ablation is data, not a code edit. Unknown keys fail loudly, naming the key and the valid
ones.

>>> cfg = Config().with_overrides(["train.iterations=20", "model.blocks=2"])
>>> cfg.resolve().config_hash()  # doctest: +SKIP
'3f1c9a0d2b7e'

``resolve()`` fills in what a name stands for (the loss preset's weights, the run folder) so that
``config_hash()`` of the resolved config keys a run: two configs that train the same thing hash alike,
and a change to a preset's definition changes the hash. Fields that do not change what is trained
(output folder, loader workers, logging cadence, device) are left out of the hash.

Why this file is long: the five typed sections, their checks and the dotted-key parser/coercer that
builds them are one schema; the parser needs the section classes and they need it, so they stay together.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..data import CROPS, SOURCES
from ..io import atomic_write_text
from ..method.features import BACKBONES
from ..method.losses import LOSS_PRESETS, LossWeights, loss_weights
from ..models import GENERATORS, UPSAMPLE_INITS, upsample_init_changes

AMP_MODES = ("none", "bf16", "fp16")
LR_SCHEDULES = ("constant", "cosine")
NOT_HASHED = "hash"  # field metadata flag: this field does not change what is trained


def _nohash(default: Any) -> Any:
    return field(default=default, metadata={NOT_HASHED: False})


NEW_KEY = "hash_when_set"  # field metadata flag: hashed only when it differs from its default


def _newkey(default: Any) -> Any:
    """A key added after runs were committed: hashed only when set, so existing runs keep their hashes."""
    return field(default=default, metadata={NEW_KEY: True})


# ----------------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class ModelConfig:
    """Which generator: a name from ``isnet.models.GENERATORS`` and its size."""

    generator: str = "isnet"
    blocks: int = 4          # residual blocks per branch per phase (paper Table 8: 1..4)
    width: float = 1.0       # channel multiplier (1.0 = the paper)
    # Conv weights ~ N(0, init_gain) for G and D. 0.001 is the authors' code; with spectral norm and Adam
    # it freezes small generators (isnet.models.layers.normal_init_), so the CPU profiles use 0.02.
    init_gain: float = 0.001
    d_width: float = 1.0     # the discriminator's channel multiplier (1.0 = the paper's PatchGAN)
    # How G's learned ×2 upsampling layers start: "normal" (as every conv: the authors'), "icnr" (grid-free:
    # sub-pixel kernels tied, transposed convs bilinear) or "tconv-bilinear" (the transposed convs only;
    # isnet.models.layers.icnr_, docs/learning.md). resolve() writes "normal" where it changes no layer.
    upsample_init: str = _newkey("normal")
    # A fixed blur before D's stride-2 convs (not the paper's: isnet.models.discriminator, docs/learning.md).
    d_antialias: bool = _newkey(False)

    def check(self) -> None:
        _require(self.upsample_init in UPSAMPLE_INITS, "model.upsample_init", self.upsample_init,
                 " or ".join(UPSAMPLE_INITS))
        _require(self.generator in GENERATORS, "model.generator", self.generator, sorted(GENERATORS))
        _require(1 <= self.blocks <= 8, "model.blocks", self.blocks, "1..8 (the paper uses 1..4)")
        _require(self.width > 0, "model.width", self.width, "a positive multiplier such as 1, 0.5, 0.25")
        _require(0 < self.init_gain <= 1, "model.init_gain", self.init_gain,
                 "a standard deviation such as 0.001 (the authors') or 0.02 (EdgeConnect)")
        _require(self.d_width > 0, "model.d_width", self.d_width, "a positive multiplier such as 1 or 0.25")
        _require(isinstance(self.d_antialias, bool), "model.d_antialias", self.d_antialias, "true or false")


@dataclass(frozen=True)
class LossConfig:
    """A loss preset from ``isnet.losses.LOSS_PRESETS`` plus optional per-term weight overrides.

    Overrides are given as ``loss.weights.<field>=value`` or the shorthand ``loss.<field>=value`` where
    ``<field>`` is a field of ``isnet.losses.LossWeights`` (``adversarial``, ``style``, ``gan_loss``, ...).
    ``backbone`` (if set) replaces the preset's feature backbone; ``resolve()`` folds it into the weights.
    Random-weight test backbones need ``allow_test_backbone=True`` so they never slip into a real run.
    """

    preset: str = "paper-eq5"
    weights: tuple[tuple[str, Any], ...] = ()
    backbone: str | None = None
    allow_test_backbone: bool = False

    def check(self) -> None:
        self.loss_weights()

    def loss_weights(self):
        """The ``isnet.losses.LossWeights`` this section stands for: preset, overrides, backbone."""

        _require(self.preset in LOSS_PRESETS, "loss.preset", self.preset, sorted(LOSS_PRESETS))
        overrides = dict(self.weights)
        if self.backbone is not None:
            overrides["backbone"] = self.backbone
        weights = loss_weights(self.preset, **overrides)
        spec = BACKBONES[weights.backbone]
        _require(not spec.for_tests or self.allow_test_backbone or not weights.feature_layers,
                 "loss.backbone", weights.backbone,
                 "a pretrained backbone; random weights are for tests only (set loss.allow_test_backbone=true)")
        return weights


@dataclass(frozen=True)
class DataConfig:
    """Where training images, masks and the fixed validation pairs come from (``isnet.data``)."""

    source: str = "photos"            # a name in isnet.data.SOURCES
    root: str | None = None           # folder/.flist ("folder"), data root ("celeba", "places2"), photo cache ("photos")
    size: int = 256                   # square training size (a multiple of 16 keeps the generator exact)
    split: str = "train"
    crop: str = "center"              # "center" (the authors' centre square + resize) or "random" (ours)
    upscale: bool = False             # allow enlarging images smaller than ``size``
    masks: str = "medium"             # a mask family (thin, medium, thick), "mixed", "paper" (the evaluation's
                                      # families and hole-ratio buckets), or a folder/.flist/manifest.csv
    holes: str = "white"              # polarity of mask files: white = hole (painting tools), black, or auto (NVIDIA)
    pairs: str | None = None          # validation pairs manifest; None = make fixed pairs in the run folder
    val_split: str = ""               # split for the made pairs; "" = the source's held-out split (VAL_SPLITS)
    val_pairs: int = 16               # how many validation pairs to make when ``pairs`` is None
    workers: int = _nohash(0)         # loader worker processes (does not change the sample stream)
    cache: bool = _nohash(False)      # keep decoded training images in memory (small pools only)

    def check(self) -> None:
        _require(self.source in SOURCES, "data.source", self.source, sorted(SOURCES))
        _require(self.crop in CROPS, "data.crop", self.crop, sorted(CROPS))
        _require(self.size >= 16 and self.size % 16 == 0, "data.size", self.size,
                 "a multiple of 16 (the generator halves the size 4 times), e.g. "
                 f"{max(16, self.size // 16 * 16)} or {max(16, -(-self.size // 16) * 16)}")
        _require(self.holes in ("white", "black", "auto"), "data.holes", self.holes, ["white", "black", "auto"])
        _require(self.val_pairs >= 1, "data.val_pairs", self.val_pairs, "at least 1")
        _require(self.workers >= 0, "data.workers", self.workers, "0 or more")

    def held_out_split(self) -> str:
        """The split validation pairs are drawn from when no manifest is given."""
        if self.val_split:
            return self.val_split
        if self.source == "photos" and self.split.startswith("mix-"):
            return "mix-val"  # the mixed split's held-out training groups (never mix-test photos)
        return VAL_SPLITS.get(self.source, "val")


# The held-out split of each source used for validation pairs. The photo pool has only train/test,
# and "samples"/"folder" have no split at all, so for those validation looks at the test or same images.
# Validation never reads test photos: the photo pool's ``val`` is held-out training groups (issue 19).
VAL_SPLITS = {"photos": "val", "samples": "all", "folder": "all", "celeba": "val", "places2": "val"}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (docs/authors-code.md §9: Adam betas (0, 0.9), G 1e-4, D 1e-5, batch 8) and run mechanics."""

    iterations: int = 1000
    batch: int = 8                    # global batch; split over processes under torchrun
    lr_g: float = 1e-4
    lr_d: float = 1e-5
    betas: tuple[float, float] = (0.0, 0.9)
    val_every: int = _nohash(500)     # validate, sample and checkpoint every N iterations (and at the end)
    log_every: int = _nohash(10)
    keep_last: int = _nohash(3)       # rolling checkpoints kept (the best by validation PSNR is kept apart)
    seed: int = 0
    deterministic: bool = False
    device: str = _nohash("auto")     # auto | cpu | cuda | cuda:N
    amp: str = "none"                 # none | bf16 | fp16
    channels_last: bool = False
    compile: bool = _nohash(False)    # torch.compile the generator (same losses to ~1e-6; the first step pays the
                                      # compile time; isnet bench train measures whether it wins)
    # Small-scale stability (labelled wherever used; the paper profile keeps 0 / 0):
    adv_warmup: int = 0               # iterations of L1 + feature terms only before the adversarial terms (and
                                      # D's updates) start; D is also never stepped while its weight is 0
    ema: float = 0.0                  # decay of an exponential moving average of G's weights (0 = off); when on,
                                      # validation, evaluation and inference use the average
    # Learning-rate schedule (issue 18, docs/learning.md): a multiplier on lr_g and lr_d per iteration.
    # constant (the paper's); cosine: linear warm-up over lr_warmup iterations, then a half cosine from 1 to
    # lr_final at train.iterations (so the run length is part of the recipe).
    lr_schedule: str = _newkey("constant")
    lr_warmup: int = _newkey(0)
    lr_final: float = _newkey(0.0)

    def lr_factor(self, iteration: int) -> float:
        """The multiplier on the base rates at 1-based ``iteration`` (the step about to be taken)."""
        if self.lr_schedule == "constant":
            return 1.0
        if self.lr_warmup and iteration <= self.lr_warmup:
            return iteration / self.lr_warmup
        span = max(1, self.iterations - self.lr_warmup)
        progress = min(1.0, (iteration - self.lr_warmup) / span)
        return self.lr_final + (1 - self.lr_final) * 0.5 * (1 + math.cos(math.pi * progress))

    def check(self) -> None:
        _require(self.iterations >= 1, "train.iterations", self.iterations, "at least 1")
        _require(self.batch >= 1, "train.batch", self.batch, "at least 1")
        _require(self.lr_g > 0 and self.lr_d >= 0, "train.lr_g/lr_d", (self.lr_g, self.lr_d), "positive rates")
        _require(len(self.betas) == 2, "train.betas", self.betas, "two numbers, e.g. [0, 0.9]")
        _require(self.val_every >= 1, "train.val_every", self.val_every, "at least 1")
        _require(self.log_every >= 1, "train.log_every", self.log_every, "at least 1")
        _require(self.keep_last >= 1, "train.keep_last", self.keep_last, "at least 1")
        _require(self.amp in AMP_MODES, "train.amp", self.amp, list(AMP_MODES))
        _require(self.adv_warmup >= 0, "train.adv_warmup", self.adv_warmup, "0 or more iterations")
        _require(0 <= self.ema < 1, "train.ema", self.ema, "0 (off) or a decay in (0, 1) such as 0.999")
        _require(isinstance(self.compile, bool), "train.compile", self.compile, "true or false")
        _require(self.lr_schedule in LR_SCHEDULES, "train.lr_schedule", self.lr_schedule, list(LR_SCHEDULES))
        _require(0 <= self.lr_warmup < self.iterations or self.lr_warmup == 0, "train.lr_warmup", self.lr_warmup,
                 "0 or more iterations, fewer than train.iterations")
        _require(0 <= self.lr_final <= 1, "train.lr_final", self.lr_final, "a fraction of the base rate in [0, 1]")


@dataclass(frozen=True)
class OutConfig:
    """Where the run folder goes; empty = ``runs/<name>-<config hash>``."""

    dir: str = _nohash("")
    name: str = _nohash("run")

    def check(self) -> None:
        _require("/" not in self.name and self.name.strip() != "", "out.name", self.name,
                 "a plain folder-name prefix such as 'smoke'")


SECTIONS = {"model": ModelConfig, "loss": LossConfig, "data": DataConfig, "train": TrainConfig, "out": OutConfig}


@dataclass(frozen=True)
class Config:
    """One training/evaluation run. Build with ``Config.from_dict``, ``load_config`` or a profile (``isnet.study.profiles``)."""

    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    out: OutConfig = OutConfig()

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None = None, base: "Config | None" = None) -> "Config":
        """Nested (``{"model": {"blocks": 2}}``) or dotted (``{"model.blocks": 2}``) keys, on top of ``base``."""
        return (base or cls()).with_overrides(d or {})

    def with_overrides(self, overrides: Mapping[str, Any] | Iterable[str]) -> "Config":
        """Apply a dict (nested or dotted keys) or ``["key=value", ...]`` strings; unknown keys raise.

        Choosing another ``loss.preset`` drops the weight overrides made before (and a resolved
        config's expanded weights); weights given in the same call still apply on top of it.
        """
        flat = parse_overrides(overrides) if not isinstance(overrides, Mapping) else _flatten(overrides)
        sections = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        for sec in sections.values():  # weights back to a dict while we edit
            if "weights" in sec:
                sec["weights"] = dict(sec["weights"])
        if "loss.preset" in flat and flat["loss.preset"] != self.loss.preset:
            sections["loss"]["weights"] = {}  # another preset: earlier weights (or a resolved expansion) go
        for key, value in flat.items():
            _set(sections, key, value)
        return Config(**{name: _build(SECTIONS[name], values, name) for name, values in sections.items()})

    # ---------------------------------------------------------------- views
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict of builtins (JSON/YAML-safe, and safe for ``torch.load(weights_only=True)``)."""
        out = {}
        for name in SECTIONS:
            sec = dataclasses.asdict(getattr(self, name))
            out[name] = {k: (_plain(dict(v)) if k == "weights" else _plain(v)) for k, v in sec.items()}
        return out

    def flat(self) -> dict[str, Any]:
        """``{"model.blocks": 4, ...}``: what an Optuna trial or a report table wants."""
        return _flatten(self.to_dict())

    def hashed_dict(self) -> dict[str, dict[str, Any]]:
        """``to_dict()`` without the fields that do not change what is trained."""
        d = self.to_dict()
        for name, cls in SECTIONS.items():
            for f in fields(cls):
                if f.metadata.get(NOT_HASHED, True) is False:
                    d[name].pop(f.name)
                elif f.metadata.get(NEW_KEY) and getattr(getattr(self, name), f.name) == f.default:
                    d[name].pop(f.name)
        return d

    def config_hash(self, length: int = 12) -> str:
        """A stable short hash of ``hashed_dict()``; call it on a resolved config to key runs."""
        blob = json.dumps(self.hashed_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:length]

    # ---------------------------------------------------------------- checks and resolution
    def check(self) -> "Config":
        for name in SECTIONS:
            getattr(self, name).check()
        return self

    def resolve(self) -> "Config":
        """Validate, expand the loss preset into explicit weights, and fill in the run folder."""
        self.check()
        weights = self.loss.loss_weights()
        explicit = tuple(sorted((k, _frozen(_canonical(v))) for k, v in weights.to_dict().items()))
        cfg = replace(self, loss=replace(self.loss, weights=explicit, backbone=None))
        if not upsample_init_changes(cfg.model.generator, cfg.model.upsample_init):
            # an init with no layer to change in this generator trains the same thing as "normal", so it keys the
            # same run (a recipe that starts the UNet-like's transposed convs bilinear leaves ISNet's runs as they are)
            cfg = replace(cfg, model=replace(cfg.model, upsample_init="normal"))
        if not cfg.out.dir:
            cfg = replace(cfg, out=replace(cfg.out, dir=str(Path("runs") / f"{cfg.out.name}-{cfg.config_hash()}")))
        return cfg

    def differences(self, other: "Config | Mapping", ignore: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
        """``[(dotted key, self's value, other's value)]`` for every key that differs."""
        other_flat = other.flat() if isinstance(other, Config) else _flatten(other)
        mine = self.flat()
        skip = tuple(ignore)
        keys = sorted(set(mine) | set(other_flat))
        return [(k, mine.get(k), other_flat.get(k)) for k in keys
                if not k.startswith(skip) and _norm(mine.get(k)) != _norm(other_flat.get(k))]


# ----------------------------------------------------------------------------------------- loading
def load_config(path: str | os.PathLike, overrides: Iterable[str] | Mapping[str, Any] = (),
                base: Config | None = None) -> Config:
    """A YAML (or JSON) file of nested or dotted keys, then ``overrides``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"config file {path} must hold a mapping of sections (model, loss, data, train, out)")
    cfg = Config.from_dict(data, base=base)
    return cfg.with_overrides(overrides)


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the config as YAML (atomically)."""
    import yaml

    return atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


# ----------------------------------------------------------------------------------------- helpers
def _require(ok: bool, key: str, value: Any, valid: Any) -> None:
    if not ok:
        raise ValueError(f"invalid {key}={value!r}; expected {valid}")


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        # a nested mapping is a section, except the values of loss.weights (which may stay a dict)
        if isinstance(v, Mapping) and (key.count(".") == 0 or key in _dict_fields()):
            if key in _dict_fields():
                for kk, vv in v.items():
                    out[f"{key}.{kk}"] = vv
            else:
                out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _dict_fields() -> set[str]:
    return {"loss.weights"}


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value, e.g. model.blocks=2")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        out[key.strip()] = value
    return out


def _weight_names() -> set[str]:
    return {f.name for f in fields(LossWeights)}


class UnknownKeyError(KeyError, ValueError):
    """An unknown config key. A KeyError (as before) and a ValueError (bad input, exit status 2), whose message
    prints without the quotes that ``str(KeyError)`` adds."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _set(sections: dict[str, dict[str, Any]], key: str, value: Any) -> None:
    parts = key.split(".")
    if parts[0] not in sections:
        raise UnknownKeyError(f"unknown config key {key!r}: the first part must be one of {list(SECTIONS)}")
    sec_name, sec = parts[0], sections[parts[0]]
    if len(parts) == 2 and parts[1] in sec and parts[1] != "weights":
        sec[parts[1]] = value
        return
    if sec_name == "loss":
        names = _weight_names()
        term = parts[2] if len(parts) == 3 and parts[1] == "weights" else parts[1] if len(parts) == 2 else None
        if len(parts) == 2 and parts[1] == "weights" and isinstance(value, Mapping):
            for t, v in value.items():
                _set(sections, f"loss.weights.{t}", v)
            return
        if term is not None and (term in names or (not names and parts[1] == "weights")):
            sec["weights"][term] = value
            return
        if term is not None and parts[1] == "weights":
            raise UnknownKeyError(f"unknown loss weight {term!r} in {key!r}; valid terms: {sorted(names)}")
    valid = [f"{sec_name}.{k}" for k in sec if k != "weights"]
    if sec_name == "loss":
        valid += [f"loss.weights.{t}" for t in sorted(_weight_names())]
    raise UnknownKeyError(f"unknown config key {key!r}; valid keys in section {sec_name!r}: {', '.join(valid)}")


def _build(cls, values: dict[str, Any], section: str):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        v = values[f.name]
        if f.name == "weights":
            kwargs[f.name] = tuple(sorted((str(k), _frozen(_number(v2))) for k, v2 in dict(v).items()))
            continue
        kwargs[f.name] = _coerce(v, hints[f.name], f"{section}.{f.name}")
    return cls(**kwargs)


def _number(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Turn YAML/CLI values into the field's declared type, or raise naming the key."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is tuple:
        if isinstance(value, str):
            value = [s for s in value.replace("(", "").replace(")", "").split(",") if s.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list such as [0, 0.9], got {value!r}")
        elem = args[0] if args else Any
        return tuple(_coerce(v, elem, key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{key} must be an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(f"{key} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ValueError(f"{key} must be a string, got {value!r}")
        return "" if value is None else str(value)
    return value


def _plain(v: Any) -> Any:
    """Tuples to lists, recursively: YAML, JSON and ``weights_only`` loading all take these."""
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def _canonical(v: Any) -> Any:
    """Numbers as floats, so ``style=3`` and ``style=3.0`` hash alike."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def _frozen(v: Any) -> Any:
    """Lists to tuples, recursively, so a frozen config stays hashable."""
    if isinstance(v, (tuple, list)):
        return tuple(_frozen(x) for x in v)
    return v


def _norm(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_norm(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return v
