"""Scoring a study's runs: each table's methods on the fixed pairs, the paper's numbers beside ours, claims and the summary."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..data import PairsDataset, build_source
from ..engine.checkpoint import build_generator, load_generator
from ..engine.evaluate import evaluate
from ..io import atomic_write_text
from ..method.checkerboard import hole_period2_ratio
from ..method.metrics import aggregate
from ..models import count_parameters
from . import paper
from .experiments import (
    CLASSICAL,
    MEAN_FILL,
    TABLE_SPECS,
    MeanColourFill,
    Row,
    TableResult,
    table_rows,
    trained_rows,
)
from .claims import pair_groups
from .curves import first_wins
from .report import (
    claim_verdicts,
    judge,
    noise_lines,
    own_learning_curve,
    side_by_side,
    summary_markdown,
    write_table,
)
from .generators import run_generator
from .power import CPU_NOISE, measured_noise
from .runs import (
    _short_hash,
)


def gate_measures(generator, pairs: str | Path, n: int = 16) -> dict:
    """What the sanity gates read off a generator (``claims.sanity_gates``), on (up to) ``n`` evaluation images
    spread evenly over the pairs file: ``output_spread`` (mean over pixels of the standard deviation over the
    images; ≈ 0 for a network that ignores its input) and ``hole_checkerboard`` (in-hole checkerboard share over
    the photos' own, ``isnet.method.checkerboard``)."""
    import torch

    ds = PairsDataset(pairs)
    idx = np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int)
    items = [ds[int(i)] for i in idx]
    image = torch.stack([it[0] for it in items])
    known = torch.stack([it[1] for it in items])
    with torch.no_grad():
        pred = generator.eval()(image * known).float()
    spread = float(pred.std(dim=0).mean()) if len(items) > 1 else math.nan
    return {"output_spread": spread, "hole_checkerboard": hole_period2_ratio(pred, image, known),
            "images": len(items)}


