"""Preset and flag precedence: defaults < --preset < the flags given on the command line."""

import pytest

from tumorseg.cli import _train_config, build_parser
from tumorseg.training.presets import PRESETS


def _cfg(*flags):
    return _train_config(build_parser().parse_args(["train", "--data", "D", "--out", "O", *flags]), "O")


def test_a_flag_overrides_only_its_own_preset_value():
    cfg = _cfg("--preset", "cpu-fast", "--epochs", "3")
    assert cfg.epochs == 3
    fast = PRESETS["cpu-fast"]
    for key in ("model", "model_kwargs", "batch_size", "lr", "weight_decay", "optimizer", "loss", "augment",
                "scheduler", "warmup_epochs", "select_metric", "early_stop_patience", "calibrate", "time_budget_s"):
        assert getattr(cfg, key) == fast[key], key
    assert (cfg.data, cfg.out) == ("D", "O")


def test_without_a_preset_the_defaults_are_the_original_project():
    cfg = _cfg("--lr", "0.01")
    assert (cfg.model, cfg.epochs, cfg.batch_size, cfg.lr, cfg.loss, cfg.optimizer) == ("seed-ae", 10, 64, 0.01,
                                                                                        "dice", "adam")


def test_cpu_fast_is_the_pretrained_effunet_and_keeps_the_unet_recipe_by_name():
    fast, unet = _cfg("--preset", "cpu-fast"), _cfg("--preset", "cpu-fast-unet")
    assert (fast.model, fast.model_kwargs) == ("effunet", {"decoder_width": 8})
    assert (unet.model, unet.model_kwargs) == ("unet", {"width": 8, "levels": 5, "num_res_units": 1})
    same = ("epochs", "time_budget_s", "batch_size", "lr", "loss", "augment", "scheduler", "calibrate")
    assert [getattr(fast, k) for k in same] == [getattr(unet, k) for k in same]


def test_changing_the_model_drops_the_presets_model_kwargs():
    cfg = _cfg("--preset", "cpu-fast-unet", "--model", "attention-unet")
    assert (cfg.model, cfg.model_kwargs) == ("attention-unet", {})  # width/levels/num_res_units were unet's
    assert (cfg.lr, cfg.loss, cfg.epochs, cfg.time_budget_s) == (2e-3, "dice-bce", 40, 1500)  # the rest stays
    same = _cfg("--preset", "cpu-fast-unet", "--model", "unet")
    assert same.model_kwargs == PRESETS["cpu-fast-unet"]["model_kwargs"]
    # also when the new model's own kwargs are given: only those (unet's width would make effunet refuse to start)
    eff = _cfg("--preset", "cpu-fast-unet", "--model", "effunet", "--model-kwargs", '{"decoder_width": 4}')
    assert (eff.model, eff.model_kwargs) == ("effunet", {"decoder_width": 4})
    back = _cfg("--preset", "cpu-fast", "--model", "unet")  # and the other way round
    assert (back.model, back.model_kwargs) == ("unet", {})


def test_model_kwargs_merge_into_the_presets():
    cfg = _cfg("--preset", "best", "--model-kwargs", '{"width": 16}')
    assert cfg.model_kwargs == {"width": 16, "levels": 6, "num_res_units": 2}


def test_unknown_preset_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as exc:  # refused when parsed, before any config is built
        _cfg("--preset", "cpu_fast")
    assert exc.value.code == 2 and "Did you mean 'cpu-fast'" in capsys.readouterr().err


def test_time_budget_off_restores_a_fixed_epoch_count():
    cfg = _cfg("--preset", "cpu-fast", "--epochs", "12", "--time-budget", "off")
    assert (cfg.epochs, cfg.time_budget_s) == (12, 0.0)


