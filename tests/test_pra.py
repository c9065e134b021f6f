"""PRA (isnet.pra): semantics of the authors' progressive_test, batching, no ground-truth leak, pass counts."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from isnet.models import build_generator
from isnet.pra import GeneratorInpainter, PRAResult, expected_passes, one_shot, progressive_inpaint


class Blur(nn.Module):
    """A deterministic toy generator: a 3×3 box blur of its input, recording each call's input."""

    def __init__(self):
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.clone())
        return F.avg_pool2d(x, 3, stride=1, padding=1) * 0.9 + 0.05

    @property
    def batch_sizes(self) -> list[int]:
        return [x.shape[0] for x in self.inputs]


def square_known(size: int, side: int, top: int | None = None, left: int | None = None,
                 width: int | None = None) -> torch.Tensor:
    """1×1×size×width known mask with a side×side hole (centred unless top/left are given)."""
    width = width or size
    top = (size - side) // 2 if top is None else top
    left = (width - side) // 2 if left is None else left
    known = torch.ones(1, 1, size, width)
    known[..., top:top + side, left:left + side] = 0
    return known


@pytest.fixture(scope="module")
def generator() -> nn.Module:
    torch.manual_seed(0)
    return build_generator("isnet", blocks=1, width=0.25).eval()


def images(n: int, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=g)


def mixed_known(size: int = 64) -> torch.Tensor:
    """Three holes that need 1, 2 and 4 passes with kernel 15 (see test_pass_counts_hand_count)."""
    return torch.cat([square_known(size, 20), square_known(size, 40), square_known(size, 60)])


# ----------------------------------------------------------------------------- pass counts
def test_pass_counts_hand_count():
    # 64×64 = 4096 px, kernel 15 shrinks a square hole by 7 px per side per extra pass.
    # side 20: 400/4096 = 0.098 ≤ 0.2 → 1 pass.
    # side 40: 1600/4096 = 0.39 → 26² = 676/4096 = 0.165 → 2 passes.
    # side 60: 3600/4096 = 0.88 → 46² = 0.52 → 32² = 0.25 → 18² = 0.079 → 4 passes.
    res = progressive_inpaint(Blur(), images(3), mixed_known(), kernel=15)
    assert res.passes.tolist() == [1, 2, 4]
    assert res.passes.dtype == torch.long
    # kernel 9 (paper Figure 6) shrinks 4 px per side: side 40 → 32² = 0.25 → 24² = 0.14 → 3 passes.
    res9 = progressive_inpaint(Blur(), images(1), square_known(64, 40), kernel=9)
    assert res9.passes.tolist() == [3]
    # the final known mask has the remaining hole: side 60 after 3 growths by 7 → 18
    assert int((res.known[2] == 0).sum()) == 18 * 18
    assert expected_passes(mixed_known(), kernel=15).tolist() == [1, 2, 4]
    assert expected_passes(square_known(64, 40), kernel=9).tolist() == [3]


def test_strict_vs_paper_tie():
    # 8×10 image with a 4×4 hole: ratio 16/80 = 0.2 exactly. Code (">") stops, paper ("≥") runs once more.
    known = square_known(8, 4, width=10)
    img = torch.rand(1, 3, 8, 10)
    assert progressive_inpaint(Blur(), img, known, strict=True).passes.tolist() == [1]
    assert progressive_inpaint(Blur(), img, known, strict=False).passes.tolist() == [2]


def test_max_passes_caps():
    # No known pixel at all: the hole never shrinks, so only max_passes stops the loop.
    known = torch.zeros(1, 1, 32, 32)
    blur = Blur()
    res = progressive_inpaint(blur, images(1, 32), known, max_passes=3)
    assert res.passes.tolist() == [4] and len(blur.inputs) == 4
    assert progressive_inpaint(Blur(), images(1, 32), known).passes.tolist() == [11]  # code: 1 + 10
    assert progressive_inpaint(Blur(), images(3), mixed_known(), max_passes=1).passes.tolist() == [1, 2, 2]
    assert progressive_inpaint(Blur(), images(3), mixed_known(), max_passes=0).passes.tolist() == [1, 1, 1]


# ----------------------------------------------------------------------------- semantics
def test_finished_images_are_not_run_again():
    blur = Blur()
    res = progressive_inpaint(blur, images(3), mixed_known())
    assert blur.batch_sizes == [3, 2, 1, 1]  # passes [1, 2, 4]
    assert res.passes.sum().item() == sum(blur.batch_sizes)


