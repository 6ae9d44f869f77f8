"""--precision: what it resolves to, and that runs record it and keep it apart from auto runs."""

import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.device import resolve_device
from dltour.runner.executors import LocalExecutor
from dltour.runner.ledger import Ledger
from dltour.registry import get_study
from dltour.runner.driver import run_study
from dltour.runner.plan import run_id_for


def test_precision_resolves():
    assert resolve_device("cpu", "auto").precision == "fp32"  # auto: bf16 on CUDA only
    assert resolve_device("cpu", "fp32").amp_dtype is None
    assert resolve_device("cpu", "bf16").amp_dtype is torch.bfloat16
    assert resolve_device("cpu", "bf16").with_precision("fp32").precision == "fp32"
    with pytest.raises(DltourError, match="unknown precision 'fp16'"):
        resolve_device("cpu", "fp16")
    if torch.cuda.is_available():
        assert resolve_device("cuda", "fp32").amp_dtype is None
        assert resolve_device("cuda", "auto").precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")


def test_explicit_precision_is_recorded_and_not_reused(tmp_path):
    st = get_study("airline-lstm")
    cfg = resolve_config(st, "smoke", {"epochs": 2, "windows": [3]})
    assert run_id_for(st, cfg, "w3", 0) != run_id_for(st, cfg, "w3", 0, "bf16") != run_id_for(st, cfg, "w3", 0, "fp32")
    auto = run_study(st, cfg, "smoke", tmp_path, LocalExecutor(), "cpu", "auto", progress=False, log=lambda s: None)
    bf16 = run_study(st, cfg, "smoke", tmp_path, LocalExecutor(), "cpu", "bf16", progress=False, log=lambda s: None)
    assert auto["precisions"] == ["fp32"] and bf16["precisions"] == ["bf16"]
    rows = Ledger(tmp_path / "ledger.sqlite").rows()
    assert sorted(r["precision"] for r in rows) == ["bf16", "fp32"]  # two runs: bf16 was computed, not reused
