"""vgg-transfer: variants and weight availability, describe counts, a tiny end-to-end run of all
five initialisations with a weights file written here, the summary, augmentation, bench, metrics
and bad inputs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from dltour import DltourError
from dltour.config import apply_overrides, resolve_config
from dltour.data.source import DataUnavailable
from dltour.device import resolve_device
from dltour.experiments.vgg_transfer import VGGTransferStudy, random_crop_flip
from dltour.metrics.classification import accuracy, time_inference, top_k_accuracy
from dltour.models.vgg import weights_filename
from dltour.runs import RunContext, run_study
from dltour.seeding import generator

TINY = {"dataset": "cifar10-demo", "image_size": 32, "classes": 2, "train_per_class": 2, "val_per_class": 1,
        "test_per_class": 1, "epochs": 1, "batch_size": 2, "tuned_batch_size": 2, "archs": ["vgg16"],
        "seeds": 1, "checkpoint_every": 1, "eval_batch": 4, "infer_batch": 2, "infer_iters": 1,
        "infer_warmup": 0, "bench_steps": 1}


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """torchvision's VGG-16 state dict (random init) saved under the ImageNet file's name."""
    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("weights")
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), folder / weights_filename("vgg16"))
    return folder


@pytest.fixture(autouse=True)
def _no_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # a user's cached weights must not leak in


def cfg_with(study, profile="demo", **over):
    return apply_overrides(resolve_config(study, profile), over)


def test_variants_follow_weight_availability(weights_dir):
    st = VGGTransferStudy()
    demo = resolve_config(st, "demo")
    assert st.variants(demo) == ["vgg16-random", "vgg16-tuned", "vgg19-random", "vgg19-tuned"]
    assert set(st.skipped_variants(demo)) == {f"{a}-{i}" for a in ("vgg16", "vgg19")
                                              for i in ("imagenet", "frozen", "frozen224")}
    with_w = cfg_with(st, weights_dir=str(weights_dir))  # only the vgg16 file is there
    assert st.variants(with_w) == ["vgg16-random", "vgg16-imagenet", "vgg16-frozen", "vgg16-frozen224",
                                   "vgg16-tuned", "vgg19-random", "vgg19-tuned"]
    assert len(st.variants(resolve_config(st, "full"))) == 10  # download mode lists everything


def test_describe_counts_through_the_cli():
    out = subprocess.run([sys.executable, "-m", "dltour.cli", "describe", "vgg-transfer", "--profile", "full",
                          "--set", "inits=[frozen,frozen224]", "--json"], capture_output=True, text=True, check=True)
    rows = {r["variant"]: r for r in json.loads(out.stdout)}
    for a in ("vgg16", "vgg19"):
        assert rows[f"{a}-frozen"]["trainable_params"] == 25_993_416
        assert rows[f"{a}-frozen224"]["trainable_params"] == 819_400


def test_tiny_run_of_every_init(weights_dir, tmp_path):
    st = VGGTransferStudy()
    cfg = cfg_with(st, "smoke", **TINY, inits=["random", "imagenet", "frozen", "frozen224", "tuned"],
                   weights_dir=str(weights_dir))
    doc = run_study(st, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    m = doc["metrics"]
    assert set(m) == {"vgg16-random", "vgg16-imagenet", "vgg16-frozen", "vgg16-frozen224", "vgg16-tuned"}
    head32 = 512 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 2 + 2  # 32x32 input: 512x1x1 flattened, 2 classes
    assert m["vgg16-frozen"]["trainable_params"]["mean"] == head32
    assert m["vgg16-frozen224"]["trainable_params"]["mean"] == 4096 * 2 + 2
    assert m["vgg16-random"]["trainable_params"]["mean"] == 14_714_688 + head32
    assert m["vgg16-frozen"]["precompute_s"]["mean"] > 0 and m["vgg16-random"]["precompute_s"]["mean"] == 0
    for v, ms in m.items():
        assert 0 <= ms["test_acc"]["mean"] <= 100 and ms["infer_us"]["mean"] > 0, v
        assert ms["epochs"]["mean"] == 1
    # the checkpoint is only for resuming: removed when a run ends; history kept for the curves
    runs = list((tmp_path / "runs" / "vgg-transfer").iterdir())
    assert runs and not any((r / "checkpoint.pt").exists() for r in runs)
    assert all(len((r / "history.csv").read_text().splitlines()) == 2 for r in runs)
    f = {x["id"]: x for x in doc["findings"]}
    assert isinstance(f["vgg16-imagenet-gt-frozen-gt-random"]["holds"], bool)
    assert isinstance(f["frozen224-ge-frozen"]["holds"], bool)
    assert f["vgg16-ge-vgg19"]["holds"] is None  # one arch only
    titles = [t["title"] for t in doc["tables"]]
    assert any(t.startswith("Table 7") for t in titles) and any(t.startswith("Table 1") for t in titles)
    names = {p.rsplit("/", 1)[-1] for p in doc["figures"]}
    assert {"fig1_accuracy_all.png", "fig10_vgg16.png", "fig9_large_input_val.png", "fig12_large_input.png"} <= names
    assert not any("Left out" in n for n in doc["notes"])
    assert doc["comparable"] is False
    # a second call reuses every run
    again = run_study(st, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    assert again["metrics"]["vgg16-frozen"]["test_acc"] == m["vgg16-frozen"]["test_acc"]


def test_imagenet_variant_offline_raises_data_unavailable(tmp_path, monkeypatch):
    from torchvision.models._api import WeightsEnum

    def offline(self, *a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    st = VGGTransferStudy()
    cfg = cfg_with(st, "smoke", **TINY, inits=["frozen"], imagenet="download")
    with pytest.raises(DataUnavailable, match="vgg16-397923af.pth"):
        run_study(st, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)


def test_comparable_only_for_the_reference_setup(tmp_path):
    st = VGGTransferStudy()
    assert st.comparable(resolve_config(st, "full"))
    assert not st.comparable(resolve_config(st, "demo"))
    (tmp_path / "train" / "a").mkdir(parents=True)
    assert not st.comparable(cfg_with(st, "full", **{"data.path": str(tmp_path)}))


def test_bad_inputs():
    st = VGGTransferStudy()
    with pytest.raises(DltourError, match="inits"):
        cfg_with(st, inits=["pretrained"])
    with pytest.raises(DltourError, match="multiple of 32"):
        st.build_model(cfg_with(st, image_size=48), "vgg16-random")
    with pytest.raises(DltourError, match="unknown variant"):
        st.parse("vgg11-random")
    with pytest.raises(DltourError, match="leaves none to train on"):
        st.splits(cfg_with(st, **{**TINY, "train_per_class": None, "val_per_class": 400}))  # 400 per class


def test_splits_are_disjoint_and_fixed():
    st = VGGTransferStudy()
    cfg = cfg_with(st, **{**TINY, "train_per_class": 3, "val_per_class": 2})
    a, b = st.splits(cfg), st.splits(cfg)
    assert len(a["train"]) == 6 and len(a["val"]) == 4 and len(a["test"]) == 2
    assert np.array_equal(a["val"].x, b["val"].x)
    tr = {x.tobytes() for x in a["train"].x}
    assert not any(x.tobytes() in tr for x in a["val"].x)
    assert np.bincount(a["val"].y).tolist() == [2, 2]


def test_random_crop_flip_is_a_per_image_crop_or_mirror():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = random_crop_flip(x, 2, generator(0, 1))
    assert out.shape == x.shape
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(2):  # each output is some 4x4 window of the padded image, or its mirror
        windows = [xp[i, :, r:r + 4, c:c + 4] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    # with no padding the only windows are the image and its mirror; both occur over many draws
    outs = random_crop_flip(x.repeat(16, 1, 1, 1), 0, generator(0, 2))
    kinds = {bool(torch.equal(o, x[k % 2])) for k, o in enumerate(outs)}
    assert kinds == {True, False}


def test_accuracy_by_hand():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5]])
    assert accuracy(scores, [1, 1, 2]) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor(scores), torch.tensor([1, 1, 2])) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, [1, 1, 0], k=2) == pytest.approx(2 / 3)  # row 3: top-2 is {2, 1}
    assert top_k_accuracy(scores, [2, 2, 0], k=3) == 1.0
    with pytest.raises(ValueError, match="differ"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="k must"):
        top_k_accuracy(scores, [0, 0, 0], k=4)


def test_time_inference_reports_what_it_measured():
    dev = resolve_device("cpu")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).train()
    t = time_inference(model, (3, 2, 2), dev, batch_size=8, warmup=1, iters=3)
    assert t["latency_b1_us"] > 0 and t["us_per_image_batched"] > 0
    assert t["images_per_s_batched"] == pytest.approx(1e6 / t["us_per_image_batched"])
    assert (t["batch_size"], t["warmup"], t["iters"], t["dtype"], t["device"]) == (8, 1, 3, "float32", "cpu")
    assert model.training  # restored
    with pytest.raises(ValueError):
        time_inference(model, (3, 2, 2), dev, batch_size=0)


def test_bench_reports_both_rates_and_the_frozen_saving(tmp_path):
    st = VGGTransferStudy()
    cfg = cfg_with(st, **TINY)
    ctx = RunContext(st.name, "bench", 0, tmp_path, resolve_device("cpu"), "smoke", progress=False)
    r = st.bench(cfg, ctx)
    for k in ("end_to_end_samples_per_s", "compute_only_samples_per_s", "frozen_head_step_samples_per_s",
              "frozen_forward_plus_head_samples_per_s", "frozen_train_time_saving"):
        assert r[k] > 0 and math.isfinite(r[k]), k
    assert "precomputing the frozen features" in r["note"]
