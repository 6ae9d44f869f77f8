"""vgg-transfer: variants and weight availability, describe counts, a tiny end-to-end run of all
five initialisations with a weights file written here, the summary, augmentation, bench, metrics
and bad inputs."""

from __future__ import annotations

import json
import math
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from dltour import DltourError
from dltour.config import apply_overrides, resolve_config
from dltour.data.source import DataUnavailable
from dltour.device import resolve_device
from dltour.data import vgg_pretrain
from dltour.experiments.vgg_transfer import VGGTransferStudy
from dltour.train.augment import random_crop_flip
from dltour.metrics.classification import accuracy, predict, time_inference, top_k_accuracy
from dltour.data.imagenet_weights import weights_filename
from dltour.runner.driver import run_study
from dltour.runner.run_folder import RunContext
from dltour.seeding import generator
from dltour.train.schedules import warmup_cosine, warmup_cosine_factor

# full-width torchvision VGG with ImageNet-format weights (the reference's code path), on 2 demo classes
TINY = {"data.source": "embedded", "image_size": 32, "data.classes": 2, "data.class_names": None,
        "pretrained": "imagenet", "batch_norm": False, "width": 1.0, "fc_width": 4096, "large_input": 224,
        "data.train_per_class": 2, "data.val_per_class": 1, "data.test_per_class": 1, "epochs": 1, "batch_size": 2,
        "tuned_batch_size": 2, "archs": ["vgg16"],
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


def test_variants_follow_weight_availability(weights_dir, tmp_path, monkeypatch):
    st = VGGTransferStudy()
    demo = resolve_config(st, "demo")  # the demo pack's pretrained nets: every reference variant of both archs
    assert st.variants(demo) == [f"{a}-{i}" for a in ("vgg16", "vgg19") for i in ("random", "imagenet", "frozen",
                                                                                  "frozen224")]
    monkeypatch.setattr(vgg_pretrain, "pretrained_path", lambda: tmp_path / "missing.pt")
    assert st.variants(demo) == ["vgg16-random", "vgg19-random"]
    assert set(st.skipped_variants(demo)) == {f"{a}-{i}" for a in ("vgg16", "vgg19")
                                              for i in ("imagenet", "frozen", "frozen224")}
    imagenet = cfg_with(st, "full", imagenet="if-available")
    assert st.variants(imagenet) == ["vgg16-random", "vgg16-tuned", "vgg19-random", "vgg19-tuned"]
    with_w = cfg_with(st, "full", imagenet="if-available",
                      **{"data.imagenet_weights_dir": str(weights_dir)})  # only the vgg16 file
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
                   **{"data.imagenet_weights_dir": str(weights_dir)})
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
    # one seed: an ordering of test accuracies is not decided; one arch: VGG-16 vs VGG-19 not checked
    assert f["vgg16-imagenet-gt-frozen-gt-random"]["verdict"] == "inconclusive"
    assert f["frozen224-ge-frozen"]["verdict"] == "inconclusive"
    assert f["vgg16-ge-vgg19"]["verdict"] == "not checked"
    assert f["frozen224-ge-frozen"]["ref"] == "R8" and f["jump-start"]["ref"] == "R1"
    assert f["tuned-beats-faithful-random"]["source"] == "ours"
    titles = [t["title"] for t in doc["tables"]]
    assert any(t.startswith("Table 7") for t in titles) and any(t.startswith("Table 1") for t in titles)
    t7 = next(t for t in doc["tables"] if t["title"].startswith("Table 7"))
    assert [r[0] for r in t7["rows"]] == ["vgg16-random", "vgg16-imagenet", "vgg16-frozen", "vgg16-frozen224"]
    names = {p.rsplit("/", 1)[-1] for p in doc["figures"]}
    assert {"fig1_accuracy_all.png", "fig10_vgg16.png", "fig9_validation_all.png", "fig12_large_input.png"} <= names
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


