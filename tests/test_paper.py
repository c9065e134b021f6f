"""isnet.study.paper against the paper's own text: every number of Tables 1–8 is re-read from the text file and compared.

The text lives next to the repository at ../shared/paper/ (always present in CI). The parsing here is
independent of isnet.study.paper: it reads the tab-separated rows of each table block as printed.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from isnet.study import paper as P

PAPER_TEXT = Path(os.environ.get("ISNET_PAPER_TEXT", Path(__file__).resolve().parents[1].parent / "shared" / "paper"
                                  / "isnet-pra-ieee-access-2022.txt"))


@pytest.fixture(scope="module")
def text() -> list[str]:
    if not PAPER_TEXT.exists():
        msg = (f"the paper's text is missing: expected {PAPER_TEXT} (the shared folder next to the repository, or "
               "set ISNET_PAPER_TEXT); the transcription checks need it")
        if os.environ.get("CI") == "true":  # always present in CI: missing there is a failure
            pytest.fail(msg)
        pytest.skip(msg)  # a user's clone has no copy of the paper (we do not redistribute its text)
    return PAPER_TEXT.read_text(encoding="utf-8").splitlines()


def block(lines: list[str], table: int) -> list[list[str]]:
    """The tab-separated rows after 'TABLE n.' up to the first blank line after them (header included)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"TABLE {table}."))
    rows, i = [], start + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines) and lines[i].strip():
        rows.append(lines[i].split("\t"))
        i += 1
    return rows


def num(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("M"))


# ----------------------------------------------------------------------------------------- Tables 1 and 2
@pytest.mark.parametrize("number, n_rows", [(1, 10), (2, 7)])
def test_weight_tables_match_text(text, number, n_rows):
    rows = block(text, number)
    header, data = rows[0], rows[1:]
    assert "style" in header[2] and "perc" in header[3] and "FM" in header[4], "paper order L1, L_D, style, perc, FM"
    df = P.table(number)
    assert len(data) == len(df) == n_rows
    cols = ["l1", "adversarial", "style", "perceptual", "fm", "psnr", "mae"]
    for printed, (_, row) in zip(data, df.iterrows()):
        assert [num(c) for c in printed] == [row[c] for c in cols]


def test_table2_marks_eq5_and_pra_rows():
    t2 = P.table2()
    eq5 = t2[t2["note"].str.contains("Eq. \\(5\\)")]
    # Eq. (5): L1 + 3(-L_D) + L_perc + 3 L_style, FM absent
    assert eq5[["l1", "adversarial", "style", "perceptual", "fm"]].values.tolist() == [[1, 3, 3, 1, 0]]
    assert t2.loc[t2["row"] == 5, "note"].str.contains("PRA").all()


def test_table2_mae_scale_quirk_kept():
    assert P.table2()["mae"].max() < 0.2 < P.table1()["mae"].min()
    assert "t2-mae-scale" in {q.id for q in P.QUIRKS}


# ----------------------------------------------------------------------------------------- Tables 3 and 4
def test_table3_latency(text):
    header, row = block(text, 3)
    assert header[1:] == ["ISNet", "ISNet+PRA"]
    t3 = P.table3()
    assert t3["latency_ms"].tolist() == [num(c) for c in row[1:]] == [52.69, 85.46]
    assert t3["method_printed"].tolist() == header[1:]
    src = P.TABLE_SOURCES[3]
    assert src.n_samples == 10000 and "1080" in src.hardware and "Places2" in src.dataset
    assert "1080TI" in next(line for line in text if line.startswith("TABLE 3."))


def test_table4_datasets(text):
    rows = {r[0]: r[1:] for r in block(text, 4)}
    t4 = P.table4().set_index("dataset_printed")
    places, celeba = (rows["training_set val_set test_set"][i].split() for i in (0, 1))
    assert places == ["1,803,460", "-", "36,000"]
    assert [t4.loc["Places2", "train"], t4.loc["Places2", "test"]] == [num(places[0]), num(places[2])]
    assert t4.loc["Places2", "val"] is None or t4["val"].isna()["Places2"]
    assert [t4.loc["CelebA", c] for c in ("train", "val", "test")] == [num(c) for c in celeba]
    assert t4.loc["CelebA", "objects"] == rows["Objects"][1]


