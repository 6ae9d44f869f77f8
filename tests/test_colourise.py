"""T4.2 colourise: luma/chroma conversions, the colouriser's gray start, bad inputs, a smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.experiments.colourise import science as co
from dltour.experiments.colourise import findings as cof
from dltour.registry import get_study
from dltour.runner.driver import run_study


@pytest.fixture(autouse=True)
def _one_thread():
    # the 2 test cores are shared with other jobs; these tiny models gain nothing from a second
    # OpenMP thread and lose a lot to its spin-waiting under load
    torch.set_num_threads(1)
    yield


def test_gray_matches_pil_luma():
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(rgb).convert("L"), dtype=float) / 255  # L = R*299/1000 + G*587/1000 + B*114/1000
    ours = co.to_gray(torch.from_numpy(rgb).permute(2, 0, 1)[None].double() / 255)[0, 0].numpy()
    assert np.abs(ours - pil).max() <= 1 / 255 + 1e-9  # PIL rounds to integers


def test_yuv_round_trip_and_zero_chroma_is_gray():
    rgb = torch.rand(3, 3, 5, 5, dtype=torch.float64)
    y = co.to_gray(rgb)
    u, v = 0.492 * (rgb[:, 2:3] - y), 0.877 * (rgb[:, :1] - y)
    assert torch.allclose(co.yuv_to_rgb(y, u, v), rgb, atol=1e-12)
    assert float(u.abs().max()) <= co.U_MAX and float(v.abs().max()) <= co.V_MAX
    gray = co.yuv_to_rgb(y, torch.zeros_like(y), torch.zeros_like(y))
    assert torch.allclose(gray, y.expand(-1, 3, -1, -1))


def test_colouriser_shape_and_brightness_kept():
    torch.manual_seed(0)
    m = co.Colouriser(width=4, depth=2).eval()
    y = torch.rand(2, 1, 15, 16) * 0.5 + 0.25  # away from the clip
    with torch.no_grad():
        out = m(y)
    assert out.shape == (2, 3, 15, 16)
    assert torch.allclose(co.to_gray(out), y, atol=1e-5)  # the network only chooses colours


def test_bad_models_list():
    study = get_study("colourise")  # refused when the config is resolved (`dltour show` fails)
    with pytest.raises(DltourError, match="models.1.*'unet' or 'cgan'"):
        resolve_config(study, "smoke", {"models": ["unet", "vae"]})
    with pytest.raises(DltourError, match="at least 1"):
        resolve_config(study, "smoke", {"models": []})
    with pytest.raises(DltourError, match="repeat"):
        resolve_config(study, "smoke", {"models": ["cgan", "cgan"]})


@pytest.mark.parametrize("old, new", [("data_source", "data.source"), ("train_limit", "data.train_subset"),
                                      ("test_limit", "data.test_subset"), ("image_size", "data.image_size")])
def test_old_data_keys_name_the_new_key(old, new):
    study = get_study("colourise")
    with pytest.raises(DltourError, match=f"unknown config key '{old}'.*{new}"):
        resolve_config(study, "smoke", {old: 1})


def test_a_missing_data_path_is_named(tmp_path):
    study = get_study("colourise")
    cfg = resolve_config(study, "smoke", {"data.path": str(tmp_path / "my_images")})
    with pytest.raises(DltourError, match="my_images'? does not exist") as e:
        run_study(study, cfg, "smoke", tmp_path / "out", progress=False, log=lambda s: None)
    assert "cifar-100-python" not in str(e.value) and "\n" not in str(e.value)


def test_run_and_bench_train_with_the_same_step(step_calls):
    study = get_study("colourise")
    cfg = resolve_config(study, "smoke", {"models": ["cgan"], "epochs": 1})
    ran, benched, _ = step_calls(co, study, cfg, bench_steps=3)
    assert ran > 0
    assert benched == 2 * (3 + 1)  # end to end and compute only, each 1 warm-up + 3 steps



def test_check_model_is_finite_for_both_models():
    study = get_study("colourise")
    cfg = resolve_config(study, "smoke")
    for v in study.variants(cfg):
        assert np.isfinite(study.check_model(cfg, v))


def test_run_key_shares_the_unet_run_across_gan_settings():
    study = get_study("colourise")
    a = resolve_config(study, "smoke")
    b = resolve_config(study, "smoke", {"l1_weight": 10.0})
    assert study.run_key(a, "unet") == study.run_key(b, "unet")
    assert study.run_key(a, "cgan") != study.run_key(b, "cgan")


def test_smoke_run(tmp_path):
    study = get_study("colourise")
    cfg = resolve_config(study, "smoke")
    doc = run_study(study, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    assert doc["comparable"] is False  # embedded CIFAR-10, not the reference's CIFAR-100
    m = doc["metrics"]
    assert set(m) == {"unet", "cgan", "ground-truth", "gray-input"}
    for v in ("unet", "cgan"):
        assert 0 < m[v]["test_mae"]["mean"] < 0.5
        assert m[v]["colourfulness"]["mean"] >= 0
    assert m["ground-truth"]["colourfulness"]["mean"] > 5  # CIFAR images are colourful
    assert m["gray-input"]["colourfulness"]["mean"] == 0
    ids = {f["id"]: f for f in doc["findings"]}
    assert set(ids) == {"unet-mae-le-cgan", "cgan-more-vivid", "cgan-more-realistic", "cgan-wrong-colours",
                        "mae-misses-quality", "unet-conservative", "beats-gray-input"}
    assert {f["ref"] for f in ids.values()} == {"R42", "R43", "R44", "R45", "R46", None}
    assert all(f["verdict"] == "inconclusive" for f in ids.values() if f["ref"])  # one seed decides nothing
    assert (tmp_path / "colourise" / "fig7_colourisation.png").stat().st_size > 1000
    assert doc["tables"][0]["rows"][-1][0].startswith("gray input")


def test_colouriser_starts_from_the_gray_image():
    torch.manual_seed(0)
    m = co.Colouriser(width=4, depth=2).eval()
    y = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(m(y), y.expand(-1, 3, -1, -1), atol=1e-6)


def test_comparison_names_what_differs():
    study = get_study("colourise")
    cmp = study.comparison(resolve_config(study, "demo"))
    assert not cmp.data and not cmp.budget and "embedded" in cmp.why and "epochs" in cmp.why
    cmp = study.comparison(resolve_config(study, "full"))
    assert cmp.data and cmp.budget


# ---------------------------------------------------------------- the findings on simulated runs
GRAY_MAE, GRAY_DIST, GT_C, GT_CV = 0.048, 30.0, 30.0, 0.0055
KEYS = ("test_mae", "colourfulness", "colour_variance", "colourfulness_distance", "saturation_overlap", "hue_error")
SD = (0.0002, 1.0, 0.0003, 0.7, 0.01, 1.0)  # per-run spread of each metric

# true means per model of (test MAE, colourfulness, colour variance, colourfulness distance to the truth,
# saturation overlap, hue error): as the reference describes them
AS_THE_REFERENCE = {"unet": (0.0450, 12.5, 0.0011, 17.5, 0.61, 21.0), "cgan": (0.0461, 34.0, 0.0085, 4.5, 0.91, 41.0)}
SWAPPED = {"unet": AS_THE_REFERENCE["cgan"], "cgan": AS_THE_REFERENCE["unet"]}
# nothing differs between the models; the U-Net's colourfulness at exactly half the truth's (R46's line)
NULL = {"unet": (0.046, 15.0, 0.003, 10.0, 0.75, 30.0), "cgan": (0.046, 15.0, 0.003, 10.0, 0.75, 30.0)}


def simulate(true, n=5, rng=0):
    """``decide``'s input: metric -> model -> {seed: true mean + N(0, sd)}."""
    g = np.random.default_rng(rng)
    return {k: {v: {sd: float(x) for sd, x in enumerate(true[v][i] + g.normal(0, SD[i], n))} for v in true}
            for i, k in enumerate(KEYS)}