def test_comparison_checks_data_and_budget(tmp_path):
    st = VGGTransferStudy()
    assert st.comparable(resolve_config(st, "full"))
    demo = st.comparison(resolve_config(st, "demo"))
    assert not demo.data and not demo.budget
    assert "CIFAR-10 demo subset" in demo.why and "6 epochs instead of 20" in demo.why
    short = st.comparison(cfg_with(st, "full", epochs=3))
    assert short.data and not short.budget and "3 epochs" in short.why
    (tmp_path / "train" / "a").mkdir(parents=True)  # a folder that is not Tiny-ImageNet
    other = st.comparison(cfg_with(st, "full", **{"data.path": str(tmp_path)}))
    assert not other.data and other.budget
    fake = tmp_path / "tiny-imagenet-200.zip"  # the right name, not the right bytes
    fake.write_bytes(b"not the dataset")
    assert not st.comparison(cfg_with(st, "full", **{"data.path": str(fake)})).data


def test_bad_inputs():
    st = VGGTransferStudy()
    with pytest.raises(DltourError, match="inits"):
        cfg_with(st, inits=["pretrained"])
    with pytest.raises(DltourError, match="image_size.*multiple of 32"):  # refused when the config is resolved
        cfg_with(st, image_size=48)
    with pytest.raises(DltourError, match="class_names.*duplicates"):
        cfg_with(st, **{"data.class_names": ["dog", "dog"]})
    with pytest.raises(DltourError, match="unknown variant"):
        st.parse("vgg11-random")
    with pytest.raises(DltourError, match="leaves none to train on"):
        st.splits(cfg_with(st, **{**TINY, "data.train_per_class": None, "data.val_per_class": 400}))  # 400 per class


def test_splits_are_disjoint_and_fixed():
    st = VGGTransferStudy()
    cfg = cfg_with(st, **{**TINY, "data.train_per_class": 3, "data.val_per_class": 2})
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


def test_predict_runs_forward_in_batches_without_gradients():
    dev = resolve_device("cpu")
    lin = torch.nn.Linear(1, 2)
    seen = []

    def forward(idx):
        seen.append(idx.tolist())
        return lin(idx.float()[:, None])

    out = predict(forward, 5, 2, dev)
    assert seen == [[0, 1], [2, 3], [4]] and out.shape == (5, 2) and out.dtype == torch.float32
    assert not out.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(out, lin(torch.arange(5.0)[:, None]))


def test_warmup_cosine_by_hand():
    f = [warmup_cosine_factor(s, 3, 9) for s in range(10)]  # warm-up over steps 0-2, cosine over 6 steps
    assert f[:3] == [1 / 3, 2 / 3, 1.0] and f[3] == 1.0 and f[9] == 0.0
    assert f[6] == pytest.approx(0.5) and f[4] == pytest.approx(0.5 * (1 + math.cos(math.pi / 6)))
    assert [warmup_cosine_factor(s, 5, 2) for s in range(2)] == [0.5, 1.0]  # warm-up clipped to the total
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    sched, lrs = warmup_cosine(opt, 3, 9), []
    for _ in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.05 * v for v in f[:9]])


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


def test_bench_reports_both_rates(tmp_path, monkeypatch):
    import dltour.bench as bench

    real = bench.measure_training
    monkeypatch.setattr(bench, "measure_training", lambda *a, **k: real(*a, **(k | {"steps": 2, "warmup": 1})))
    st = VGGTransferStudy()
    cfg = cfg_with(st, **TINY)
    ctx = RunContext(st.name, "bench", 0, tmp_path, resolve_device("cpu"), "smoke", progress=False)
    r = st.bench(cfg, ctx)
    for k in ("end_to_end_samples_per_s", "compute_only_samples_per_s"):
        assert r[k] > 0 and math.isfinite(r[k]), k
    assert r["variant"] == "vgg16-random" and "normalised there" in r["note"]
    assert [st.benchable(f"vgg16-{i}") for i in ("random", "imagenet", "frozen", "frozen224", "tuned")] == \
        [True, True, False, False, False]  # a whole network with the plain SGD recipe, as before the trainer
    with pytest.raises(DltourError, match="cannot be benched"):
        st.bench(cfg, ctx, "vgg16-tuned")


