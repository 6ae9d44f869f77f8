"""The run id's declared parts (issue 20 item 3: sweeps declared instead of per-study ``run_key``
overrides): the sweep lists and the keys no result depends on stay out of the id, everything else is in."""
import pytest

from dltour.config import resolve_config
from dltour.registry import all_studies, get_study
from dltour.runner.plan import run_id_for


def _id(name, over, variant, profile="smoke"):
    study = get_study(name)
    return run_id_for(study, resolve_config(study, profile, over), variant, 0)


@pytest.mark.parametrize("study", all_studies(), ids=lambda s: s.name)
def test_declared_keys_exist_and_stay_out_of_the_id(study):
    cfg = resolve_config(study, "smoke")
    fields = cfg.model_dump()
    for k in (*study.sweep, *study.not_in_results, *study.added_later):
        part, _, leaf = k.rpartition(".")
        assert leaf in (fields[part] if part else fields), f"{study.name}: {k} is not a config key"
    v = study.variants(cfg)[0]
    key = study.run_key(cfg, v)
    assert "seeds" not in key
    for k in (*study.sweep, *study.not_in_results):
        part, _, leaf = k.rpartition(".")
        assert leaf not in (key[part] if part else key), f"{study.name}: {k} is in the run key"


def test_sweep_and_summary_only_keys_do_not_change_the_id_but_a_result_bearing_key_does():
    base = _id("airline-lstm", {}, "w12")
    assert _id("airline-lstm", {"windows": [3, 12]}, "w12") == base  # a window added: w12 reused
    assert _id("airline-lstm", {"tutorial_check_window": 12}, "w12") == base  # summary-only
    assert _id("airline-lstm", {"series_transform": "none"}, "w12") == base  # added later, at its old value
    assert _id("airline-lstm", {"series_transform": "diff"}, "w12") != base  # ... and not at another
    assert _id("airline-lstm", {"epochs": 3}, "w12") != base
    assert _id("vgg-transfer", {"bench_steps": 7}, "vgg16-random") == _id("vgg-transfer", {}, "vgg16-random")


def test_a_variant_ignores_only_the_settings_it_does_not_use():
    assert _id("colourise", {"l1_weight": 7.0}, "unet") == _id("colourise", {}, "unet")
    assert _id("colourise", {"l1_weight": 7.0}, "cgan") != _id("colourise", {}, "cgan")
    assert _id("colourise", {"lr_unet": 1e-2}, "cgan") == _id("colourise", {}, "cgan")
    assert _id("mnist-generative", {"gan_lr": 1e-2}, "vae-z2") == _id("mnist-generative", {}, "vae-z2")
    assert _id("mnist-generative", {"gan_lr": 1e-2}, "gan-z1") != _id("mnist-generative", {}, "gan-z1")


def test_ids_computed_before_the_declarations_are_kept():
    """Ids of the demo as the per-study ``run_key`` overrides made them (commit 81abf63): the declared
    form gives the same (all 499 ids of every study, profile, variant and two seeds compared when the
    change was made; these four pin it)."""
    assert _id("airline-lstm", {}, "w12", "demo") == PINNED["airline-lstm/w12"]
    assert _id("colourise", {}, "unet", "demo") == PINNED["colourise/unet"]
    assert _id("mnist-autoencoder", {}, "tutorial", "demo") == PINNED["mnist-autoencoder/tutorial"]
    assert _id("vgg-transfer", {}, "vgg16-random", "demo") == PINNED["vgg-transfer/vgg16-random"]


#: run folders of the demo at 81abf63 (``dltour reproduce``: ``<out>/runs/<study>/<id>``), seed 0
PINNED = {"airline-lstm/w12": "6705d08d7c2a", "colourise/unet": "648fb8b5345e",
          "mnist-autoencoder/tutorial": "60f86aff3965", "vgg-transfer/vgg16-random": "1e6fe02d45c0"}
