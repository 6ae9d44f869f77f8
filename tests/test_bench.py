"""bench.endless: the one endless-batches helper every study's bench reads from."""

import itertools

import pytest

from dltour.bench import endless


def test_endless_runs_epoch_after_epoch():
    seen = list(itertools.islice(endless(lambda e: [(e, i) for i in range(3)]), 7))
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]


def test_endless_refuses_an_empty_epoch():
    with pytest.raises(ValueError, match="no batch"):
        next(endless(lambda e: []))


def test_measure_training_counts_the_samples_each_batch_holds():
    # a short batch counts as what it holds, not as a whole batch
    import torch

    from dltour.bench import measure_training
    from dltour.device import resolve_device

    dev = resolve_device("cpu", "fp32")
    seen = []

    def step(x):
        seen.append(len(x))

    real = endless(lambda e: [(torch.zeros(4),), (torch.zeros(4),), (torch.zeros(1),)])  # 9 samples an epoch
    out = measure_training(step, real, (torch.zeros(4),), 4, dev, steps=6, warmup=0)
    assert seen[:6] == [4, 4, 1, 4, 4, 1] and seen[6:12] == [4] * 6
    e2e, comp = out["end_to_end_samples_per_s"], out["compute_only_samples_per_s"]
    assert e2e > 0 and comp > 0 and out["ratio"] == pytest.approx(e2e / comp)
    assert out["host_syncs_per_step"] is None  # only measured on CUDA


def test_the_sample_count_reaches_the_rate(monkeypatch):
    # with a frozen clock of 1 s per timed loop, the rate is exactly the samples counted
    import torch

    from dltour import bench
    from dltour.device import resolve_device

    ticks = iter(range(100))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: float(next(ticks)))
    real = endless(lambda e: [(torch.zeros(4),), (torch.zeros(1),)])
    out = bench.measure_training(lambda x: None, real, (torch.zeros(4),), 4, resolve_device("cpu", "fp32"),
                                 steps=4, warmup=0)
    assert out["end_to_end_samples_per_s"] == 10.0 and out["compute_only_samples_per_s"] == 16.0


def test_the_timed_window_is_stretched_to_its_seconds_and_repeated():
    """A window shorter than ``seconds`` gets more steps; ``repeats`` windows give a median and a
    min..max spread (50 steps of a small model last a fraction of a second: too short to be stable)."""
    import time

    import torch

    from dltour.bench import WINDOW, measure_training, timing_window
    from dltour.device import resolve_device

    dev = resolve_device("cpu", "fp32")

    def step(x):
        time.sleep(0.002)

    real = endless(lambda e: [(torch.zeros(4),)] * 5)
    with timing_window(0.1, 3):
        out = measure_training(step, real, (torch.zeros(4),), 4, dev, steps=5, warmup=0)
    assert WINDOW == {"seconds": 0.0, "repeats": 1}  # restored after the block
    # 5 steps of >= 2 ms last >= 10 ms: scaled to reach 0.1 s, i.e. at least 5 * 0.1 / t >= 25 steps
    # (t is measured, so a bound, not an exact count), and 3 windows timed per loop
    assert out["steps"] >= 25 and out["windows"] == 3
    for key in ("end_to_end", "compute_only"):
        lo, hi = out[f"{key}_spread"]
        assert lo <= out[f"{key}_samples_per_s"] <= hi
        assert hi < 4 / 0.002 * 1.01  # no window faster than the sleep allows
    # the default: one window of exactly the steps asked for
    out = measure_training(step, real, (torch.zeros(4),), 4, dev, steps=5, warmup=0)
    assert out["steps"] == 5 and out["windows"] == 1


def test_a_configuration_with_no_benchable_variant_is_one_line(monkeypatch):
    """The generic default variant of ``dltour bench``: the first the study can time; none is one
    ``DltourError`` line naming the variants, not a StopIteration."""
    import pytest

    from dltour.config import resolve_config
    from dltour.errors import DltourError
    from dltour.registry import get_study

    st = get_study("char-textgen")
    cfg = resolve_config(st, "smoke")
    assert st.bench_default(cfg) == st.variants(cfg)[0]
    monkeypatch.setattr(type(st), "benchable", lambda self, v: False)
    with pytest.raises(DltourError, match="none of the variants this configuration runs .* can be benched"):
        st.bench_default(cfg)