# ----------------------------------------------------------------------------------------- Tables 5 and 6
def parse_bucket_table(rows: list[list[str]]) -> tuple[list[str], dict[tuple[str, str], list[float]], dict]:
    """Header method names and {(bucket, metric label): values}, assigning buckets per block of three lines
    (Table 5 puts the bucket on the PSNR line, Table 6 on the SSIM line)."""
    header = rows[0][2:]  # Table 5: 'Masl', 'k Ratio', ...; Table 6: 'Mask Ratio', '', ...
    values, labels = {}, {}
    data = rows[1:]
    assert len(data) % 3 == 0
    for b in range(0, len(data), 3):
        trio = data[b:b + 3]
        bucket = next(r[0] for r in trio if r[0]).rstrip("%")
        for r in trio:
            metric = {"PSNR": "psnr", "SSIM": "ssim", "MAE(%)": "mae", "L1(%)": "mae"}[r[1]]
            values[(bucket, metric)] = [float(c) for c in r[2:]]
            labels[(bucket, metric)] = r[1]
    return header, values, labels


def test_table5_every_number(text):
    rows = block(text, 5)
    assert rows[0][:2] == ["Masl", "k Ratio"], "the text layer's split header (QUIRKS t5-header-typos)"
    header, values, _ = parse_bucket_table(rows)
    t5 = P.table5()
    methods = list(dict.fromkeys(t5["method"]))
    assert len(header) == len(methods) == 11
    assert t5.drop_duplicates("method")["method_printed"].tolist() == header  # incl. 'ISNet(Eq.(4)' and 'WaveFil'
    assert "ISNet(Eq.(4)" in header and "WaveFil [23]" in header
    assert len(values) == 12 and len(t5) == 44
    for (bucket, metric), printed in values.items():
        ours = t5[t5["bucket"] == bucket].set_index("method").loc[methods, metric].tolist()
        assert ours == printed, (bucket, metric)
    own = t5.drop_duplicates("method").set_index("method")["authors_own"]
    assert own[own].index.tolist() == ["isnet-eq4", "isnet-eq5", "isnet-eq5-pra"]


def test_table6_every_number_and_l1_label(text):
    rows = block(text, 6)
    assert rows[0][0] == "Mask Ratio" and rows[0][1] == ""
    header, values, labels = parse_bucket_table(rows)
    t6 = P.table6()
    methods = list(dict.fromkeys(t6["method"]))
    assert t6.drop_duplicates("method")["method_printed"].tolist() == header
    assert "isnet-eq5" not in methods, "Table 6 has no ISNet(Eq.(5)) column without PRA"
    for (bucket, metric), printed in values.items():
        assert t6[t6["bucket"] == bucket].set_index("method").loc[methods, metric].tolist() == printed
    assert labels[("40-50", "mae")] == "L1(%)"
    printed_labels = t6.drop_duplicates("bucket").set_index("bucket")["mae_printed"]
    assert printed_labels["40-50"] == "L1(%)" and printed_labels["10-20"] == "MAE(%)"
    # the bucket label sits on the SSIM (middle) line in Table 6
    assert rows[2][0] == "10-20%" and rows[1][0] == ""


def test_table5_caption_facts(text):
    caption = next(line for line in text if line.startswith("TABLE 5."))
    assert "10,000 test samples" in caption and P.TABLE_SOURCES[5].n_samples == 10000
    assert "[39], [40]" in caption  # cited, but not columns (QUIRKS t5-caption-refs)
    caption6 = next(line for line in text if line.startswith("TABLE 6."))
    assert "5,000 samples" in caption6 and P.TABLE_SOURCES[6].n_samples == 5000


# ----------------------------------------------------------------------------------------- Tables 7 and 8
def test_table7_every_number(text):
    rows = block(text, 7)
    assert rows[0][0] == "Models"
    t7 = P.table7()
    assert t7["method_printed"].tolist() == [r[0] for r in rows[1:]]
    for printed, (_, row) in zip(rows[1:], t7.iterrows()):
        assert [num(c) for c in printed[1:]] == [row["psnr"], row["ssim"], row["mae"], row["params_m"]]
    caption = next(line for line in text if line.startswith("TABLE 7."))
    assert "2²⁰" in caption and P.MEBI == 2 ** 20


