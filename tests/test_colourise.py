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
    study = get_study("colourise")
    with pytest.raises(DltourError, match="subset"):
        study.variants(resolve_config(study, "smoke", {"models": ["unet", "vae"]}))
    with pytest.raises(DltourError, match="subset"):
        study.variants(resolve_config(study, "smoke", {"models": []}))


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
    ids = {f["id"] for f in doc["findings"]}
    assert ids == {"unet-mae-le-cgan", "cgan-colourfulness-closer", "cgan-saturation-closer", "beats-gray-input"}
    assert (tmp_path / "colourise" / "fig7_colourisation.png").stat().st_size > 1000


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