def decide_sim(true, n=5, rng=0):
    return {f.id: f for f in cof.decide(simulate(true, n, rng), GRAY_MAE, GRAY_DIST, GT_C, GT_CV)}


IDS = {"unet-mae-le-cgan", "cgan-more-vivid", "cgan-more-realistic", "cgan-wrong-colours", "mae-misses-quality",
       "unet-conservative", "beats-gray-input"}


def test_findings_hold_on_simulated_runs_as_the_reference_describes():
    f = decide_sim(AS_THE_REFERENCE)
    assert {k: x.verdict for k, x in f.items()} == {k: "holds" for k in IDS}
    assert f["unet-conservative"].stats["unit"] == "fraction of the truth's colourfulness"
    assert f["unet-mae-le-cgan"].stats["n_runs"] == 5 and f["unet-mae-le-cgan"].stats["unit"] == "test MAE"


def test_findings_fail_on_simulated_runs_where_the_models_swap_roles():
    got = {k: x.verdict for k, x in decide_sim(SWAPPED, rng=1).items()}
    assert got == {k: "does not hold" for k in IDS} | {"beats-gray-input": "holds"}


def test_findings_are_inconclusive_on_simulated_null_runs_and_on_one_seed():
    got = {k: x.verdict for k, x in decide_sim(NULL, rng=2).items()}
    assert got == {k: "inconclusive" for k in IDS} | {"beats-gray-input": "holds"}
    one = {k: x.verdict for k, x in decide_sim(AS_THE_REFERENCE, n=1).items()}
    assert one == {k: "inconclusive" for k in IDS}