# ---------------------------------------------------------------- decisions from hand-made results
import csv  # noqa: E402

from dltour.experiments.vgg_transfer.science import curve_metrics  # noqa: E402
from dltour.experiments.vgg_transfer.findings import decide, per_seed, tables  # noqa: E402
from dltour.summary import RunResult  # noqa: F401
from dltour.summary import Results  # noqa: F401

METRICS = ("test_acc", "val_acc_epoch1", "val_acc_auc", "final_train_acc", "val_acc_change_sd", "train_acc_rise",
           "infer_us", "infer_us_b1", "trainable_params")
# true means per init of (test_acc, val_acc_epoch1, val_acc_auc, final_train_acc, val_acc_change_sd,
# train_acc_rise): a world where every claim holds (vgg19 = vgg16 - 4 in test accuracy)
HOLDS = {"random": (30, 22, 28, 35, 3, 10), "imagenet": (70, 55, 65, 99, 5, 40), "frozen": (55, 50, 53, 80, 1, 20),
         "frozen224": (60, 52, 57, 65, 0.5, 5), "tuned": (50, 30, 45, 60, 3, 30)}
# ... where every claim fails (orderings reversed; vgg19 = vgg16 + 4)
FAILS = {"random": (70, 55, 65, 75, 3, 10), "imagenet": (30, 22, 28, 80, 1, 40), "frozen": (55, 50, 53, 80, 5, 5),
         "frozen224": (50, 52, 57, 65, 0.5, 20), "tuned": (25, 30, 45, 60, 3, 30)}
# ... where nothing differs (the null; R2's training accuracy sits at its 95% threshold)
SAME = {i: (50, 50, 50, 95, 2, 10) for i in HOLDS}
SD = (0.5, 1.0, 1.0, 0.5, 0.3, 1.0)  # per-run spread of each metric (points)


