"""T4.2 colourise: luma/chroma conversions, the colouriser's gray start, bad inputs, a smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.experiments import colourise as co
from dltour.registry import get_study
from dltour.runs import run_study


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
    with pytest.raises(DltourError, match="my_images' does not exist") as e:
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


# ---------------------------------------------------------------- the findings on hand-made results
GRAY_MAE, GRAY_DIST, GT_C, GT_CV = 0.048, 30.0, 30.0, 0.0055


def metrics_of(**per_variant):
    """``decide``'s input: metric -> (unet values, cgan values), seeds 0..n-1."""
    return {k: {"unet": dict(enumerate(u)), "cgan": dict(enumerate(c))} for k, (u, c) in per_variant.items()}


def decide(**per_variant):
    return {f.id: f.verdict for f in co.decide(metrics_of(**per_variant), GRAY_MAE, GRAY_DIST, GT_C, GT_CV)}


AS_THE_REFERENCE = dict(test_mae=([0.045, 0.0452, 0.0449], [0.046, 0.0463, 0.0461]),
                        colourfulness=([12, 13, 12.5], [33, 35, 34]), colour_variance=([0.001, 0.0012, 0.0011],
                                                                                        [0.008, 0.009, 0.0085]),
                        colourfulness_distance=([18, 17, 17.5], [4, 5, 4.5]),
                        saturation_overlap=([0.6, 0.62, 0.61], [0.9, 0.91, 0.92]), hue_error=([20, 21, 22], [40, 42, 41]))


def test_findings_hold_as_the_reference_describes():
    assert set(decide(**AS_THE_REFERENCE).values()) == {"holds"}


def test_findings_fail_when_the_models_swap_roles():
    got = decide(test_mae=([0.046, 0.0463, 0.0461], [0.045, 0.0452, 0.0449]),
                 colourfulness=([33, 35, 34], [12, 13, 12.5]), colour_variance=([0.008, 0.009, 0.0085], [0.001] * 3),
                 colourfulness_distance=([4, 5, 4.5], [18, 17, 17.5]),
                 saturation_overlap=([0.9, 0.91, 0.92], [0.6, 0.62, 0.61]), hue_error=([40, 42, 41], [20, 21, 22]))
    assert got == {k: "does not hold" for k in got} | {"beats-gray-input": "holds"}


def test_findings_are_inconclusive_on_noisy_results():
    got = decide(test_mae=([0.045, 0.047, 0.046], [0.046, 0.045, 0.0465]),
                 colourfulness=([20, 35, 28], [30, 22, 29]), colour_variance=([0.004, 0.007, 0.0055], [0.005] * 3),
                 colourfulness_distance=([10, 20, 15], [18, 9, 14]),
                 saturation_overlap=([0.6, 0.8, 0.7], [0.75, 0.62, 0.7]), hue_error=([30, 50, 40], [45, 32, 41]))
    assert set(got.values()) == {"inconclusive"}, got


def test_a_model_that_did_not_learn_carries_no_verdict():
    # a U-Net no better than the gray input: nothing about how it colours is decided; the check of
    # the baselines itself fails
    r = dict(AS_THE_REFERENCE, test_mae=([0.05, 0.051, 0.052], [0.06, 0.061, 0.062]))
    got = decide(**r)
    assert got["beats-gray-input"] == "does not hold"
    assert {got[k] for k in got if k != "beats-gray-input"} == {"inconclusive"}
    # a cGAN whose colours are no closer to the truth than no colour at all
    r = dict(AS_THE_REFERENCE, colourfulness_distance=([18, 17, 17.5], [31, 32, 33]))
    got = decide(**r)
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
    from dltour.runs import RunContext

    real = bench.measure_training
    monkeypatch.setattr(bench, "measure_training", lambda *a, **k: real(*a, **(k | {"steps": 3, "warmup": 1})))
    study = get_study("colourise")
    ctx = RunContext(study.name, "bench", 0, None, resolve_device("cpu"), "smoke", progress=False)
    out = study.bench(resolve_config(study, "smoke"), ctx)
    assert out["variant"] == "cgan" and out["ratio"] > 0 and out["steps"] == 3
