import os

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="module")
def tiny_generator():
    """A width-0.125, one-block ISNet in eval mode (seeded): cheap enough for any test that needs a model."""
    from isnet.models import build_generator

    torch.manual_seed(0)
    return build_generator("isnet", blocks=1, width=0.125).eval()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tiny_generator):
    """``tiny_generator`` saved in our checkpoint format with the matching (test-profile) config."""
    from isnet.engine.checkpoint import FORMAT, save_checkpoint
    from isnet.study.profiles import TEST

    config = TEST.with_overrides(["model.width=0.125", "model.blocks=1"]).resolve()
    return save_checkpoint(tmp_path_factory.mktemp("run"), {"format": FORMAT, "iteration": 1,
                                                            "generator": tiny_generator.state_dict(),
                                                            "config": config.to_dict()}, keep_last=1)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """``(results/smoke folder, per-notebook records)`` of ONE smoke study run (``isnet study --profile smoke``)
    shared by every test file that reads its tables, figures, executed notebooks or records."""
    import shutil

    from isnet.study import run_study

    results = tmp_path_factory.mktemp("results")
    records = run_study("smoke", results_dir=results)
    yield results / "smoke", records
    shutil.rmtree(results, ignore_errors=True)  # checkpoints and notebooks: pytest's temp folder stays small
