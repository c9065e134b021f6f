"""The paper's own numbers (Tables 1–8), its quirks, and the claims the study checks.

Gong, Li et al., *Image Inpainting Based on Interactive Separation Network and Progressive Reconstruction
Algorithm*, IEEE Access 10 (2022), doi:10.1109/ACCESS.2022.3186009. Every number below is typed from the
paper's text (``shared/paper/isnet-pra-ieee-access-2022.txt``) exactly as printed; ``tests/test_paper.py``
re-reads that text and compares every number, so a typo here fails the tests. This is the only place in the
project where numbers are typed by hand.

Each ``tableN()`` returns a fresh tidy DataFrame: one row per thing the paper measured (a model, a method in a
mask bucket, ...), its stable id in ``method`` (Tables 5 and 6 add ``bucket``), the measured values as columns
(``psnr``, ``ssim``, ``mae`` in %, ``latency_ms``, ``params_m``), and the paper's own spelling in ``*_printed``
columns. ``df.attrs["source"]`` is the table's :class:`TableSource` (table number, dataset, number of test
samples, hardware where stated) and ``df.attrs["label"]`` a one-line description saying these are the paper's.

The paper's quirks are kept, not "fixed" (typos stay in ``*_printed``; odd values stay as printed) and are listed
in :data:`QUIRKS`. The claims the study tests are :data:`CLAIMS`, with the comparisons that decide them in a form
:func:`isnet.study.claims.claim_verdicts` runs.

Why this file is long: it is the paper's eight tables, its quirks and its claims as data, typed once;
splitting the numbers over files would make them harder to check against the paper's text.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import pandas as pd

PAPER = {
    "title": "Image Inpainting Based on Interactive Separation Network and Progressive Reconstruction Algorithm",
    "authors": "Jun Gong, Siyuan Li, Shiyu Chen, Liang Nie, Xin Cheng, Zhiqiang Zhang, Wenxin Yu",
    "venue": "IEEE Access, vol. 10, 2022",
    "doi": "10.1109/ACCESS.2022.3186009",
    "text": "shared/paper/isnet-pra-ieee-access-2022.txt",
    "code": "https://github.com/GuardSkill/Large-Scale-Feature-Inpainting/tree/journal",
}

MEBI = 2 ** 20  # the paper's "M" in parameter counts (Table 7 caption: 'M' equals 2^20)
BUCKETS = ("10-20", "20-30", "30-40", "40-50")  # Tables 5 and 6; the same names as isnet.masks.PAPER_BUCKETS
PAPER_METRICS = ("psnr", "ssim", "mae")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "mae": False, "latency_ms": False}


# ----------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class TableSource:
    """Where a table's numbers come from, as the paper states it (None = not stated)."""

    table: int
    title: str
    dataset: str | None
    n_samples: int | None
    hardware: str | None = None
    note: str = ""

    def label(self) -> str:
        parts = [f"paper Table {self.table}: {self.title}"]
        if self.dataset:
            parts.append(self.dataset)
        parts.append(f"{self.n_samples:,} test samples" if self.n_samples else "number of test samples not stated")
        if self.hardware:
            parts.append(self.hardware)
        return "; ".join(parts)


TABLE_SOURCES: dict[int, TableSource] = {
    1: TableSource(1, "part of the random search over loss weights", "Places2 (implied)", 3000,
                   note="models trained about 3,200 iterations at batch 8 (text, Section III-C)"),
    2: TableSource(2, "loss-function ablation", "Places2 (implied)", 5000,
                   note="each model 'trained 255,000 times' (text, Section III-C)"),
    3: TableSource(3, "prediction latency, one-shot vs PRA", "Places2 test", 10000, "one NVIDIA GTX 1080 Ti",
                   note="PRA dilation kernel 15; latency excludes model initialisation and scoring"),
    4: TableSource(4, "datasets", None, None),
    5: TableSource(5, "Places2 comparison per mask-ratio bucket", "Places2 test, NVIDIA irregular masks [8]",
                   10000, note="only the ISNet columns are the authors' runs; the rest is quoted from the literature"),
    6: TableSource(6, "CelebA comparison per mask-ratio bucket", "CelebA test, NVIDIA irregular masks [8]", 5000,
                   note="only the ISNet columns are the authors' runs"),
    7: TableSource(7, "architecture ablation", "Places2 test", None,
                   note="mask ratios and number of samples not stated; 'M' = 2^20 parameters"),
    8: TableSource(8, "residual blocks per phase", "Places2 test (implied by Section IV-D)", None,
                   hardware="11 GB GPU (limited blocks to 4)", note="mask ratios and number of samples not stated"),
}

