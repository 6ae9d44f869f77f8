"""scripts/table6_neighbourhood.py: each VAE's Table 6 values judged within ±10% (issue 13)."""

import importlib.util
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "table6_neighbourhood.py"


def load():
    spec = importlib.util.spec_from_file_location("table6_neighbourhood", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_within_under_both_judges_only_when_both_hold(monkeypatch, capsys):
    mod = load()
    rows = []
    for s, jitter in enumerate((-0.01, 0.0, 0.01)):
        # vae-z2 at its reference IS under both judges; vae-z20 at it under judge 1 only; MAE 20% off for vae-z20
        rows.append({"study": "mnist-generative", "variant": "vae-z2", "seed": s, "inception_score": 4.42 + jitter,
                     "inception_score_mlp": 4.42 - jitter, "test_mae": 0.101 + jitter / 100})
        rows.append({"study": "mnist-generative", "variant": "vae-z20", "seed": s, "inception_score": 5.88 + jitter,
                     "inception_score_mlp": 7.5 + jitter, "test_mae": 0.041 * 1.2 + jitter / 100})
    monkeypatch.setattr(mod.dltour, "results", lambda out: pd.DataFrame(rows))
    mod.main("OUT")
    out = capsys.readouterr().out
    assert "vae-z2 IS under both judges: within" in out
    assert "vae-z20 inception_score: " in out and "vae-z20 IS under both judges: not shown within" in out
    assert "vae-z20 test_mae: 0.0492 vs 0.041 -> does not hold" in out
    assert "vae-z2-extra: no runs in OUT" in out
