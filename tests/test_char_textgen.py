"""T2.3 char-textgen: windows, the streamed validation loss, greedy generation, corpora and a smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.experiments.char_textgen import CharTextgen
from dltour.experiments.char_textgen.science import random_windows, split_text, stream_loss
from dltour.experiments.char_textgen.findings import findings
from dltour.models.text import CharLSTM, generate


def test_random_windows_targets_are_next_characters():
    data = torch.arange(1000)
    x, y = random_windows(data, 8, 20, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 20)
    assert torch.equal(y, x + 1)
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)


def test_stream_loss_with_one_stream_equals_the_full_sequence_loss():
    torch.manual_seed(0)
    m = CharLSTM(7, embed=4, hidden=6).eval()
    data = torch.randint(0, 7, (251,))
    with torch.no_grad():
        logits, _ = m(data[None, :-1])
        want = torch.nn.functional.cross_entropy(logits[0], data[1:]).item()
    assert stream_loss(m, data, seq_len=17, streams=1) == pytest.approx(want, rel=1e-5)


def test_greedy_generation_is_stepwise_argmax():
    torch.manual_seed(0)
    m = CharLSTM(5, embed=3, hidden=4).eval()
    prompt = torch.tensor([[1, 2, 3]])
    out = generate(m, prompt, 6, 0.0)
    seq = prompt[0].tolist()
    for _ in range(6):
        with torch.no_grad():
            logits, _ = m(torch.tensor([seq]))
        seq.append(int(logits[0, -1].argmax()))
    assert out[0].tolist() == seq[3:]
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(generate(m, prompt, 10, 1.0, g1), generate(m, prompt, 10, 1.0, g2))


def test_split_text_on_a_got_csv(tmp_path, monkeypatch):
    csv_path = tmp_path / "Game_of_Thrones_Script.csv"
    rows = "".join(f'2011-04-17,Season 1,Episode 1,Winter Is Coming,jaime,"Line number {i} of the script."\n'
                   for i in range(200))
    csv_path.write_text("Release Date,Season,Episode,Episode Title,Name,Sentence\n" + rows)
    study = CharTextgen()
    cfg = resolve_config(study, "smoke", {"data.corpus": "got", "data.path": str(csv_path)})
    chars, train, val, train_text, val_text = split_text(cfg)
    assert train_text.startswith("JAIME: Line number 0")
    assert len(train) + len(val) == len(train_text) + len(val_text)
    assert len(val) == pytest.approx(0.1 * (len(train) + len(val)), abs=1)
    assert "".join(chars[i] for i in train[:5].tolist()) == "JAIME"
    # one season is not the reference's corpus; all eight seasons with the scripts' columns are
    c = study.comparison(cfg)
    assert not c.data and "lacks season(s) 2, 3, 4, 5, 6, 7, 8" in c.why
    from dltour.data import corpora

    monkeypatch.setattr(corpora, "GOT_ROWS", 8)  # the fixture stands in for the Kaggle file's 23,911 rows
    full = tmp_path / "full.csv"  # Kaggle's layout: a leading unnamed index column
    full.write_text(",Release Date,Season,Episode,Episode Title,Name,Sentence\n" + "".join(
        f'{k - 1},2011-04-17,Season {k},Episode 1,Title,jaime,"Line of season {k}."\n' for k in range(1, 9)))
    c = study.comparison(resolve_config(study, "full", {"data.path": str(full)}))
    assert c.data and c.budget and c.ok
    demo = study.comparison(resolve_config(study, "demo"))
    assert not demo.data and "tinyshakespeare instead of the Game of Thrones scripts" in demo.why
    missing = study.comparison(resolve_config(study, "full", {"data.path": str(tmp_path / "nope.csv")}))
    assert not missing.data and "cannot be checked" in missing.why


def test_bad_inputs_are_clear(tmp_path):
    study = CharTextgen()
    with pytest.raises(DltourError, match="include the table temperatures") as e:  # refused up front
        resolve_config(study, "smoke", {"temperatures": [0.5, 1.0]})
    assert "\n" not in str(e.value)
    with pytest.raises(DltourError, match="temperatures"):
        resolve_config(study, "smoke", {"temperatures": [-0.5, 0.0, 0.5, 1.0]})
    with pytest.raises(DltourError, match="corpus"):
        resolve_config(study, "smoke", {"data.corpus": "shakespeare"})
    short = tmp_path / "short.txt"
    short.write_text("too short")
    with pytest.raises(DltourError, match="too short"):
        split_text(resolve_config(study, "smoke", {"data.corpus": "text", "data.path": str(short)}))


def test_smoke_run_writes_table3_figure4_and_findings(tmp_path):
    from dltour.runner.driver import run_study

    # one thread: the smoke tensors are tiny, and on a loaded 2-core machine two OpenMP threads
    # spin-wait (measured: a BiLSTM step 10x slower with 2 threads than with 1 under load)
    torch.set_num_threads(1)  # the autouse conftest fixture sets it again for the next test

    study = CharTextgen()
    cfg = resolve_config(study, "smoke")
    summary = run_study(study, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    (variant, m), = summary["metrics"].items()
    assert m["val_bpc"]["mean"] == pytest.approx(m["val_loss_nats"]["mean"] / 0.6931471805599453)
    assert {"bleu_t0", "bleu_t0.5", "bleu_t1", "distinct2_t1"} <= set(m)
    assert (tmp_path / "char-textgen" / "fig4_bleu_vs_temperature.png").exists()
    assert [r[0] for r in summary["tables"][0]["rows"]] == ["seed text", "0.0", "0.5", "1.0"]
    assert [r[0] for r in summary["tables"][1]["rows"]] == ["0", "0.5", "1"]
    refs = {f["id"]: f["ref"] for f in summary["findings"]}
    assert refs == {"low-temp-predictable-common-words": "R21", "ngram-bpc-tracks-temperature": "R22",
                    "distinct2-tracks-temperature": "R22", "high-temp-less-meaningful": "R22",
                    "bleu-no-correlation": "R23", "greedy-loops": None}
    assert all(f["test"] and not f["test"].startswith("LEGACY") for f in summary["findings"])
    assert any("tok:13a" in n for n in summary["notes"])


@pytest.mark.parametrize("old, new", [("data_source", "data.source"), ("corpus", "data.corpus")])
def test_old_keys_name_their_new_key(old, new):
    with pytest.raises(DltourError, match=f"did you mean {new}") as e:
        resolve_config(CharTextgen(), "smoke", {old: "x"})
    assert "\n" not in str(e.value)


def test_every_config_field_is_documented():
    from dltour.config import describe_fields

    rows = describe_fields(resolve_config(CharTextgen(), "demo"))
    assert {"data.path", "data.source", "data.corpus"} <= {r[0] for r in rows}
    assert all(r[4] for r in rows), [r[0] for r in rows if not r[4]]


@pytest.mark.parametrize("corpus", ["got", "tinyshakespeare", "text"])
def test_a_missing_path_gets_its_own_one_line_error(tmp_path, corpus):
    from dltour.data.source import DataUnavailable

    cfg = resolve_config(CharTextgen(), "smoke", {"data.corpus": corpus, "data.path": str(tmp_path / "nowhere.txt")})
    with pytest.raises(DataUnavailable, match="data.path .*nowhere.txt.* does not exist") as e:
        split_text(cfg)
    assert "\n" not in str(e.value) and "http" not in str(e.value)


def test_run_and_bench_train_with_the_same_step(step_calls):
    from dltour.experiments.char_textgen import science as mod

    torch.set_num_threads(1)
    study = CharTextgen()
    cfg = resolve_config(study, "smoke", {"steps_per_epoch": 3, "epochs": 1})
    ran, benched, _ = step_calls(mod, study, cfg)
    assert ran == 3
    assert benched > 0



def test_check_model_runs_the_training_loss_on_the_first_two_samples_of_the_pipeline():
    import math

    study = CharTextgen()
    cfg = resolve_config(study, "smoke")
    assert math.isfinite(study.check_model(cfg, study.variants(cfg)[0]))


# ---------------------------------------------------------------- findings: holds / does not hold / inconclusive
# Simulated runs: each seed's sample measures over the temperatures, seeded numpy noise around a true trend
# (the demo's sizes: 3-gram bits/char 2.1 -> 4.7, word length 3.4 -> 4.7, distinct-2 0.02 -> 1), through
# the study's own ``findings``.
TEMPS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
IDS = ["low-temp-predictable-common-words", "ngram-bpc-tracks-temperature", "distinct2-tracks-temperature",
       "high-temp-less-meaningful", "bleu-no-correlation", "greedy-loops"]


def _measures(t, sign, g):
    """One seed's measures at temperature t; ``sign`` +1: the reference's direction, -1 reversed, 0 no trend."""
    return {"ngram_bpc": 3.3 + sign * 1.8 * (t - 0.75) + g.normal(0, 0.1),
            "mean_word_len": 4.0 + sign * 0.9 * (t - 0.75) + g.normal(0, 0.15),
            "common_words": 0.5 - sign * 0.35 * (t - 0.75) + g.normal(0, 0.05),
            "distinct2": float(1 / (1 + np.exp(-sign * 6 * (t - 0.4)))) if sign else 0.7 + g.normal(0, 0.1),
            "in_vocab_words": 0.65 - sign * 0.45 * (t - 0.75) + g.normal(0, 0.01)}


def _samples(sign=1, bleu=lambda t, g: 5.0 + g.normal(0, 0.3), seeds=6, rng=0):
    """Hand-made samples.json contents of ``seeds`` runs: the measures of :func:`_measures`, and
    ``bleu(t, g)`` the corpus BLEU at temperature t."""
    g = np.random.default_rng(rng)
    out = []
    for _ in range(seeds):
        rows = [{"temperature": t, "bleu": float(bleu(t, g)), "sentence_bleu": [], **_measures(t, sign, g)}
                for t in TEMPS]
        out.append({"sweep": rows})
    return out


LEARNED = ({s: 2.7 + 0.01 * s for s in range(6)}, 4.8)  # held-out bits/char per seed, unigram baseline


def _found(samples, learned=LEARNED):
    return {f.id: f for f in findings(samples, *learned)}


def _verdicts(samples, learned=LEARNED):
    return {k: f.verdict for k, f in _found(samples, learned).items()}


def test_every_finding_holds_on_runs_simulated_to_hold():
    # the reference's picture, BLEU flat around 5 points (above its floor) with seed noise
    got = _found(_samples())
    assert {k: f.verdict for k, f in got.items()} == dict.fromkeys(IDS, "holds"), {k: f.test for k, f in got.items()}
    f = got["bleu-no-correlation"]
    assert "TOST of the mean per-run OLS slope (n=6 runs)" in f.test
    assert f.stats["margin"] == pytest.approx(1 / 1.5) and "Mathur" in f.stats["margin_source"]
    assert f.stats["unit"] == "BLEU points per unit of temperature" and f.stats["n_runs"] == 6
    assert "n=6 runs" in got["ngram-bpc-tracks-temperature"].test


def test_every_finding_fails_on_runs_simulated_to_fail():
    # every trend reversed, and BLEU rising 4 points per unit of temperature (6 points across the sweep)
    got = _verdicts(_samples(sign=-1, bleu=lambda t, g: 2.0 + 4.0 * t + g.normal(0, 0.5)))
    assert got == dict.fromkeys(IDS, "does not hold"), got


def test_too_few_runs_decide_nothing():
    got = _verdicts(_samples(seeds=1), ({0: 2.7}, 4.8))
    assert got == dict.fromkeys(IDS, "inconclusive"), got


def test_no_trend_and_a_bleu_at_its_floor_are_undecided():
    # no trend in any measure (noise only), BLEU at its floor (0.1-0.4 points, as the demo's): nothing decided
    got = _found(_samples(sign=0, bleu=lambda t, g: 0.25 + g.normal(0, 0.05), seeds=3, rng=1),
                 ({s: 2.7 for s in range(3)}, 4.8))
    for fid in ("ngram-bpc-tracks-temperature", "distinct2-tracks-temperature", "high-temp-less-meaningful",
                "bleu-no-correlation", "low-temp-predictable-common-words", "greedy-loops"):
        assert got[fid].verdict == "inconclusive", (fid, got[fid].test)
    assert "floor" in got["bleu-no-correlation"].test and "alone said 'holds'" in got["bleu-no-correlation"].test


def test_an_all_zero_bleu_is_never_no_correlation():
    f = _found(_samples(bleu=lambda t, g: 0.0))["bleu-no-correlation"]
    assert f.verdict == "inconclusive" and "constant" in f.test


def test_bleu_with_too_much_seed_noise_is_undecided():
    # BLEU about 5 points, each seed with its own tilt: the mean slope is not pinned inside ±0.67 a unit of T
    g = np.random.default_rng(3)
    tilt = g.normal(0, 1.2, 3)
    smp = _samples(seeds=3)
    for s, run in enumerate(smp):
        for row in run["sweep"]:
            row["bleu"] = 5.0 + tilt[s] * (row["temperature"] - 0.75) + g.normal(0, 0.3)
    assert _verdicts(smp, ({s: 2.7 for s in range(3)}, 4.8))["bleu-no-correlation"] == "inconclusive"


def test_perfectly_monotone_runs_need_six_seeds():
    # every seed's distinct-2 rises perfectly with T: the per-seed rhos tie at +1, so the exact sign test decides;
    # 3 seeds give at best p = 0.25 (the demo runs 6: p = 0.031)
    three = _found(_samples(seeds=3), ({s: 2.7 for s in range(3)}, 4.8))["distinct2-tracks-temperature"]
    assert three.verdict == "inconclusive" and "exact sign test" in three.test and "more seeds needed" in three.test
    assert _found(_samples())["distinct2-tracks-temperature"].verdict == "holds"
    from dltour.config import resolve_config

    assert resolve_config(CharTextgen(), "demo").seeds == 6


def test_trends_are_decided_per_run_not_over_pooled_points():
    # 6 runs, each with a small rise buried in its own level: pooled points would count 42 "independent"
    # points; the finding counts the 6 runs
    f = _found(_samples())["ngram-bpc-tracks-temperature"]
    assert "n=6 runs" in f.test and f.stats["n_runs"] == 6 and "pooled" not in f.test


def test_a_model_worse_than_the_unigram_baseline_carries_no_verdict():
    got = _verdicts(_samples(), ({s: 4.9 + 0.01 * s for s in range(6)}, 4.8))
    assert set(got.values()) == {"inconclusive"}, got


def test_every_finding_is_declared_with_its_rule():
    # claims as data: findings() only assembles the runs, the declarations decide
    from dltour.experiments.char_textgen import findings as ft

    assert all(d.rule is not None for d in ft.FINDINGS.values())
    smp = _samples(seeds=2)
    smp[1]["sweep"] = [r for r in smp[1]["sweep"] if r["temperature"] != 1.0]  # run 1 lacks T = 1
    runs = ft.runs_of(smp, {0: 2.7, 1: 2.7}, 4.8)
    temps, y = runs.curves("distinct2")
    assert temps == TEMPS and runs.seeds == (0, 1) and np.isnan(y[1][TEMPS.index(1.0)])
    assert _verdicts(smp, ({0: 2.7, 1: 2.7}, 4.8))["greedy-loops"] == "not checked"
