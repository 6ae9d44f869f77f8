"""T2.3 char-textgen: windows, the streamed validation loss, greedy generation, corpora and a smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.experiments.char_textgen import CharTextgen, findings, random_windows, split_text, stream_loss
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


def test_split_text_on_a_got_csv(tmp_path):
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
    full = tmp_path / "full.csv"
    full.write_text("Release Date,Season,Episode,Episode Title,Name,Sentence\n" + "".join(
        f'2011-04-17,Season {k},Episode 1,Title,jaime,"Line of season {k}."\n' for k in range(1, 9)))
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
    from dltour.runs import run_study

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
    from dltour.experiments import char_textgen as mod

    torch.set_num_threads(1)
    study = CharTextgen()
    cfg = resolve_config(study, "smoke", {"steps_per_epoch": 3, "epochs": 1})
    ran, benched, _ = step_calls(mod, study, cfg)
    assert ran == 3
    assert benched > 0



def test_check_model_runs_the_training_loss_on_a_made_up_batch():
    import math

    study = CharTextgen()
    cfg = resolve_config(study, "smoke")
    assert math.isfinite(study.check_model(cfg, study.variants(cfg)[0]))


# ---------------------------------------------------------------- findings: holds / does not hold / inconclusive
TEMPS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


def _samples(measure, bleu, seeds=3):
    """Hand-made samples.json contents: ``measure(key, t, seed)`` per measure, ``bleu(t, seed)`` a
    list of sentence BLEU values per temperature."""
    out = []
    for s in range(seeds):
        rows = []
        for t in TEMPS:
            sb = list(bleu(t, s))
            rows.append({"temperature": t, "bleu": float(np.mean(sb)), "sentence_bleu": sb,
                         **{k: measure(k, t, s) for k in ("distinct2", "ngram_bpc", "mean_word_len", "common_words",
                                                          "in_vocab_words")}})
        out.append({"sweep": rows})
    return out


RISING = {"distinct2": 1, "ngram_bpc": 1, "mean_word_len": 1, "common_words": -1, "in_vocab_words": -1}
LEARNED = ({0: 2.7, 1: 2.72, 2: 2.69}, 4.8)  # held-out bits/char per seed, unigram baseline


def _verdicts(samples, learned=LEARNED):
    return {f.id: f.verdict for f in findings(samples, *learned)}


def test_every_finding_holds_on_samples_made_to_hold():
    rng = np.random.default_rng(0)
    smp = _samples(lambda k, t, s: 1 + RISING[k] * t * 0.4 + 0.01 * s, lambda t, s: rng.uniform(0, 5, 300))
    assert set(_verdicts(smp).values()) == {"holds"}, _verdicts(smp)


def test_every_finding_fails_on_samples_made_to_fail():
    rng = np.random.default_rng(0)
    smp = _samples(lambda k, t, s: 1 - RISING[k] * t * 0.4 + 0.01 * s, lambda t, s: t * 10 + rng.uniform(0, 1, 300))
    assert set(_verdicts(smp).values()) == {"does not hold"}, _verdicts(smp)


def test_every_finding_is_inconclusive_without_a_trend_and_with_all_zero_bleu():
    wiggle = {0.0: 1.0, 0.25: 3.0, 0.5: 2.0, 0.75: 4.0, 1.0: 2.0, 1.25: 3.0, 1.5: 1.0}  # no rank trend
    cross = {(0, 0.0): 1.0, (0, 1.0): 2.0, (1, 0.0): 2.5, (1, 1.0): 1.0, (2, 0.0): 1.5, (2, 1.0): 1.6}  # T=0 vs 1
    smp = _samples(lambda k, t, s: cross.get((s, t), wiggle[t]),
                   lambda t, s: [0.0] * 40)  # BLEU all zero: nothing measured, never "no correlation"
    got = _verdicts(smp)
    assert set(got.values()) == {"inconclusive"}, got
    f = {f.id: f for f in findings(smp, *LEARNED)}["bleu-no-correlation"]
    assert "constant" in f.test


def test_a_model_worse_than_the_unigram_baseline_carries_no_verdict():
    rng = np.random.default_rng(0)
    smp = _samples(lambda k, t, s: 1 + RISING[k] * t * 0.4 + 0.01 * s, lambda t, s: rng.uniform(0, 5, 300))
    got = _verdicts(smp, ({0: 4.9, 1: 5.0, 2: 4.95}, 4.8))
    assert set(got.values()) == {"inconclusive"}, got