class Scoring:
    """The part of :class:`isnet.study.Study` that scores runs and writes the tables, claims and summary."""

    # ---------------------------------------------------------------- evaluation
    def evaluate_run(self, method: str, run: str | Path, seed: int, pra: bool = False, kernel: int = 15,
                     name: str | None = None) -> pd.DataFrame:
        """Score a run's final checkpoint on the fixed pairs (cached in the run folder)."""

        run = self.dir / "runs" / Path(run).name
        tag = f"eval{'-pra' + str(kernel) if pra else ''}-{_short_hash(self.pairs_path())}.csv"
        cache = run / tag
        if cache.exists():
            df = pd.read_csv(cache)
        else:
            df = evaluate(str(run_generator(run)), self.pairs_path(), pra=pra, pra_kernel=kernel, progress=False,
                          device=self.device or "auto")
            atomic_write_text(cache, df.to_csv(index=False))
        return _tidy(df, name or method, seed)

    def evaluate_classical(self, method: str) -> pd.DataFrame:
        cache = self.dir / "pairs" / f"eval-{method}-{_short_hash(self.pairs_path())}.csv"
        if cache.exists():
            df = pd.read_csv(cache)
        else:
            df = evaluate(method, self.pairs_path(), progress=False)
            atomic_write_text(cache, df.to_csv(index=False))
        return _tidy(df, method, seed=0)

    def evaluate_mean_fill(self) -> pd.DataFrame:
        """The floor every learned model must clear: each hole filled with the mean colour of the image's
        known pixels, scored on the same pairs (a sanity gate of the claim verdicts)."""

        cache = self.dir / "pairs" / f"eval-{MEAN_FILL}-{_short_hash(self.pairs_path())}.csv"
        if cache.exists():
            df = pd.read_csv(cache)
        else:
            df = evaluate(MeanColourFill(), self.pairs_path(), progress=False, device="cpu")
            atomic_write_text(cache, df.to_csv(index=False))
        return _tidy(df, MEAN_FILL, seed=0)

    def output_spread(self, run: str | Path, n: int = 16) -> float:
        """How much a run's raw output varies across images: the mean over pixels of the standard deviation
        over (up to ``n``) evaluation images. A network that ignores its input (a constant or checkerboard
        fill) scores ≈ 0. Cached in the run folder."""
        run = self.dir / "runs" / Path(run).name
        cache = run / f"spread-{_short_hash(self.pairs_path())}.json"
        if cache.exists():
            return float(json.loads(cache.read_text())["output_spread"])
        gates = gate_measures(load_generator(run_generator(run)), self.pairs_path(), n)
        atomic_write_text(cache, json.dumps(gates))
        return gates["output_spread"]

    def hole_checkerboard(self, run: str | Path) -> float:
        """A run's in-hole checkerboard share over the photos' own on the images ``output_spread`` uses
        (``isnet.method.checkerboard``; > 1.5 fails a sanity gate). NaN for a score cache written before it was
        measured (its run is not re-run for it; ``isnet study --rescore`` measures it)."""
        self.output_spread(run)
        cache = self.dir / "runs" / Path(run).name / f"spread-{_short_hash(self.pairs_path())}.json"
        value = json.loads(cache.read_text()).get("hole_checkerboard")
        return math.nan if value is None else float(value)

    # ---------------------------------------------------------------- tables
    def run_table(self, name: str) -> TableResult:
        """Train and score one of the paper's tables; writes tables/<name>.{csv,md} and per-pair rows.

        Per-pair rows also carry each learned run's ``output_spread`` and the mean-colour fill (method
        ``mean-fill``), so the claim verdicts can check that the models learned before judging them."""

        wanted = self.profile.methods
        rows = [r for r in table_rows(name, self.profile) if wanted is None or r.id in wanted]
        runs = self.run_rows(rows, table=name)
        parts = [self.evaluate_run(r.method, r.run, r.seed) for r in runs.itertuples()]
        if name == "table5":
            eq5 = runs[runs.method == "isnet-eq5"]
            parts += [self.evaluate_run("isnet-eq5", r.run, r.seed, pra=True, kernel=self.profile.pra_kernels[0],
                                        name="isnet-eq5-pra") for r in eq5.itertuples()]
            parts += [self.evaluate_classical(m) for m in CLASSICAL]
        spreads = {(r.method, r.seed): self.output_spread(r.run) for r in runs.itertuples()}
        checkers = {(r.method, r.seed): self.hole_checkerboard(r.run) for r in runs.itertuples()}
        parts.append(self.evaluate_mean_fill())
        pairs = pd.concat(parts, ignore_index=True)
        base = pairs["method"].str.replace(r"-pra$", "", regex=True)
        pairs["output_spread"] = [spreads.get((m, s), math.nan) for m, s in zip(base, pairs["seed"])]
        pairs["hole_checkerboard"] = [checkers.get((m, s), math.nan) for m, s in zip(base, pairs["seed"])]
        self._save_pairs(name, pairs)
        summary = aggregate(pairs, by=TABLE_SPECS[name].keys, metrics=("psnr", "ssim", "mae"))
        table = self.paper_beside_ours(name, pairs)
        write_table(table, self.dir / "tables", name, label=self.label, overwrite=True)
        if name == "table5":  # Table 6 (CelebA) is Table 5's comparison on data not run here: the paper's rows only
            self.table6()
        return TableResult(name, pairs, summary, table, runs)

    def paper_beside_ours(self, name: str, pairs: pd.DataFrame) -> pd.DataFrame:
        """Table ``name`` in its final form, as its entry of ``TABLE_SPECS`` says: the paper's rows and numbers
        beside ours from the per-pair rows (and, for Tables 7/8, the trained models' parameter counts)."""

        spec = TABLE_SPECS[name]
        theirs = paper.table(spec.number)
        if spec.paper_methods is not None:
            theirs = theirs[theirs.method.isin(spec.paper_methods)]
        table = side_by_side(pairs, theirs, keys=list(spec.keys), metrics=list(spec.metrics), label=self.label,
                             numeric=spec.numeric)
        if spec.parameters:
            table = self.with_trained_parameters(table, table_rows(name, self.profile))
        table.attrs["paper_table"] = spec.number
        return table

    def table6(self) -> pd.DataFrame:
        """The paper's Table 6 (CelebA, not run at any profile here): its rows with empty ours columns, so the
        report covers it; written to tables/."""

        empty = pd.DataFrame(columns=["method", "bucket", "pair_id", "seed", *TABLE_SPECS["table6"].metrics])
        table = self.paper_beside_ours("table6", empty)
        write_table(table, self.dir / "tables", "table6", label=self.label, overwrite=True)
        return table

    def with_trained_parameters(self, table: pd.DataFrame, rows: Sequence[Row]) -> pd.DataFrame:
        """Tables 7/8's "ours parameters" columns: the count of the model this profile trained (its width and
        blocks), not the width-1 count; the width-1 count stays in its own column."""

        attrs = dict(table.attrs)
        trained = {}
        for row in rows:
            cfg = self.config_for(row, self.profile.seeds[0])
            trained[row.id] = (count_parameters(build_generator(cfg)), cfg.model.width, cfg.model.blocks)
        out = table.copy()
        exact, exact_m = "ours parameters (exact count)", "ours parameters (exact / 2^20)"
        if exact in out.columns:
            out = out.rename(columns={exact: "parameters at width 1 (exact count)"})
        if exact_m in out.columns:
            out = out.drop(columns=[exact_m])
        count = [trained.get(m, (None,))[0] for m in out["method"]]
        width = self.profile.base.model.width
        out[exact] = count
        out[exact_m] = [None if c is None else round(c / paper.MEBI, 3) for c in count]
        out["trained width"] = [trained[m][1] if m in trained else None for m in out["method"]]
        out.attrs.update(attrs)
        out.attrs["trained_width"] = width
        return out

    def _save_pairs(self, name: str, pairs: pd.DataFrame) -> None:
        atomic_write_text(self.dir / "pairs" / f"{name}_per_pair.csv", pairs.to_csv(index=False))

    def load_pairs(self, name: str) -> pd.DataFrame:
        path = self.dir / "pairs" / f"{name}_per_pair.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run the notebook that makes {name} first "
                                    f"(isnet study --profile {self.profile.name} --only ...)")
        return pd.read_csv(path)

    def claim_verdicts(self, results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """The paper's claims judged on this profile's per-pair results (the first table of :meth:`judge`)."""

        return self.judge(results)[0]

    def judge(self, results: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(verdict per claim, one row per comparison) on this profile's per-pair results
        (``isnet.study.claims.judge``): only the claims the profile lists as resolvable (``StudyProfile.resolves``;
        every claim when it lists none), each with at least the profile's ``min_seeds`` (and never fewer than
        ``claims.MIN_SEEDS``) training seeds and ``claims.MIN_PAIRS`` pairs; every trained model must first pass
        the sanity gates. The rest: "not tested at this scale". A claim whose trained rows have fewer seeds in
        ``results`` than the profile trains (an interim report, ``isnet study --finished-only``) is "pending"."""

        designed = {m: len(self.profile.seeds) for m in trained_rows(self.profile)}
        return judge(results, resolves=self.profile.resolves, min_seeds=self.profile.min_seeds, designed=designed)

    def read_tables(self) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """(the report's tables as written to tables/*.csv, the per-pair results the claims judge), read back
        only: the notebooks that made them wrote each in its final form (``TABLE_SPECS``)."""

        tables = {}
        for name, spec in sorted(TABLE_SPECS.items()):
            if not spec.in_report:
                continue
            path = self.dir / "tables" / f"{name}.csv"
            if not path.exists():
                raise FileNotFoundError(f"{path} not found: run the notebook that makes {name} first "
                                        f"(isnet study --profile {self.profile.name} --only ...)")
            table = pd.read_csv(path)
            table.attrs.update(paper_table=spec.number, label=self.label)
            tables[name] = table
        results = {name: self.load_pairs(name) for name, spec in TABLE_SPECS.items() if spec.trained and spec.in_report}
        return tables, results

    def learning_curve_wins(self) -> pd.DataFrame | None:
        """The profile's learning curve (``tables/learning_curve.csv``, written by ``isnet bench learn``) as the
        first iteration at which each model and seed beats Telea per bucket; None when there is no curve."""
        path = self.dir / "tables" / "learning_curve.csv"
        return first_wins(pd.read_csv(path)) if path.exists() else None

    def summary_path(self) -> Path:
        return self.dir / "SUMMARY.md"

    def write_summary(self, verdicts: pd.DataFrame, comparisons: pd.DataFrame | None = None,
                      extensions: pd.DataFrame | None = None) -> Path:
        """SUMMARY.md (``isnet.study.report.summary_markdown``): the conclusion, each claim with the paper's
        sentence and its evidence, the Extensions and the profile's own learning curve."""
        comparisons = comparisons if comparisons is not None else pd.DataFrame(columns=["claim", "n_pairs"])
        wins = own_learning_curve(self.learning_curve_wins(), self.profile.methods)
        pra_path = self.dir / "tables" / "pra_paired.csv"
        pra = pd.read_csv(pra_path) if pra_path.exists() else None
        return atomic_write_text(self.summary_path(), summary_markdown(self.profile, verdicts, comparisons, extensions,
                                                                       wins, pra, self.campaign(), self.noise_lines()))

    def noise_lines(self) -> list[str]:
        """SUMMARY.md's "Noise at this scale" (``report.noise_lines``) from the per-pair scores written so far; the
        CPU profiles' claim lists were all fixed from ``power.CPU_NOISE`` (``tests/test_power.py``)."""
        results = {name: self.load_pairs(name) for name, spec in TABLE_SPECS.items()
                   if spec.trained and (self.dir / "pairs" / f"{name}_per_pair.csv").exists()}
        return noise_lines(self.profile, CPU_NOISE, measured_noise(results, f"results/{self.profile.name}",
                                                                 pair_groups))

    def table4(self) -> pd.DataFrame:
        """The data actually used (the paper's Table 4 analogue), beside the paper's Places2/CelebA."""

        p = self.profile
        rows = []
        for role, (name, split) in {"train": (p.base.data.source, p.base.data.split),
                                    "test": (p.eval_source, p.eval_split)}.items():
            try:
                d = build_source(name, split=split).describe()
                rows.append({"role": role, **d})
            except (FileNotFoundError, ValueError) as e:
                rows.append({"role": role, "name": name, "split": split, "count": None, "note": str(e)})
        ours = pd.DataFrame(rows)
        ours.insert(0, "who", "ours (" + p.name + ")")
        theirs = paper.table4().copy()
        theirs.insert(0, "who", "paper")
        return pd.concat([theirs, ours], ignore_index=True)


def _tidy(df: pd.DataFrame, method: str, seed: int) -> pd.DataFrame:
    df = df.copy()
    df["method"] = method
    df["seed"] = seed
    if "pair" in df.columns and "pair_id" not in df.columns:
        df = df.rename(columns={"pair": "pair_id"})
    return df