def test_flair_presets_carry_the_lgg_data_and_volume_calibration_and_flags_override_them():
    cfg = _cfg("--preset", "flair")
    assert (cfg.data_format, cfg.data_options, cfg.init_from) == ("lgg", {"channels": "flair"}, "t1c-unet")
    assert (cfg.calibrate_objective, cfg.max_fp_rate, cfg.intensity, cfg.epochs) == ("volume-dice", 0.1, "p99", 10)
    wide = _cfg("--preset", "flair-wide")
    assert wide.model_kwargs == PRESETS["servable"]["model_kwargs"] and wide.image_size == 256
    assert wide.init_from is None and wide.data_format == "lgg" and wide.epochs == 100
    pre = _cfg("--preset", "flair-pretrained")  # ImageNet encoder, not the t1c weights (another network)
    assert (pre.model, pre.init_from, pre.data_format, pre.epochs) == ("effunet", None, "lgg", 10)
    mine = _cfg("--preset", "flair", "--channels", "all", "--format", "lgg")
    assert mine.data_options == {"channels": "all"}


def test_each_bundled_model_was_trained_with_the_preset_named_after_it():
    """The bundled checkpoints store their training config: ``t1c`` is a cascade of a ``t1c-prior`` network (the
    ``t1c`` preset, ``cpu-fast`` with the ``mri`` augmentation, with ``head_prior``) and its ``t1c-negatives``
    fine-tune, each member's config stored in ``ensemble_of``; ``t1c-unet`` the ``bundled``
    preset; and the ``flair`` preset starts from the
    ``t1c-unet`` weights, which must fit its network (the ``t1c`` network is another one)."""
    from tumorseg.models import build_model, zoo
    from tumorseg.models.checkpoint import load_checkpoint
    from tumorseg.training.trainer import init_weights

    t1c = _cfg("--preset", "t1c")
    assert (t1c.model, t1c.model_kwargs, t1c.augment) == ("effunet", {"decoder_width": 8}, "mri")
    fast = _cfg("--preset", "cpu-fast")
    assert {k: v for k, v in vars(t1c).items() if k != "augment"} == {k: v for k, v in vars(fast).items()
                                                                      if k != "augment"}
    for name, recipes in (("t1c", ("t1c-prior", "t1c-negatives")), ("t1c-unet", ("bundled",))):
        entry = zoo.get(name)
        if not entry.installed:
            continue
        ckpt = load_checkpoint(entry.checkpoint)  # t1c: a cascade, each member's config in ensemble_of
        configs = [m["config"] for m in ckpt["ensemble_of"]] if "ensemble_of" in ckpt else [ckpt["config"]]
        assert len(configs) == len(recipes)
        for cfg, recipe in zip(configs, recipes):
            for key in ("model", "model_kwargs", "augment", "loss", "image_size"):
                assert cfg[key] == PRESETS[recipe][key], (name, recipe, key)
    flair = _cfg("--preset", "flair")
    if zoo.get(flair.init_from).installed:
        init_weights(build_model(flair.model, in_channels=1, **flair.model_kwargs), flair.init_from)


def test_t1c_is_trained_in_two_stages_and_the_fine_tune_needs_its_first_stage():
    """``t1c-prior`` is ``t1c`` with the output bias at logit(0.01); ``t1c-negatives`` fine-tunes such a run (no time
    budget, presence term, fp-limited calibration) and refuses to start from ImageNet weights alone."""
    from tumorseg.errors import TumorsegError

    t1c, prior = _cfg("--preset", "t1c"), _cfg("--preset", "t1c-prior")
    assert prior.model_kwargs == {"decoder_width": 8, "head_prior": 0.01}
    assert {k: v for k, v in vars(prior).items() if k != "model_kwargs"} == \
        {k: v for k, v in vars(t1c).items() if k != "model_kwargs"}
    with pytest.raises(TumorsegError, match=r"--preset t1c-negatives fine-tunes a trained model: give --init-from"):
        _cfg("--preset", "t1c-negatives")
    neg = _cfg("--preset", "t1c-negatives", "--init-from", "runs/prior/best.pt")
    assert (neg.loss, neg.epochs, neg.time_budget_s, neg.lr, neg.max_fp_rate, neg.init_from) == \
        ("dice-bce-presence", 2, 0.0, 5e-4, 0.03, "runs/prior/best.pt")
    assert neg.model_kwargs == prior.model_kwargs and neg.augment == prior.augment == "mri"