# Which columns identify a row of each table (what isnet.report.side_by_side joins on by default).
KEYS: dict[int, tuple[str, ...]] = {1: ("method",), 2: ("method",), 3: ("method",), 4: ("dataset",),
                                    5: ("bucket", "method"), 6: ("bucket", "method"), 7: ("method",),
                                    8: ("method",)}
# The measured columns of each table (what the study's results are compared on).
MEASURES: dict[int, tuple[str, ...]] = {1: ("psnr", "mae"), 2: ("psnr", "mae"), 3: ("latency_ms",),
                                        5: PAPER_METRICS, 6: PAPER_METRICS, 7: PAPER_METRICS, 8: PAPER_METRICS}
# Columns of the tables above that are ours, not the paper's: exact parameter counts of our models.
OURS_COLUMNS = ("params_exact", "params_exact_m")
# Every column of a table that the paper prints a number in (what isnet.report.coverage checks).
PRINTED_COLUMNS: dict[int, tuple[str, ...]] = {
    1: ("l1", "adversarial", "style", "perceptual", "fm", "psnr", "mae"),
    2: ("l1", "adversarial", "style", "perceptual", "fm", "psnr", "mae"),
    3: ("latency_ms",), 5: PAPER_METRICS, 6: PAPER_METRICS, 7: (*PAPER_METRICS, "params_m"), 8: ("blocks", *PAPER_METRICS, "params_m"),
}