def test_each_pass_follows_the_code():
    """Pass p's input is comp_{p-1}·known_p, and only the remaining hole is overwritten."""
    blur = Blur()
    img, known = images(1), square_known(64, 60)
    res = progressive_inpaint(blur, img, known, trace=True)
    assert torch.equal(blur.inputs[0], img * known)
    for p in range(1, int(res.passes[0])):
        (k_prev, c_prev), (k, c) = res.trace[p - 1], res.trace[p]
        assert torch.equal(blur.inputs[p], c_prev * k)
        expected = (F.avg_pool2d(c_prev * k, 3, stride=1, padding=1) * 0.9 + 0.05) * (1 - k) + c_prev * k
        assert torch.equal(c, expected)
        assert torch.equal(c[k.expand_as(c) == 1], c_prev[k.expand_as(c) == 1])  # the ring keeps its earlier value
        assert (k >= k_prev).all() and (k > k_prev).any()  # the known region grows


def test_known_pixels_equal_ground_truth(generator):
    img, known = images(3), mixed_known()
    res = progressive_inpaint(generator, img, known)
    sel = known.expand_as(img) == 1
    assert torch.equal(res.composite[sel], img[sel])
    assert res.composite.shape == img.shape
    assert 0 <= res.composite.min() and res.composite.max() <= 1


def test_ground_truth_inside_the_hole_cannot_leak(generator):
    img, known = images(3), mixed_known()
    other = img.clone()
    hole = known.expand_as(img) == 0
    other[hole] = torch.rand(int(hole.sum()))
    for model in (generator, Blur()):
        a = progressive_inpaint(model, img, known)
        b = progressive_inpaint(model, other, known)
        assert torch.equal(a.composite[hole], b.composite[hole])
        assert torch.equal(a.passes, b.passes)


def test_small_hole_pra_equals_one_shot_bitwise(generator):
    img = images(2)
    known = torch.cat([square_known(64, 22), square_known(64, 28, top=3, left=30)])  # 11.8 % and 19.1 %
    res = progressive_inpaint(generator, img, known)
    assert res.passes.tolist() == [1, 1]
    assert torch.equal(res.composite, one_shot(generator, img, known))


def test_one_shot_is_the_composite(generator):
    img, known = images(2), mixed_known()[:2]
    expected = generator(img * known) * (1 - known) + img * known
    assert torch.equal(one_shot(generator, img, known), expected.detach())


def test_batched_equals_per_image_loop_toy():
    img, known = images(3), mixed_known()
    batched = progressive_inpaint(Blur(), img, known)
    for i in range(3):
        single = progressive_inpaint(Blur(), img[i:i + 1], known[i:i + 1])
        assert torch.equal(batched.composite[i:i + 1], single.composite)
        assert torch.equal(batched.known[i:i + 1], single.known)
        assert batched.passes[i] == single.passes[0]


def test_batched_equals_per_image_loop_isnet(generator):
    img, known = images(3), mixed_known()
    batched = progressive_inpaint(generator, img, known)
    for i in range(3):
        single = progressive_inpaint(generator, img[i:i + 1], known[i:i + 1])
        torch.testing.assert_close(batched.composite[i:i + 1], single.composite, atol=1e-6, rtol=0)
        assert batched.passes[i] == single.passes[0]


def test_trace_records_every_pass():
    img, known = images(3), mixed_known()
    res = progressive_inpaint(Blur(), img, known, trace=True)
    assert isinstance(res, PRAResult)
    assert len(res.trace) == int(res.passes.max()) == 4
    assert torch.equal(res.trace[0][0], known)
    assert torch.equal(res.trace[-1][1], res.composite) and torch.equal(res.trace[-1][0], res.known)
    for i in range(3):
        steps = res.steps(i)
        assert len(steps) == int(res.passes[i])
        assert torch.equal(steps[-1][1], res.composite[i])
        assert steps[0][0].shape == (1, 64, 64) and steps[0][1].shape == (3, 64, 64)
    single = progressive_inpaint(Blur(), img[2:], known[2:], trace=True)
    assert len(single.trace) == int(single.passes[0]) == 4
    assert progressive_inpaint(Blur(), img, known).trace is None


def test_generator_mode_and_grad_are_left_alone(generator):
    img, known = images(1), square_known(64, 40)
    blur = Blur().train()
    progressive_inpaint(blur, img, known)
    assert blur.training
    res = progressive_inpaint(generator, img, known)
    assert not generator.training and not res.composite.requires_grad


