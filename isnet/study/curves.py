"""Reading a learning curve (``isnet bench learn``: one row per model, seed, iteration and bucket): the first point
whose paired 95 % CI against a baseline lies above 0, for the study's first-wins table and the bench's time to
signal alike."""
from __future__ import annotations

import pandas as pd


def first_win_points(points: pd.DataFrame, baseline: str = "telea",
                     by: tuple[str, ...] = ("model", "seed", "bucket")):
    """Per group of a learning curve (``isnet bench learn``: one row per model, seed, iteration and bucket): the
    group's key (a dict), its first point whose paired 95 % CI against ``baseline`` lies above 0 (None if none)
    and its last point, in the curve's order."""
    for key, g in points.groupby(list(by), sort=False):
        g = g.sort_values("iteration")
        wins = g[g[f"vs_{baseline}_low"] > 0]
        yield dict(zip(by, key if isinstance(key, tuple) else (key,))), (wins.iloc[0] if len(wins) else None), g.iloc[-1]


def vs_interval(row: pd.Series, baseline: str = "telea", column: str | None = None) -> str:
    """A curve point's paired difference against ``baseline`` (or in ``column``, with ``column_low`` and
    ``column_high``) with its interval: ``+0.12 [+0.02, +0.21]``."""
    c = column or f"vs_{baseline}"
    return f"{row[c]:+.2f} [{row[f'{c}_low']:+.2f}, {row[f'{c}_high']:+.2f}]"


def first_wins(points: pd.DataFrame, baseline: str = "telea",
               by: tuple[str, ...] = ("model", "seed", "bucket")) -> pd.DataFrame:
    """A learning curve's first iteration whose paired 95 % CI against ``baseline`` lies above 0, per ``by``
    group (model, seed and bucket), with the last point."""
    out = [{**key, f"first_beats_{baseline}": int(first.iteration) if first is not None else None,
            "last_iteration": int(last.iteration), "last_psnr": round(last.psnr, 2),
            f"last_vs_{baseline}": vs_interval(last, baseline)}
           for key, first, last in first_win_points(points.sort_values(list(by)), baseline, by)]
    out = pd.DataFrame(out)
    return out.astype({f"first_beats_{baseline}": "Int64"}) if len(out) else out