def _frame(table: int, rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df.attrs["source"] = asdict(TABLE_SOURCES[table])
    df.attrs["label"] = TABLE_SOURCES[table].label()
    df.attrs["paper_table"] = table
    return df


# ----------------------------------------------------------------------------------------- Tables 1 and 2
# The paper's column order is L1, L_D, L_style, L_perc, L_FM (not Eq. (4)'s L1, L_D, L_perc, L_style, L_FM).
WEIGHT_COLUMNS = ("l1", "adversarial", "style", "perceptual", "fm")

_TABLE1 = [  # L1, L_D, L_style, L_perc, L_FM, PSNR, MAE(%)
    (48.081212, 5.412144, 15.96878, 40.149662, 0.118075, 24.06, 4.445),
    (0.604847, 0.202847, 44.101921, 0.387274, 0.488302, 23.68, 4.583),
    (24.159013, 66.923958, 0.103212, 6.038855, 206.568582, 22.65, 5.265),
    (13.484269, 30.525771, 1.034876, 155.314466, 32.331865, 23.13, 5.269),
    (7.700032, 3.438013, 1.986786, 22.0823, 0.31213, 23.60, 4.937),
    (3.229381, 12.299439, 6.084766, 18.260382, 14.062116, 23.45, 4.880),
    (63.075208, 0.206318, 144.371788, 1.288317, 6.51374, 23.88, 4.501),
    (1.110633, 15.054847, 76.107149, 0.145567, 0.24907, 21.99, 5.673),
    (8.017214, 1.670086, 0.491773, 95.361352, 70.59277, 22.92, 5.290),
    (1.74567, 49.057089, 1.153775, 1.412379, 0.189158, 23.01, 4.974),
]

_TABLE2 = [
    (1, 1, 0, 0, 0, 24.04, 0.109),
    (1, 1, 1, 0, 0, 24.14, 0.102),
    (1, 1, 1, 1, 0, 24.45, 0.101),
    (1, 1, 1, 1, 1, 24.28, 0.113),
    (1, 3, 1, 1, 0, 24.30, 0.105),
    (1, 10, 1, 1, 0, 24.06, 0.108),
    (1, 3, 3, 1, 0, 24.31, 0.101),
]
_TABLE2_NOTES = {5: "model of the PRA experiment (Figure 7, text after Table 3)", 7: "the weights of Eq. (5)"}


def _weights_table(table: int, values: list[tuple], notes: dict[int, str]) -> pd.DataFrame:
    rows = []
    for i, v in enumerate(values, start=1):
        rows.append({"method": f"table{table}-row{i}", "row": i, **dict(zip(WEIGHT_COLUMNS, v[:5])),
                     "psnr": v[5], "mae": v[6], "note": notes.get(i, "")})
    return _frame(table, rows)


def table1() -> pd.DataFrame:
    """Table 1: 10 of the random-search models: loss weights, PSNR, MAE(%) (3,000 test samples)."""
    return _weights_table(1, _TABLE1, {})


def table2() -> pd.DataFrame:
    """Table 2: the loss ablation, 7 weight settings, PSNR and "MAE(%)" (5,000 samples; see QUIRKS t2-mae-scale)."""
    return _weights_table(2, _TABLE2, _TABLE2_NOTES)


# ----------------------------------------------------------------------------------------- Table 3
def table3() -> pd.DataFrame:
    """Table 3: mean prediction latency, ms per image, 1080 Ti, 10,000 Places2 test samples."""
    return _frame(3, [
        {"method": "isnet", "method_printed": "ISNet", "latency_ms": 52.69},
        {"method": "isnet-pra", "method_printed": "ISNet+PRA", "latency_ms": 85.46},
    ])


# ----------------------------------------------------------------------------------------- Table 4
def table4() -> pd.DataFrame:
    """Table 4: the datasets (None where the paper prints '-')."""
    return _frame(4, [
        {"dataset": "places2", "dataset_printed": "Places2", "objects": "real-world occurrences",
         "train": 1_803_460, "val": None, "test": 36_000,
         "note": "comprising a large and diverse list of the types of environments encountered in the world."},
        {"dataset": "celeba", "dataset_printed": "CelebA", "objects": "celebrity facial",
         "train": 162_770, "val": 19_867, "test": 19_962,
         "note": "comprising human face attributes including different genders, skin tones, hair colors, "
                 "and w/o sunglasses, etc."},
    ])


# ----------------------------------------------------------------------------------------- Tables 5 and 6
@dataclass(frozen=True)
class Method:
    """A column of Tables 5/6: our id, the header as printed, its citation, whether it is the authors' run."""

    id: str
    printed: str
    reference: str
    authors_own: bool


METHODS: dict[str, Method] = {m.id: m for m in [
    Method("ca", "CA [9]", "[9] Yu et al., contextual attention, CVPR 2018", False),
    Method("glcic", "GLCIC [7]", "[7] Iizuka et al., SIGGRAPH 2017", False),
    Method("pconv", "PConv [8]", "[8] Liu et al., partial convolutions, ECCV 2018", False),
    Method("edgeconnect", "EdgeConnect [12]", "[12] Nazeri et al., 2019", False),
    Method("med", "MED [27]", "[27] Liu et al., mutual encoder-decoder, ECCV 2020", False),
    Method("rfr", "RFR [29]", "[29] Li et al., recurrent feature reasoning, CVPR 2020", False),
    Method("wavefill", "WaveFil [23]", "[23] Yu et al., WaveFill, ICCV 2021", False),
    Method("ctsdg", "CTSDG [28]", "[28] Guo et al., CTSDG, ICCV 2021", False),
    Method("isnet-eq4", "ISNet(Eq.(4)", "this paper, loss of Eq. (4)", True),
    Method("isnet-eq5", "ISNet(Eq.(5))", "this paper, loss of Eq. (5)", True),
    Method("isnet-eq5-pra", "ISNet(Eq.(5))+PRA", "this paper, Eq. (5) + PRA", True),
]}

# Table 5, Places2: bucket -> metric -> the 11 columns in the paper's order.
_TABLE5_METHODS = ("ca", "glcic", "pconv", "edgeconnect", "med", "rfr", "wavefill", "ctsdg",
                   "isnet-eq4", "isnet-eq5", "isnet-eq5-pra")
_TABLE5 = {
    "10-20": {"psnr": (24.36, 23.49, 28.02, 27.95, 28.48, 27.75, 28.93, 30.02, 31.41, 31.95, 31.95),
              "ssim": (0.893, 0.862, 0.869, 0.920, 0.934, 0.929, 0.948, 0.950, 0.960, 0.962, 0.962),
              "mae": (2.05, 2.66, 1.14, 1.31, 1.22, 1.27, 1.19, 1.12, 0.63, 0.60, 0.60)},
    "20-30": {"psnr": (21.19, 20.45, 24.9, 24.92, 25.26, 25.12, 26.28, 26.67, 26.88, 27.51, 27.49),
              "ssim": (0.815, 0.771, 0.777, 0.861, 0.902, 0.878, 0.907, 0.911, 0.912, 0.918, 0.918),
              "mae": (3.52, 4.7, 1.98, 2.26, 2.12, 2.19, 2.01, 1.88, 1.38, 1.30, 1.30)},
    "30-40": {"psnr": (19.13, 18.5, 22.45, 22.84, 23.15, 23.13, 23.67, 23.77, 23.90, 24.59, 24.55),
              "ssim": (0.739, 0.686, 0.685, 0.799, 0.803, 0.809, 0.837, 0.853, 0.854, 0.864, 0.865),
              "mae": (5.07, 6.78, 3.02, 3.25, 3.13, 3.11, 2.65, 2.42, 2.34, 2.18, 2.19)},
    "40-50": {"psnr": (17.75, 17.17, 20.86, 21.16, 21.17, 21.22, 21.29, 21.31, 21.34, 22.01, 21.92),
              "ssim": (0.662, 0.603, 0.589, 0.731, 0.749, 0.750, 0.763, 0.775, 0.778, 0.794, 0.796),
              "mae": (6.62, 8.85, 4.11, 4.39, 3.97, 3.89, 3.83, 3.75, 3.74, 3.49, 3.54)},
}

# Table 6, CelebA: only 5 columns, and no ISNet(Eq.(5)) without PRA.
_TABLE6_METHODS = ("ca", "glcic", "edgeconnect", "isnet-eq4", "isnet-eq5-pra")
_TABLE6_PRINTED = {"isnet-eq4": "ISNet(Eq.(4))"}  # Table 6 closes the parenthesis that Table 5 leaves open
_TABLE6 = {
    "10-20": {"psnr": (25.32, 24.09, 33.51, 37.31, 38.95),
              "ssim": (0.888, 0.865, 0.961, 0.980, 0.984),
              "mae": (2.48, 2.53, 0.76, 0.33, 0.26)},
    "20-30": {"psnr": (22.09, 20.71, 30.02, 32.13, 33.39),
              "ssim": (0.819, 0.773, 0.928, 0.954, 0.963),
              "mae": (3.98, 4.67, 1.38, 0.75, 0.63)},
    "30-40": {"psnr": (19.94, 18.50, 27.39, 28.69, 29.75),
              "ssim": (0.750, 0.689, 0.890, 0.921, 0.934),
              "mae": (5.64, 6.95, 2.13, 1.3, 1.12)},
    "40-50": {"psnr": (18.41, 17.09, 25.28, 25.37, 26.15),
              "ssim": (0.678, 0.609, 0.846, 0.869, 0.888),
              "mae": (7.35, 9.18, 3.03, 2.26, 2.04)},
}
_TABLE6_MAE_PRINTED = {"40-50": "L1(%)"}  # the last block's row label; the others print "MAE(%)"


def _bucket_table(table: int, methods: tuple[str, ...], values: dict, printed: dict[str, str],
                  mae_printed: dict[str, str]) -> pd.DataFrame:
    rows = []
    for bucket, by_metric in values.items():
        for j, mid in enumerate(methods):
            m = METHODS[mid]
            rows.append({"bucket": bucket, "method": mid, "psnr": by_metric["psnr"][j],
                         "ssim": by_metric["ssim"][j], "mae": by_metric["mae"][j],
                         "method_printed": printed.get(mid, m.printed), "reference": m.reference,
                         "authors_own": m.authors_own, "bucket_printed": f"{bucket}%",
                         "mae_printed": mae_printed.get(bucket, "MAE(%)")})
    return _frame(table, rows)


def table5() -> pd.DataFrame:
    """Table 5, Places2: 4 buckets × 11 methods, PSNR / SSIM / MAE(%); ``authors_own`` marks the ISNet columns."""
    return _bucket_table(5, _TABLE5_METHODS, _TABLE5, {}, {})


def table6() -> pd.DataFrame:
    """Table 6, CelebA: 4 buckets × 5 methods, PSNR / SSIM / MAE(%) (printed "L1(%)" in the 40–50 % block)."""
    return _bucket_table(6, _TABLE6_METHODS, _TABLE6, _TABLE6_PRINTED, _TABLE6_MAE_PRINTED)


# ----------------------------------------------------------------------------------------- Tables 7 and 8
# Exact parameter counts of our re-implementation, equal to the authors' code (docs/authors-code.md §3; asserted by
# tests/test_models.py and tests/test_paper.py). ``generator`` is the isnet.models.GENERATORS name.
PARAMETER_COUNTS: dict[str, int] = {
    "isnet-base": 16_516_995,
    "isnet-base-ff": 14_610_083,
    "isnet": 24_774_307,
    "unet": 24_403_715,
    "isnet-b1": 19_908_259,
    "isnet-b2": 21_530_275,
    "isnet-b3": 23_152_291,
    "isnet-b4": 24_774_307,
}
GENERATOR_OPTIONS: dict[str, tuple[str, dict]] = {  # method id -> (build_generator name, options)
    "isnet-base": ("isnet-base", {}),
    "isnet-base-ff": ("isnet-base-ff", {}),
    "isnet": ("isnet", {"blocks": 4}),
    "unet": ("unet", {}),
    **{f"isnet-b{b}": ("isnet", {"blocks": b}) for b in (1, 2, 3, 4)},
}


def _with_counts(row: dict) -> dict:
    exact = PARAMETER_COUNTS[row["method"]]
    return row | {"params_exact": exact, "params_exact_m": round(exact / MEBI, 2)}


def table7() -> pd.DataFrame:
    """Table 7: base / base+FF / ISNet / UNet-like; parameters in M = 2^20, our exact counts beside."""
    rows = [
        {"method": "isnet-base", "method_printed": "Base Model", "psnr": 27.91, "ssim": 0.880, "mae": 2.12,
         "params_m": 15.75},
        {"method": "isnet-base-ff", "method_printed": "Base Model+FF", "psnr": 28.28, "ssim": 0.886, "mae": 2.06,
         "params_m": 13.93},
        {"method": "isnet", "method_printed": "ISNet", "psnr": 28.53, "ssim": 0.885, "mae": 1.91,
         "params_m": 23.63},
        {"method": "unet", "method_printed": "UNet-like Model", "psnr": 25.99, "ssim": 0.851, "mae": 2.51,
         "params_m": 23.27},
    ]
    return _frame(7, [_with_counts(r) for r in rows])


def table8() -> pd.DataFrame:
    """Table 8: ISNet with 1–4 residual blocks per branch per phase; parameters in M = 2^20, exact beside."""
    values = {1: (28.02, 0.884, 2.05, 18.99), 2: (28.47, 0.884, 1.97, 20.53),
              3: (28.47, 0.884, 1.97, 22.08), 4: (28.53, 0.885, 1.91, 23.63)}
    rows = [{"method": f"isnet-b{b}", "blocks": b, "psnr": p, "ssim": s, "mae": m, "params_m": pm}
            for b, (p, s, m, pm) in values.items()]
    return _frame(8, [_with_counts(r) for r in rows])


TABLE_BUILDERS: dict[int, Callable[[], pd.DataFrame]] = {1: table1, 2: table2, 3: table3, 4: table4, 5: table5,
                                                 6: table6, 7: table7, 8: table8}


def table(number: int) -> pd.DataFrame:
    """Table ``number`` (1–8) of the paper."""
    if number not in TABLE_BUILDERS:
        raise ValueError(f"the paper has Tables 1–8; got {number!r}")
    return TABLE_BUILDERS[number]()


# ----------------------------------------------------------------------------------------- quirks
@dataclass(frozen=True)
class Quirk:
    """Something odd in the paper, what it is, and how this project handles it (never by silently fixing it)."""

    id: str
    table: int | None  # None: the text, an equation, Algorithm 1 or a figure
    what: str
    handling: str


QUIRKS: list[Quirk] = [
    Quirk("t1-t2-column-order", 1,
          "Tables 1 and 2 order the weight columns L1, L_D, L_style, L_perc, L_FM, while Eqs. (4)/(5) list "
          "L1, L_D, L_perc, L_style(, L_FM).",
          "columns are named (l1, adversarial, style, perceptual, fm), never read by position."),
    Quirk("t1-iterations", 1,
          "The search models are 'iterated nearly 3200 times with nearly 256,000 samples (batch size is set to "
          "8)', but 3,200 × 8 = 25,600; Table 2's models are 'trained 255,000 times'.",
          "noted in TABLE_SOURCES; the training length of each table is not inferred from it."),
    Quirk("sample-counts", None,
          "Every table is scored on a different number of samples: Table 1 on 3,000 test samples, Table 2 on 5,000 "
          "'inpainting samples', Tables 3 and 5 on 10,000 Places2 test samples, Table 6 on 5,000 CelebA samples; "
          "Tables 7 and 8 state neither the number of samples nor the mask ratios.",
          "kept per table in TABLE_SOURCES[n].n_samples (None = not stated)."),
    Quirk("t2-mae-scale", 2,
          "Table 2's 'MAE(%)' values (0.101–0.113) are on a different scale from Table 1's (4.445–5.673) and "
          "Table 5's (0.60–3.54 %) under the same label, although its PSNRs (24.04–24.45) are close to "
          "Table 1's.",
          "kept as printed, not rescaled; the report shows them beside ours but no claim rests on them."),
    Quirk("t2-eq5-not-best", 2,
          "Eq. (5)'s weights are Table 2's row 7 (1, 3, 3, 1, 0; PSNR 24.31), but row 3 (1, 1, 1, 1, 0) scores "
          "higher (24.45); the text says Eq. (5) was chosen for the visual result.",
          "row 7 is marked 'the weights of Eq. (5)' in table2().note; no claim says Eq. (5) maximises PSNR."),
    Quirk("pra-model", 2,
          "The PRA experiment uses 'the model that is optimized by the objective function of the 5th row in "
          "Table 2' (1, 3, 1, 1, 0), which is not Eq. (5) (row 7), yet Table 5's column is 'ISNet(Eq.(5))+PRA'.",
          "row 5 is marked in table2().note; the study runs PRA on its Eq. (5) model and says so."),
    Quirk("t3-kernel", 3,
          "Table 3's latency uses a dilation kernel of 15 (text), Figure 6 one of 9; the authors' code uses 15.",
          "isnet.pra defaults to 15 (CODE_KERNEL) and keeps 9 as PAPER_FIGURE6_KERNEL."),
    Quirk("t3-hardware", 3,
          "Latency was measured on one GTX 1080 Ti and excludes model initialisation and scoring.",
          "absolute milliseconds are not comparable across hardware; the report compares the PRA/one-shot ratio "
          "(85.46 / 52.69 = 1.62)."),
    Quirk("t4-places2-split", 4,
          "Table 4 gives Places2 'val_set' as '-' and 'test_set' as 36,000, whereas Section IV-D says Places2 has "
          "'more than 300,000 images for testing' (and the public Places365 validation set has 36,500 images).",
          "table4() stores val=None and test=36000 as printed."),
    Quirk("t5-header-typos", 5,
          "Table 5's header reads 'Masl\\tk Ratio' (the text layer splits 'Mask Ratio'), 'WaveFil [23]' (WaveFill), "
          "and 'ISNet(Eq.(4)' without a closing parenthesis; the text also writes 'ISNet(Eq.(5)'.",
          "the printed headers stay in method_printed; stable ids (e.g. 'isnet-eq4') are the keys."),
    Quirk("t5-caption-refs", 5,
          "Table 5's caption says the literature numbers are 'taken from the literatures [8], [12] [39], [40]', "
          "but the columns cite [9], [7], [8], [12], [27], [29], [23], [28]; [39] and [40] are not columns. "
          "Those numbers come from other papers' own test sets and masks.",
          "authors_own=False marks them; the study does not re-run them and claims against them are not tested."),
    Quirk("precision", None,
          "Printed precision varies: 24.9, 4.7 and 18.5 in Table 5, 1.3 in Table 6, 22.0823 or 0.31213 in Table 1 "
          "where neighbours have more digits.",
          "stored as floats equal to the printed decimals; the report prints the shortest exact form."),
    Quirk("t5-pra-small-holes", 5,
          "On 10–20 % holes ISNet(Eq.(5)) and ISNet(Eq.(5))+PRA are identical (31.95 / 0.962 / 0.60). That follows "
          "from the stop rule (one pass when the hole ratio is at most 0.2), but Algorithm 1 writes 'ratio ≥ 0.2' "
          "while the code uses '> 0.2', which differ for a hole of exactly 20 %.",
          "claim T5-pra-small tests equality; isnet.pra offers both stop tests (strict=True is the code's)."),
    Quirk("t5-pra-large-holes", 5,
          "On 40–50 % holes PRA lowers PSNR (22.01 → 21.92) and raises MAE (3.49 → 3.54) while SSIM rises "
          "(0.794 → 0.796); the text calls this 'slight degeneration of quantitative score' but also says the "
          "columns 'demonstrate the effectiveness' of PRA.",
          "claim T5-pra-large tests 'small change', not improvement."),
    Quirk("t6-no-eq5-column", 6,
          "Table 6 (CelebA) has no ISNet(Eq.(5)) column without PRA, yet the text compares 'ISNet(Eq.(5)' and "
          "'ISNet(Eq.(5))+PRA' 'of Tables 5 and 6'.",
          "table6() has the 5 printed columns only; the PRA claims rest on Table 5."),
    Quirk("t6-l1-label", 6,
          "Table 6 writes 'L1(%)' instead of 'MAE(%)' as the row label of its last (40–50 %) block.",
          "read as MAE (the paper calls MAE 'L1 distances'); mae_printed keeps 'L1(%)'."),
    Quirk("t6-layout", 6,
          "In the text layer Table 6 prints each bucket label on the SSIM line (the middle of its three lines), "
          "not on the PSNR line as Table 5 does, and its header has an empty column after 'Mask Ratio'.",
          "buckets are assigned by block of three lines (tests parse it that way)."),
    Quirk("t7-params", 7,
          "Base Model+FF (13.93M) has fewer parameters than the Base Model (15.75M): the text says channels were "
          "reduced when FF was added. In the authors' code 'base' and '+FF' also use LeakyReLU and bilinear "
          "upsampling and '+FF' narrows phase 4 to 256 channels, so the ablation changes several factors at once.",
          "params_exact beside params_m (M = 2^20) match to 2 decimals; our one-factor variants (isnet-no-ff, "
          "isnet-no-subpixel, isnet-clean-base) are separate rows of ours, not the paper's."),
    Quirk("t7-ssim", 7,
          "Base Model+FF has a higher SSIM (0.886) than ISNet (0.885), so 'all the techniques used in ISNet can "
          "improve the quantitative score' holds for PSNR and MAE but not SSIM.",
          "claim T7-ordering is stated and tested on PSNR, as the paper's numbers support."),
    Quirk("t7-t8-same-row", 7,
          "Table 7's ISNet row equals Table 8's 4-block row (28.53 / 0.885 / 1.91 / 23.63M), and 28.53 dB matches no "
          "bucket of Table 5 (22.01–31.95): Tables 7–8 use an unstated mask distribution.",
          "the study evaluates Tables 7–8 over all paper buckets pooled and says so in the caption."),
    Quirk("t8-duplicate-rows", 8,
          "Table 8's rows for 2 and 3 blocks are identical (28.47 / 0.884 / 1.97); SSIM is 0.884 for 1–3 blocks.",
          "kept as printed; claim T8-blocks tests 'more blocks ≥ fewer', with a strict test only for 4 vs 1."),
    Quirk("t8-units", 8,
          "Table 8's 'Parameters' use M = 2^20 too, though only Table 7's caption says so.",
          "params_exact confirms it (e.g. 19,908,259 / 2^20 = 18.99)."),
    Quirk("alg1-literal", None,
          "Algorithm 1 read literally: the first prediction happens inside 'while ratio ≥ 0.2', so a small hole "
          "returns I_gt untouched; ratio and i are never updated; and line 8 composites with I_gt ⊙ M for the "
          "dilated M, which would paste ground truth into the ring that was a hole.",
          "isnet.pra follows the authors' code: pass 0 always runs, later passes composite with the previous "
          "composite (no ground truth inside the hole)."),
    Quirk("equation-typos", None,
          "Eq. (2) drops φ_i on the prediction side (G((I_pred))); Eq. (8)'s denominator has unbalanced "
          "parentheses; the output mapping is said to be 'formalized as Eq.(1)', which is the perceptual loss.",
          "the losses and SSIM follow the standard definitions (isnet.losses, isnet.metrics)."),
]


# ----------------------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Comparison:
    """One paired comparison of ``a`` against ``b`` on ``metric`` (pairs restricted to ``bucket`` if given).

    kind: "better" (a better than b: the CI of the oriented difference excludes 0 on the positive side),
    "not_worse" (a at least as good as b, within ``margin``), or "equal" (|a − b| within ``margin``).
    Differences are oriented so that positive means "a is better" (for MAE, lower is better).
    """

    a: str
    b: str
    metric: str = "psnr"
    kind: str = "better"
    bucket: str | None = None
    margin: float = 0.0


@dataclass(frozen=True)
class Claim:
    """A claim of the paper the study checks: what it says, which table it rests on, and how we test it.

    Whether a profile can test it at all (its seeds and pairs, the sanity gates) is decided by
    ``isnet.report.claim_verdicts`` and the profile's ``resolves`` list; the rest is "not tested at this scale".

    ``results`` names the entry of the results dict (isnet.report.claim_verdicts) holding the per-pair rows,
    whose ``method`` values are the ids in ``comparisons``.

    ``sentence`` is the paper's own sentence the claim rests on, shown beside the id wherever the claim appears;
    ``where`` says where it is (section, table or algorithm). ``verbatim``: the sentence is copied from the
    paper's text exactly (``tests/test_report.py`` finds it there); False marks a close paraphrase (of an
    algorithm, or of a sentence whose symbols the text file prints as LaTeX).
    """

    id: str
    text: str
    table: int
    results: str
    test: str
    comparisons: tuple[Comparison, ...]
    sentence: str = ""
    where: str = ""
    verbatim: bool = True


CLAIMS: list[Claim] = [
    Claim("T7-ordering",
          "Each design step improves the score: base < base+FF < ISNet in PSNR.", 7, "table7",
          "paired bootstrap of PSNR differences over the same evaluation pairs: base+FF − base > 0 and "
          "ISNet − base+FF > 0.",
          (Comparison("isnet-base-ff", "isnet-base"), Comparison("isnet", "isnet-base-ff")),
          sentence=('According to the table, it can be observed that all the techniques used in ISNet can improve the '
                    'quantitative score.'),
          where='Section IV-D, on Table 7'),
    Claim("T7-vs-unet",
          "ISNet-style models beat the parameter-matched UNet-like model, regardless of parameter count.", 7,
          "table7",
          "PSNR differences ISNet, base and base+FF minus UNet-like, each > 0.",
          (Comparison("isnet", "unet"), Comparison("isnet-base", "unet"), Comparison("isnet-base-ff", "unet")),
          sentence=('Regardless of the number of parameters, it can be concluded that the ISNets-style models have better'
                    ' quantitative performance than the UNet-like model.'),
          where='Section IV-D, on Table 7'),
    Claim("T7-vs-unet-resize",
          "As T7-vs-unet, against our UNet-like with resize-convolutions instead of the authors' transposed convs "
          "(a deviation: theirs prints a pixel grid at the CPU ablation scale).", 7, "table7",
          "PSNR differences ISNet, base and base+FF minus the resize-convolution UNet-like, each > 0.",
          (Comparison("isnet", "unet-resize"), Comparison("isnet-base", "unet-resize"),
           Comparison("isnet-base-ff", "unet-resize")),
          sentence=('Regardless of the number of parameters, it can be concluded that the ISNets-style models have better'
                    ' quantitative performance than the UNet-like model.'),
          where='Section IV-D, on Table 7 (our UNet-like variant)'),
    Claim("T8-blocks",
          "More residual blocks per phase give an equal or better score (Table 8).", 8, "table8",
          "4 blocks − 1 block > 0 in PSNR, and no step 1→2→3→4 significantly worse (beyond 0.05 dB).",
          (Comparison("isnet-b4", "isnet-b1"),
           Comparison("isnet-b2", "isnet-b1", kind="not_worse", margin=0.05),
           Comparison("isnet-b3", "isnet-b2", kind="not_worse", margin=0.05),
           Comparison("isnet-b4", "isnet-b3", kind="not_worse", margin=0.05)),
          sentence=('Apart from validating the effectiveness of applying residual blocks, these results also provide a '
                    'reference for the network deployments requiring diverse RAM resources.'),
          where='Section IV-D, on Table 8'),
    Claim("T5-eq5-vs-eq4",
          "The proposed loss, Eq. (5), gives better results than EdgeConnect's Eq. (4).", 5, "table5",
          "PSNR difference ISNet(Eq.5) − ISNet(Eq.4) over all buckets' pairs > 0.",
          (Comparison("isnet-eq5", "isnet-eq4"),),
          sentence=("According to the column 'ISNet(Eq.(4))' and column 'ISNet(Eq.(5))' of Table 5, the proposed loss "
                    'function (Equation 5) achieves better inpainting performance than using Equation 4 as the objective '
                    'function.'),
          where='Section IV-B, on Table 5'),
    Claim("T5-pra-small",
          "PRA leaves 10–20 % holes unchanged (Table 5: identical numbers).", 5, "table5",
          "PSNR difference PRA − one-shot on 10–20 % pairs within ±0.01 dB, judged only if PRA ran more than one "
          "pass on average there (with one pass it is the one-shot model by construction: not tested).",
          (Comparison("isnet-eq5-pra", "isnet-eq5", kind="equal", bucket="10-20", margin=0.01),),
          sentence=('Algorithm 1 re-predicts only while the hole ratio is at least 0.2, so a 10-20 % hole is filled in '
                    'one shot: Table 5 prints the same 10-20 % scores for ISNet(Eq.(5)) and ISNet(Eq.(5))+PRA.'),
          where='Algorithm 1 (line 5) and Table 5', verbatim=False),
    Claim("T5-pra-large",
          "On larger holes PRA changes the scores only slightly (Table 5: −0.02 to −0.09 dB).", 5, "table5",
          "PSNR difference PRA − one-shot within ±0.2 dB in each of the 20–30, 30–40 and 40–50 % buckets where PRA "
          "ran more than one pass on average.",
          tuple(Comparison("isnet-eq5-pra", "isnet-eq5", kind="equal", bucket=b, margin=0.2)
                for b in ("20-30", "30-40", "40-50")),
          sentence=('Due to the PRA can improve the visual performance of inpainting (see in Figure 7) with slight '
                    'degeneration of quantitative score, we consider the ISNet+PRA as our main proposal.'),
          where='Section IV-B, on Tables 5 and 6'),
    Claim("T2-terms",
          "Adding the style and perceptual terms raises the score (Table 2, rows 1 → 2 → 3).", 2, "table2",
          "PSNR differences row 2 − row 1 > 0 and row 3 − row 2 > 0.",
          (Comparison("table2-row2", "table2-row1"), Comparison("table2-row3", "table2-row2")),
          sentence=('In the first 4 rows [of Table 2], it can be clearly seen that L_l1, L_D, L_style and L_perc loss '
                    'term benefit the quantitative score.'),
          where='Section III-C, on Table 2', verbatim=False),
]


def claim(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise ValueError(f"unknown claim {claim_id!r}; choose one of {[c.id for c in CLAIMS]}")


# Our variants that stand in for a row of the paper (a deviation named by its claim): the paper's number for them is
# that row's.
PAPER_ROW = {"unet-resize": "unet"}


def paper_value(table_number: int, method: str, metric: str, bucket: str | None = None) -> float | None:
    """The paper's value for ``method`` (and ``bucket`` in Tables 5/6), or None when the paper has none; a variant
    of ours in ``PAPER_ROW`` gets the row it stands in for."""
    method = PAPER_ROW.get(method, method)
    df = table(table_number)
    if metric not in df.columns:
        return None
    rows = df[df["method"] == method]
    if bucket is not None and "bucket" in df.columns:
        rows = rows[rows["bucket"] == bucket]
    if rows.empty or rows[metric].isna().all():
        return None
    return float(rows[metric].mean())  # several buckets: the unweighted mean over buckets
