"""Config: one typed object from dicts, YAML, CLI overrides and Optuna params; loud on unknown keys."""
import dataclasses

import pytest
import yaml

from isnet.engine.config import Config, load_config, save_config
from isnet.study.profiles import TEST, base_config

SMOKE = TEST


def test_defaults_follow_the_authors_optimisation():
    t = Config().train
    assert (t.batch, t.lr_g, t.lr_d, t.betas) == (8, 1e-4, 1e-5, (0.0, 0.9))
    assert Config().loss.preset == "paper-eq5"


def test_cli_overrides_are_typed():
    cfg = SMOKE.with_overrides(["model.blocks=2", "train.iterations=100", "train.betas=[0.5, 0.99]",
                                "train.deterministic=false", "model.width=0.5", "data.pairs=null"])
    assert cfg.model.blocks == 2 and isinstance(cfg.model.blocks, int)
    assert cfg.train.iterations == 100
    assert cfg.train.betas == (0.5, 0.99)
    assert cfg.train.deterministic is False
    assert cfg.model.width == 0.5 and cfg.data.pairs is None
    assert SMOKE.model.blocks == 1, "the profile itself must stay unchanged (frozen)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.blocks = 3


def test_nested_and_dotted_dicts_agree():
    a = Config.from_dict({"model": {"blocks": 2}, "loss": {"weights": {"style": 5}}}, base=SMOKE)
    b = Config.from_dict({"model.blocks": 2, "loss.weights.style": 5.0}, base=SMOKE)
    c = SMOKE.with_overrides(["model.blocks=2", "loss.style=5"])  # shorthand for a LossWeights field
    assert a.resolve().config_hash() == b.resolve().config_hash() == c.resolve().config_hash()
    assert dict(a.resolve().loss.weights)["style"] == 5.0


@pytest.mark.parametrize("key,fragment", [("model.blokcs=2", "model.blocks"), ("trian.iterations=3", "train"),
                                          ("loss.weights.stlye=3", "style")])
def test_unknown_keys_fail_naming_the_valid_ones(key, fragment):
    with pytest.raises(KeyError) as e:
        SMOKE.with_overrides([key]).resolve()
    assert key.split("=")[0] in str(e.value) and fragment in str(e.value)


@pytest.mark.parametrize("override,message", [("train.amp=fp8", "train.amp"), ("model.generator=nope", "model.generator"),
                                              ("loss.preset=nope", "loss.preset"), ("train.batch=two", "train.batch"),
                                              ("train.iterations=0", "train.iterations")])