def test_generator_inpainter_masks_its_input():
    blur = Blur()
    img, known = images(1), square_known(64, 20)
    GeneratorInpainter(blur)(img, known)
    assert torch.equal(blur.inputs[0], img * known)


@pytest.mark.parametrize("bad, message", [
    (lambda k: k * 0.5 + 0.25, "binary"),
    (lambda k: k[:, :, :32], "does not match"),
    (lambda k: k.expand(-1, 3, -1, -1), "N×1×H×W"),
])
def test_bad_inputs_say_what_is_wrong(bad, message):
    known = square_known(64, 20)
    with pytest.raises(ValueError, match=message):
        progressive_inpaint(Blur(), images(1), bad(known))
    with pytest.raises(ValueError, match="kernel"):
        progressive_inpaint(Blur(), images(1), known, kernel=4)


# ----------------------------------------------------------------------------- bench
def test_bench_pra_quick_runs(capsys):
    from isnet.cli import main

    assert main(["bench", "pra", "--quick"]) == 0
    out = capsys.readouterr().out
    for bucket in ("10-20", "20-30", "30-40", "40-50"):
        assert bucket in out
    assert "PRA / one-shot" in out and "untrained" in out.lower()


def test_bench_rows_passes_match_the_masks():
    from isnet.bench.pra import bench_rows, bucket_masks, summarise
    from isnet.method.masks import PAPER_BUCKETS

    masks = bucket_masks(32, 2, seed=1)
    assert list(masks) == list(PAPER_BUCKETS)
    rows = bench_rows(Blur(), masks, 32, kernel=15, repeats=1, warmup=0, device=torch.device("cpu"))
    for row, known in zip(rows, [k for ks in masks.values() for k in ks]):
        lo, hi = PAPER_BUCKETS[row["bucket"]]
        assert lo < row["hole_ratio"] <= hi
        assert row["passes"] == int(expected_passes(known)[0])
    summary = {s["bucket"]: s for s in summarise(rows)}
    assert summary["all"]["n"] == 8 and summary["10-20"]["passes"] == 1.0


def test_match_kernel_recovers_the_scale_of_a_downsampled_mask_set():
    """A mask set and the same masks at 4x the size: kernel 3 at 1x shrinks holes like kernel 9... at 4x only
    roughly, but the match must pick the candidate whose shrinkage is closest, and record the reference's."""
    from isnet.method.masks import grow_known
    from isnet.method.pra import match_kernel, shrinkage

    g = torch.Generator().manual_seed(0)
    small = (torch.rand(12, 1, 16, 16, generator=g) > 0.5).float()
    small = 1 - grow_known(1 - small, 3)  # blobby holes
    big = F.interpolate(small, scale_factor=4, mode="nearest")
    best, rows = match_kernel(small, big, ["a"] * 6 + ["b"] * 6, (1, 3, 5, 7), reference_kernel=9)
    s = shrinkage(small, best)
    assert s["left"].shape == (12, 2) and bool((s["left"][:, 1] <= s["left"][:, 0]).all())
    dist = {r["kernel"]: r["kernel_distance"] for r in rows}
    assert dist[best] == min(dist.values()) and best == 3  # 9 px at 4x is ~2.25 px at 1x: kernel 3 (radius 1)
    assert {r["group"] for r in rows} == {"a", "b"} and sum(r["chosen"] for r in rows) == 2


@pytest.mark.parametrize("name", ["smoke", "laptop", "laptop-16k", "night", "ablation",
                                  pytest.param("gpu", marks=pytest.mark.slow)])  # 750 masks at 256 px: ~1 min
def test_profile_pra_kernel_is_the_derived_one(name):
    """Issue 19: a profile's verdict kernel (pra_kernels[0]) is derived from hole shrinkage on its own evaluation
    masks (kernel 15 at 256 px as the reference), not chosen by hand."""
    from isnet.study.kernels import REFERENCE_KERNEL, REFERENCE_SIZE, derive_pra_kernel
    from isnet.study.profiles import PROFILES

    p = PROFILES[name]
    kernel, table = derive_pra_kernel(p.eval_size, p.pairs_per_bucket)
    assert p.pra_kernels[0] == kernel
    assert set(table.group) == {"20-30", "30-40", "40-50"} and table.chosen.sum() == 3
    if p.eval_size == REFERENCE_SIZE:  # the paper profile: the reference itself
        assert kernel == REFERENCE_KERNEL