def _run(tmp_path, v, seed, metrics, history=None):
    d = tmp_path / f"{v}-{seed}"
    d.mkdir(parents=True, exist_ok=True)
    if history:
        with open(d / "history.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["epoch", "train_acc", "val_acc"])
            w.writeheader()
            w.writerows({"epoch": e + 1, **row} for e, row in enumerate(history))
    return RunResult(v, seed, f"{v}-{seed}", d, metrics)


def sim_world(base, arch_gap, tmp_path, seeds=5, rng=0, inits=tuple(HOLDS), archs=("vgg16", "vgg19"), sd=SD,
              epochs=None, rising=True):
    """Simulated runs: each metric = the init's true mean + N(0, sd) per run (seeded); vgg19's test
    accuracy shifted by ``arch_gap``. ``epochs``: also write each run's history, its accuracies
    still rising at the end (``rising``) or flat after epoch 1."""
    g = np.random.default_rng(rng)
    runs = []
    for ai, a in enumerate(archs):
        for ii, init in enumerate(inits):
            for seed in range(seeds):
                m = {name: float(mu + g.normal(0, s)) for name, mu, s in zip(METRICS, base[init], sd)}
                m["val_acc_change_sd"] = abs(m["val_acc_change_sd"])
                if ai == 1:
                    m["test_acc"] += arch_gap
                m.update(infer_us=100.0 + ii, infer_us_b1=200.0 + ii, trainable_params=1000.0 * (ii + 1))
                hist = None
                if epochs:
                    top_v, top_t = m["test_acc"], m["final_train_acc"]
                    step = 2.0 if rising else 0.0
                    hist = [{"train_acc": top_t - step * (epochs - 1 - e) - (0 if rising or e else 5),
                             "val_acc": top_v - step * (epochs - 1 - e) - (0 if rising or e else 5)
                             + (0.0 if rising else 0.1 * (e % 2))}
                            for e in range(epochs)]
                runs.append(_run(tmp_path, f"{a}-{init}", seed, m, hist))
    return Results(runs)


def verdicts(res, chance=20.0, epochs=6):
    return {f.id: f for f in decide(res, chance, demo=True, epochs=epochs)}


ALL_IDS = {"jump-start", "finetune-overfits", "frozen-smoother", "random-unsatisfactory", "vgg16-ge-vgg19",
           "frozen224-flatter", "frozen224-ge-frozen", "vgg16-imagenet-gt-frozen-gt-random",
           "vgg19-imagenet-gt-frozen-gt-random", "tuned-beats-faithful-random"}


def test_every_finding_holds_on_simulated_runs_where_the_claims_are_true(tmp_path):
    f = verdicts(sim_world(HOLDS, -4.0, tmp_path))
    assert set(f) == ALL_IDS
    assert {k: v.verdict for k, v in f.items()} == {k: "holds" for k in ALL_IDS}
    assert f["jump-start"].ref == "R1" and f["frozen-smoother"].ref == "R3" and f["frozen224-flatter"].ref == "R7"
    assert f["tuned-beats-faithful-random"].ref is None
    # both archs of a seed are one unit: n = 5 seeds, not 10 (arch, seed) pairs
    assert "paired t-test" in f["frozen-smoother"].test and "n=5 pairs" in f["frozen-smoother"].test
    assert f["frozen-smoother"].stats["n_runs"] == 5 and f["finetune-overfits"].stats["n_runs"] == 5
    assert f["finetune-overfits"].stats["unit"] == "training accuracy, %"
    assert "sd of the epoch-to-epoch changes" in f["frozen-smoother"].evidence
    assert "40.95" in f["vgg16-ge-vgg19"].evidence and "42.49" in f["vgg16-ge-vgg19"].evidence
    assert "tuned" in f["vgg16-ge-vgg19"].evidence and "tuned" not in f["vgg16-ge-vgg19"].test
    assert "not ImageNet" in f["jump-start"].evidence  # the demo says what it is an analogue of
    assert "not the larger input" in f["frozen224-flatter"].evidence


def test_every_finding_fails_on_simulated_runs_where_the_claims_are_false(tmp_path):
    f = verdicts(sim_world(FAILS, +4.0, tmp_path, rng=1))
    assert {k: v.verdict for k, v in f.items()} == {k: "does not hold" for k in ALL_IDS}


def test_every_finding_is_inconclusive_on_simulated_null_runs(tmp_path):
    f = verdicts(sim_world(SAME, 0.0, tmp_path, seeds=3, rng=0))
    assert {k: v.verdict for k, v in f.items()} == {k: "inconclusive" for k in ALL_IDS}


@pytest.fixture
def fast_holm(monkeypatch):
    """statsmodels' Holm adjustment (``multipletests``) runs ``gc.collect()`` on every call, about
    0.3 s in a process that holds torch; the loop below calls it a hundred times."""
    import gc

    monkeypatch.setattr(gc, "collect", lambda *a: 0)


def test_null_runs_are_rarely_decided(tmp_path, fast_holm):
    """20 simulated null studies of 3 seeds: of their 200 findings at most 10% are decided (alpha 0.05)."""
    decided = sum(v.verdict != "inconclusive" for k in range(20)
                  for v in verdicts(sim_world(SAME, 0.0, tmp_path / str(k), seeds=3, rng=100 + k)).values())
    assert decided <= 20


def test_one_seed_decides_nothing(tmp_path):
    res = sim_world(HOLDS, -4.0, tmp_path, seeds=1, archs=("vgg16",))
    f = verdicts(res)
    assert {v.verdict for k, v in f.items() if k != "vgg16-ge-vgg19"} == {"inconclusive"}
    # two archs x one seed: still one independent run per arm, never two "pairs"
    f2 = verdicts(sim_world(HOLDS, -4.0, tmp_path / "two", seeds=1))
    assert {v.verdict for v in f2.values()} == {"inconclusive"}


def test_claims_about_both_archs_take_one_value_per_seed(tmp_path):
    res = sim_world(HOLDS, -4.0, tmp_path, seeds=3)
    v16, v19 = res.values("vgg16-frozen", "test_acc"), res.values("vgg19-frozen", "test_acc")
    assert per_seed(res, "frozen", "test_acc") == {s: pytest.approx((v16[s] + v19[s]) / 2) for s in range(3)}
    assert list(per_seed(res, "frozen", "test_acc", ("vgg16",))) == [0, 1, 2]


def test_a_short_budget_with_rising_curves_makes_failures_inconclusive(tmp_path):
    # the runs fail every claim, but after 6 of the reference's 20 epochs their accuracy was still rising
    f = verdicts(sim_world(FAILS, +4.0, tmp_path / "short", rng=1, epochs=6))
    budgeted = ALL_IDS - {"tuned-beats-faithful-random"}  # ours: no reference budget
    for k in budgeted:
        assert f[k].verdict == "inconclusive", k
        assert "only 6 of the reference's 20 epochs" in f[k].test and "still rising" in f[k].test, k
    assert "training accuracy still rising" in f["finetune-overfits"].test  # R2: the curve of its own quantity
    assert f["tuned-beats-faithful-random"].verdict == "does not hold"
    # the same failures at the reference's 20 epochs, or with curves that stopped rising, stand
    full = verdicts(sim_world(FAILS, +4.0, tmp_path / "full", rng=1, epochs=20), epochs=20)
    assert {k: v.verdict for k, v in full.items()} == {k: "does not hold" for k in ALL_IDS}
    flat = verdicts(sim_world(FAILS, +4.0, tmp_path / "flat", rng=1, epochs=6, rising=False))
    assert {k: v.verdict for k, v in flat.items()} == {k: "does not hold" for k in ALL_IDS}
    # holding verdicts are never touched by the budget
    ok = verdicts(sim_world(HOLDS, -4.0, tmp_path / "ok", epochs=6))
    assert {v.verdict for v in ok.values()} == {"holds"}


def test_a_pretrained_run_that_did_not_learn_carries_no_verdict_on_how_it_learned(tmp_path):
    base = {**HOLDS, "imagenet": (15, 55, 65, 99, 5, 40)}  # test accuracy below chance (20%)
    f = verdicts(sim_world(base, -4.0, tmp_path))
    for fid in ("jump-start", "finetune-overfits", "frozen-smoother"):
        assert f[fid].verdict == "inconclusive" and "did not learn" in f[fid].test, fid
    assert f["vgg16-imagenet-gt-frozen-gt-random"].verdict == "does not hold"  # an ordering still is one


def test_missing_variants_are_not_checked(tmp_path):
    f = verdicts(sim_world(HOLDS, -4.0, tmp_path, inits=("random", "frozen"), archs=("vgg16",)))
    assert {k: v.verdict for k, v in f.items()} == {
        "jump-start": "not checked", "finetune-overfits": "not checked", "frozen-smoother": "not checked",
        "random-unsatisfactory": "not checked", "vgg16-ge-vgg19": "not checked", "frozen224-flatter": "not checked",
        "frozen224-ge-frozen": "not checked", "vgg16-imagenet-gt-frozen-gt-random": "not checked",
        "tuned-beats-faithful-random": "not checked"}


def test_every_finding_is_declared_with_its_rule():
    from dltour.experiments.vgg_transfer.findings import BUDGET_CURVE, FINDINGS

    assert all(d.rule is not None for d in FINDINGS.values())
    # every reference finding has a budget (its arms' accuracy curves); ours has none
    assert set(BUDGET_CURVE) == {k for k, d in FINDINGS.items() if d.ref}


def world(base, arch_gap, tmp_path, inits=tuple(HOLDS), archs=("vgg16", "vgg19"), noise=(0.3, -0.2, -0.1)):
    """Fixed results of 3 seeds per variant (for the tables): each variant's per-seed noise is a
    rotation of ``noise``."""
    runs = []
    for ai, a in enumerate(archs):
        for ii, init in enumerate(inits):
            k = ai * len(inits) + ii
            eps = np.roll(np.array(noise), k)
            for seed in range(3):
                m = {name: float(v + eps[seed]) for name, v in zip(METRICS, base[init])}
                if ai == 1:
                    m["test_acc"] += arch_gap
                m.update(infer_us=100.0 + k, infer_us_b1=200.0 + k, trainable_params=1000.0 * (ii + 1))
                runs.append(RunResult(f"{a}-{init}", seed, f"{a}-{init}-{seed}", tmp_path, m))
    return Results(runs)


def test_tables_use_the_reference_variants_and_bold_the_best(tmp_path):
    st = VGGTransferStudy()
    res = world(HOLDS, -2.0, tmp_path)
    t7, t1 = tables(res, resolve_config(st, "demo"), st.label)
    assert [r[0] for r in t7.rows] == [f"{a}-{i}" for a in ("vgg16", "vgg19")
                                       for i in ("random", "imagenet", "frozen", "frozen224")]  # no tuned
    assert (1, 3) in t7.bold  # vgg16-imagenet: best test accuracy
    assert (1, 4) in t7.bold  # the reference's best: vgg16-imagenet 58.42
    assert (0, 5) in t7.bold and (0, 7) not in t7.bold  # ours fastest: vgg16-random; the reference's: 283 us
    assert (1, 7) in t7.bold
    assert t7.rows[1][4] == "58.42" and t7.rows[2][3].startswith("55.00 ± ")
    assert [r[:2] for r in t1.rows] == [["vgg16", "CIFAR-5 pretrained (all trainable)"], ["vgg16", "Random"],
                                        ["vgg19", "CIFAR-5 pretrained (all trainable)"], ["vgg19", "Random"]]
    assert t1.bold == [(0, 3), (1, 4), (2, 3), (3, 4)]


def test_curve_metrics_by_hand():
    hist = [{"val_acc": 40.0, "train_acc": 30.0}, {"val_acc": 50.0, "train_acc": 60.0},
            {"val_acc": 45.0, "train_acc": 70.0}, {"val_acc": 55.0, "train_acc": 90.0}]
    m = curve_metrics(hist)
    assert m["val_acc_epoch1"] == 40.0 and m["val_acc_auc"] == pytest.approx(47.5)
    assert m["val_acc_change_sd"] == pytest.approx(np.std([10, -5, 10], ddof=1))
    assert m["train_acc_rise"] == 60.0
    assert set(curve_metrics(hist[:1])) == {"val_acc_epoch1", "val_acc_auc"}  # no NaN for undefined measures


@pytest.mark.parametrize("old, new", [("dataset", "data.source"), ("classes", "data.classes"),
                                      ("class_names", "data.class_names"), ("train_per_class", "data.train_per_class"),
                                      ("val_per_class", "data.val_per_class"), ("test_per_class", "data.test_per_class"),
                                      ("weights_dir", "data.imagenet_weights_dir")])
def test_old_keys_name_their_new_key(old, new):
    with pytest.raises(DltourError, match=f"did you mean (.*, )?{new}") as e:  # the new key among the suggestions
        resolve_config(VGGTransferStudy(), "smoke", {old: "x"})
    assert "\n" not in str(e.value)


def test_every_config_field_is_documented():
    from dltour.config import describe_fields

    rows = describe_fields(resolve_config(VGGTransferStudy(), "demo"))
    assert {"data.path", "data.source", "data.classes", "data.train_per_class", "data.val_per_class",
            "data.test_per_class", "data.imagenet_weights_dir"} <= {r[0] for r in rows}
    assert all(r[4] for r in rows), [r[0] for r in rows if not r[4]]


def test_a_missing_data_path_gets_its_own_one_line_error(tmp_path):
    st = VGGTransferStudy()
    with pytest.raises(DataUnavailable, match="data.path .*nowhere.* does not exist") as e:
        st.splits(cfg_with(st, **{**TINY, "data.path": str(tmp_path / "nowhere")}))
    assert "\n" not in str(e.value) and "tiny-imagenet-200.zip" not in str(e.value)


def test_run_and_bench_train_with_the_same_step(step_calls):
    from dltour.experiments.vgg_transfer import science as mod

    st = VGGTransferStudy()
    cfg = resolve_config(st, "smoke")
    ran, benched, _ = step_calls(mod, st, cfg)
    assert ran > 0
    assert benched > 0



def test_check_model_trains_what_run_trains():
    st = VGGTransferStudy()
    cfg = resolve_config(st, "demo")
    for v in st.variants(cfg):
        assert math.isfinite(st.check_model(cfg, v))


# ---------------------------------------------------------------- the demo's pretrained nets
def test_demo_weights_are_pinned_and_load_into_the_demo_nets(tmp_path):
    from dltour.models.vgg import VGGTransfer

    st = VGGTransferStudy()
    cfg = resolve_config(st, "demo")
    for arch in ("vgg16", "vgg19"):
        sd = vgg_pretrain.load_pretrained(arch)
        m = st.make_model(cfg, f"{arch}-frozen224", 5)
        loaded = m.load_imagenet(sd, fc=True)
        assert "classifier.0.weight" in loaded and "classifier.3.weight" in loaded
        assert not any(k.startswith("classifier.6.") for k in loaded)  # the source's classes are not the target's
        conv_only = st.make_model(cfg, f"{arch}-imagenet", 5).load_imagenet(sd, fc=False)
        assert conv_only and all(k.startswith("features.") for k in conv_only)
        assert isinstance(m, VGGTransfer) and m.width == 1 / 16
    info = vgg_pretrain.pretrained_info()
    assert info["sha256"] == vgg_pretrain.PRETRAINED_SHA256
    assert all(info[a]["source_test_acc"] > 0.4 for a in ("vgg16", "vgg19"))  # the source task was learned (chance 0.2)
    tampered = tmp_path / "w.pt"
    tampered.write_bytes(vgg_pretrain.pretrained_path().read_bytes() + b"x")
    with pytest.raises(DataUnavailable, match="not the pinned"):
        vgg_pretrain.load_pretrained("vgg16", tampered)
    with pytest.raises(DataUnavailable, match="missing"):
        vgg_pretrain.load_pretrained("vgg16", tmp_path / "none.pt")
    assert set(cfg.data.class_names).isdisjoint(vgg_pretrain.SOURCE_CLASSES)  # transfer to classes never seen


def test_pretraining_runs_on_the_source_classes_only():
    from dltour.data.images import ImageSet
    from dltour.models.vgg import VGGTransfer

    rng = np.random.default_rng(0)
    classes = list(vgg_pretrain.SOURCE_CLASSES + vgg_pretrain.TARGET_CLASSES)
    y = np.repeat(np.arange(10), 2)
    d = {s: ImageSet(rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8), y, classes) for s in ("train", "test")}
    src = vgg_pretrain.source_split(d)
    assert len(src["train"][1]) == 10 and set(src["train"][1].tolist()) == {0, 1, 2, 3, 4}  # target classes out
    pretrain = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "build_demo_pack.py"))["pretrain"]
    sd, info = pretrain("vgg16", *src["train"], *src["test"], epochs=1, batch=5, log=lambda s: None)
    assert 0 <= info["source_test_acc"] <= 1 and info["n_train"] == 10 and len(info["history"]) == 1
    net = VGGTransfer("vgg16_bn", 5, 32, width=vgg_pretrain.WIDTH, fc_width=vgg_pretrain.FC_WIDTH)
    assert net.load_imagenet(sd, fc=True)  # the demo nets take the pretrained state dict by name