def test_bad_values_fail_naming_the_key(override, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        SMOKE.with_overrides([override]).resolve()


def test_random_backbone_needs_the_test_flag():
    with pytest.raises(ValueError, match="allow_test_backbone"):
        SMOKE.with_overrides(["loss.allow_test_backbone=false"]).resolve()
    ok = SMOKE.with_overrides(["loss.allow_test_backbone=false", "loss.perceptual=0", "loss.style=0"]).resolve()
    assert dict(ok.loss.weights)["perceptual"] == 0.0  # no features needed, so no backbone is built


def test_feature_matching_without_adversarial_is_refused():
    with pytest.raises(ValueError, match="feature_matching"):
        SMOKE.with_overrides(["loss.adversarial=0", "loss.feature_matching=1"]).resolve()


def test_hash_is_stable_and_ignores_bookkeeping():
    base = SMOKE.resolve()
    assert base.config_hash() == SMOKE.resolve().config_hash() == Config.from_dict(base.to_dict()).config_hash()
    same = SMOKE.with_overrides(["data.workers=3", "train.log_every=1", "train.device=cuda", "out.dir=/x"]).resolve()
    assert same.config_hash() == base.config_hash()
    for change in ("model.blocks=2", "train.seed=1", "loss.style=4", "train.amp=bf16", "data.size=64"):
        assert SMOKE.with_overrides([change]).resolve().config_hash() != base.config_hash(), change
    assert base.out.dir.endswith(f"test-{base.config_hash()}")


def test_an_upsample_init_that_changes_no_layer_keys_the_same_run_as_normal():
    """A recipe that starts the transposed convs bilinear (model.upsample_init=tconv-bilinear) trains ISNet exactly
    as before, so ISNet keeps its committed run; the UNet-like, which has transposed convs, gets a new one."""
    cfg = SMOKE.with_overrides(["model.upsample_init=tconv-bilinear"]).resolve()
    assert cfg.model.upsample_init == "normal" and cfg.config_hash() == SMOKE.resolve().config_hash()
    unet = SMOKE.with_overrides(["model.generator=unet"])
    tconv = unet.with_overrides(["model.upsample_init=tconv-bilinear"]).resolve()
    assert tconv.model.upsample_init == "tconv-bilinear" and tconv.config_hash() != unet.resolve().config_hash()
    assert SMOKE.with_overrides(["model.upsample_init=icnr"]).resolve().config_hash() != SMOKE.resolve().config_hash()


def test_preset_is_expanded_into_explicit_weights():
    cfg = SMOKE.with_overrides(["loss.preset=paper-eq4", "loss.backbone=vgg16-random"]).resolve()
    w = dict(cfg.loss.weights)
    assert (w["l1"], w["adversarial"], w["perceptual"], w["style"], w["feature_matching"]) == (1, 0.1, 0.1, 250, 10)
    assert w["gan_loss"] == "hinge" and w["backbone"] == "vgg16-random"
    assert cfg.loss.loss_weights().style == 250


def test_yaml_round_trip(tmp_path):
    cfg = SMOKE.with_overrides(["model.blocks=3", "loss.style=7", "train.betas=[0.1,0.9]"]).resolve()
    path = save_config(cfg, tmp_path / "c.yaml")
    back = load_config(path)
    assert back == cfg
    assert load_config(path, ["train.seed=5"]).train.seed == 5
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"model": {"depth": 3}}))
    with pytest.raises(KeyError, match="model.depth"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


def test_optuna_trial_params_are_dotted_keys():
    class Trial:  # the part of optuna.Trial that a search reads: its params are dotted config keys
        params = {"loss.weights.style": 12.5, "loss.weights.adversarial": 0.5}

    cfg = SMOKE.with_overrides(dict(Trial().params)).resolve()
    assert dict(cfg.loss.weights)["style"] == 12.5 and dict(cfg.loss.weights)["adversarial"] == 0.5


def test_differences_and_profiles():
    a = SMOKE.resolve()
    b = SMOKE.with_overrides(["model.blocks=2"]).resolve()
    keys = [k for k, _, _ in a.differences(b, ignore=("out.",))]
    assert keys == ["model.blocks"]
    assert base_config("test") is SMOKE and base_config("laptop").data.source == "photos"
    with pytest.raises(ValueError, match="laptop"):
        base_config("nope")


def test_to_dict_is_plain_builtins():
    d = SMOKE.resolve().to_dict()

    def walk(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and walk(x) for k, x in v.items())
        if isinstance(v, list):
            return all(walk(x) for x in v)
        return v is None or isinstance(v, (str, int, float, bool))

    assert walk(d)


def test_changing_the_preset_drops_earlier_weights():
    resolved = SMOKE.with_overrides(["loss.style=7"]).resolve()
    eq4 = resolved.with_overrides(["loss.preset=paper-eq4"]).resolve()
    assert dict(eq4.loss.weights)["style"] == 250.0
    same_call = resolved.with_overrides(["loss.style=9", "loss.preset=paper-eq4"]).resolve()
    assert dict(same_call.loss.weights)["style"] == 9.0 and dict(same_call.loss.weights)["adversarial"] == 0.1
    assert dict(resolved.with_overrides(["model.blocks=2"]).resolve().loss.weights)["style"] == 7.0


def test_lr_schedule_keys_leave_committed_hashes_alone_and_shape_the_rate():
    """Issue 18: new recipe keys are hashed only when set, so the committed laptop runs keep their hashes."""
    from isnet.study.profiles import PROFILES

    base = PROFILES["laptop-16k"].base.with_overrides({"train.seed": 0, "out.dir": ""}).resolve()
    assert base.config_hash() == "40ef9b6b931a"  # results/laptop-16k/runs/40ef9b6b931a (seed 0, committed)
    cosine = base.with_overrides({"train.lr_schedule": "cosine", "train.lr_warmup": 100, "train.iterations": 1100})
    assert cosine.config_hash() != base.config_hash()
    t = cosine.train
    assert t.lr_factor(50) == pytest.approx(0.5) and t.lr_factor(100) == pytest.approx(1.0)
    assert t.lr_factor(600) == pytest.approx(0.5) and t.lr_factor(1100) == pytest.approx(0.0)
    assert base.train.lr_factor(7) == 1.0
    with pytest.raises(ValueError, match="train.lr_schedule"):
        base.with_overrides({"train.lr_schedule": "linear"}).check()