def test_table8_every_number(text):
    rows = block(text, 8)
    t8 = P.table8()
    for printed, (_, row) in zip(rows[1:], t8.iterrows()):
        assert [num(c) for c in printed] == [row["blocks"], row["psnr"], row["ssim"], row["mae"], row["params_m"]]
    assert len(rows) - 1 == len(t8) == 4
    # Table 7's ISNet row is Table 8's 4-block row (QUIRKS t7-t8-same-row)
    isnet = P.table7().set_index("method").loc["isnet", ["psnr", "ssim", "mae", "params_m"]].tolist()
    assert isnet == t8.set_index("blocks").loc[4, ["psnr", "ssim", "mae", "params_m"]].tolist()


@pytest.mark.parametrize("number", [7, 8])
def test_exact_parameter_counts_round_to_the_papers_mebi(number):
    df = P.table(number)
    assert (df["params_exact"] / 2 ** 20).round(2).tolist() == df["params_m"].tolist()
    assert (df["params_exact_m"] == df["params_m"]).all()


@pytest.mark.parametrize("method", ["unet", "isnet-b1"])
def test_exact_counts_are_our_models(method):
    from isnet.models import build_generator, count_parameters

    name, options = P.GENERATOR_OPTIONS[method]
    assert count_parameters(build_generator(name, **options)) == P.PARAMETER_COUNTS[method]


# ----------------------------------------------------------------------------------------- quirks and claims
def test_quirks_are_documented_and_true(text):
    ids = [q.id for q in P.QUIRKS]
    assert len(ids) == len(set(ids))
    assert all(q.what and q.handling for q in P.QUIRKS)
    joined = "\n".join(text)
    for needle in ["ISNet(Eq.(4)\t", "WaveFil [23]", "L1(%)", "more than 300,000 images for testing",
                   "nearly 3200 times with nearly 256,000 samples", "kernel size of dilation is set to 9",
                   "5th row in Table 2", "ratio \\ge 0.2"]:
        assert needle in joined, needle
    t8 = P.table8().set_index("blocks")
    assert t8.loc[2, ["psnr", "ssim", "mae"]].tolist() == t8.loc[3, ["psnr", "ssim", "mae"]].tolist()


def test_every_table_is_labelled_as_the_papers():
    for n in range(1, 9):
        df = P.table(n)
        assert df.attrs["paper_table"] == n and df.attrs["label"].startswith(f"paper Table {n}")
        assert df is not P.table(n), "each call returns a fresh copy"
    with pytest.raises(ValueError, match="Tables 1–8"):
        P.table(9)


CLASSICAL = {"telea", "ns", "biharmonic"}


def test_claims_hold_on_the_papers_own_numbers():
    """Every comparison of a claim, applied to the paper's numbers, agrees with the paper (except classical
    baselines, which the paper never ran)."""
    assert len({c.id for c in P.CLAIMS}) == len(P.CLAIMS)
    for cl in P.CLAIMS:
        assert cl.text and cl.test and cl.comparisons and cl.results == f"table{cl.table}"
        for comp in cl.comparisons:
            a = P.paper_value(cl.table, comp.a, comp.metric, comp.bucket)
            b = P.paper_value(cl.table, comp.b, comp.metric, comp.bucket)
            if comp.b in CLASSICAL:
                assert b is None and a is not None
                continue
            assert a is not None and b is not None, (cl.id, comp)
            diff = (a - b) if P.HIGHER_IS_BETTER[comp.metric] else (b - a)
            ok = {"better": diff > 0, "not_worse": diff >= -comp.margin, "equal": abs(diff) <= comp.margin}
            assert ok[comp.kind], (cl.id, comp, diff)
    assert P.claim("T7-ordering").table == 7
    with pytest.raises(ValueError, match="unknown claim"):
        P.claim("nope")


def test_paper_claim_text_present(text):
    joined = "\n".join(text)
    assert "ISNets-style models have better quantitative performance than the UNet-like model" in joined
    assert "slight degeneration of quantitative score" in joined
    assert re.search(r"proposed loss function \(Equation 5\) achieves better", joined)