def test_r46_needs_the_unet_nearer_no_colour_than_the_truth():
    # less colourful than the truth, but nearer the truth than the gray input: not "conservative"
    faded = {"unet": (0.0450, 22.0, 0.003, 8.0, 0.61, 21.0), "cgan": AS_THE_REFERENCE["cgan"]}
    f = decide_sim(faded)["unet-conservative"]
    assert f.verdict == "does not hold" and "half-way between the gray input (0) and the truth" in f.evidence
    # a U-Net that did not beat the gray input's MAE carries no verdict on how it colours
    bad = {"unet": (0.0500, 12.5, 0.0011, 17.5, 0.61, 21.0), "cgan": AS_THE_REFERENCE["cgan"]}
    f = decide_sim(bad)["unet-conservative"]
    assert f.verdict == "inconclusive" and "did not learn" in f.test
    gray_truth = cof.decide(simulate(AS_THE_REFERENCE), GRAY_MAE, GRAY_DIST, 0.0, 0.0)
    assert {x.id: x.verdict for x in gray_truth}["unet-conservative"] == "inconclusive"


def test_a_model_that_did_not_learn_carries_no_verdict():
    # a U-Net no better than the gray input: nothing about how it colours is decided; the check of
    # the baselines itself fails
    t = dict(AS_THE_REFERENCE, unet=(0.0510, 12.5, 0.0011, 17.5, 0.61, 21.0), cgan=(0.0610, 34.0, 0.0085, 4.5, 0.91,
                                                                                     41.0))
    got = {k: x.verdict for k, x in decide_sim(t).items()}
    assert got["beats-gray-input"] == "does not hold"
    assert {got[k] for k in got if k != "beats-gray-input"} == {"inconclusive"}
    # a cGAN whose colours are no closer to the truth than no colour at all
    t = dict(AS_THE_REFERENCE, cgan=(0.0461, 34.0, 0.0085, 32.0, 0.91, 41.0))
    got = {k: x.verdict for k, x in decide_sim(t).items()}
    assert got["cgan-more-vivid"] == got["cgan-wrong-colours"] == "inconclusive"
    assert got["unet-mae-le-cgan"] == got["unet-conservative"] == "holds"


def test_image_grid_prints_captions(tmp_path):
    from dltour.plots import image_grid

    imgs = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    name = image_grid([("a", imgs), ("b", imgs[..., 0])], tmp_path, "g.png", "title",
                      captions={0: ["MAE 0.1\nvar 0", "x", "y"]})
    assert name == "g.png" and (tmp_path / "g.png").stat().st_size > 500


def test_bench_smoke(monkeypatch):
    import dltour.bench as bench
    from dltour.device import resolve_device
    from dltour.runner.run_folder import RunContext

    real = bench.measure_training
    monkeypatch.setattr(bench, "measure_training", lambda *a, **k: real(*a, **(k | {"steps": 3, "warmup": 1})))
    study = get_study("colourise")
    ctx = RunContext(study.name, "bench", 0, None, resolve_device("cpu"), "smoke", progress=False)
    out = study.bench(resolve_config(study, "smoke"), ctx)
    assert out["variant"] == "cgan" and out["ratio"] > 0 and out["steps"] == 3
