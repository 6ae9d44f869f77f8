"""T2.2 imdb-embeddings: batching, the model, GloVe initialisation, bad inputs and a smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.data import imdb
from dltour.data.source import DataUnavailable
from dltour.experiments.imdb_embeddings import (ImdbEmbeddings, bucketed_batches, embedding_measures, findings,
                                                 history_measures)
from dltour.models.text import BiLSTMClassifier
from dltour.registry import RunResult, get_study
from dltour.perseed import Results


def test_bucketed_batches_cover_each_index_once_and_group_lengths():
    lengths = torch.tensor(np.random.default_rng(0).integers(1, 200, 1000))
    b = bucketed_batches(lengths, 32, seed=3, epoch=1, pool=10)
    flat = torch.cat(b)
    assert sorted(flat.tolist()) == list(range(1000))
    again = bucketed_batches(lengths, 32, seed=3, epoch=1, pool=10)
    assert all(torch.equal(x, y) for x, y in zip(b, again))
    assert not torch.equal(torch.cat(bucketed_batches(lengths, 32, seed=3, epoch=2, pool=10)), flat)
    # within a batch, lengths are close: padding is far less than in random batches
    pad_bucketed = sum(int(lengths[i].max() * len(i) - lengths[i].sum()) for i in b)
    rand = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).split(32)
    pad_random = sum(int(lengths[i].max() * len(i) - lengths[i].sum()) for i in rand)
    assert pad_bucketed < 0.2 * pad_random


def test_bilstm_ignores_padding_and_counts_parameters():
    torch.manual_seed(0)
    m = BiLSTMClassifier(50, embed_dim=8, units=5).eval()
    ids = torch.tensor([[4, 7, 9]])
    padded = torch.tensor([[4, 7, 9, 0, 0, 0]])
    with torch.no_grad():
        a = m(ids, torch.tensor([3]))
        b = m(padded, torch.tensor([3]))
    assert torch.allclose(a, b, atol=1e-6)
    # embedding 50*8 + per direction 4*5*(8+5) + 2*4*5 biases, twice + head 2*5+1
    assert sum(p.numel() for p in m.parameters()) == 50 * 8 + 2 * (4 * 5 * 13 + 40) + 11


def test_reference_sized_model_and_frozen_variant():
    study = get_study("imdb-embeddings")
    cfg = resolve_config(study, "full")
    m = study.build_model(cfg, "glove-frozen")
    total = sum(p.numel() for p in m.parameters())
    trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
    emb = 20002 * 300
    lstm = 2 * (4 * 100 * (300 + 100) + 2 * 4 * 100)
    assert total == emb + lstm + 201
    assert trainable == lstm + 201
    m2 = study.build_model(cfg, "glove")
    assert sum(p.numel() for p in m2.parameters() if p.requires_grad) == total


def test_glove_init_copies_rows_and_reports_coverage(tmp_path):
    txt = tmp_path / "g.3d.txt"
    txt.write_text("good 1 2 3\nbad -1 -2 -3\n")
    study = ImdbEmbeddings()
    cfg = resolve_config(study, "smoke", {"data.glove_path": str(txt), "glove_dim": 3})
    vocab = imdb.Vocab(["good", "film", "bad"])
    mat, cov = study.init_matrix(cfg, vocab, seed=0)
    assert mat.shape == (5, 3)
    assert mat[0].tolist() == [0, 0, 0]
    assert mat[2].tolist() == [1, 2, 3] and mat[4].tolist() == [-1, -2, -3]
    assert np.all(np.abs(mat[3]) <= 0.05) and np.any(mat[3] != 0)  # missing word: U(-0.05, 0.05)
    assert cov == {"glove_coverage": pytest.approx(2 / 3), "glove_words_found": 2}
    m = BiLSTMClassifier(5, 3, 4, init=mat, freeze=True)
    assert torch.equal(m.embedding.weight.detach(), torch.as_tensor(mat))
    assert not m.embedding.weight.requires_grad


def test_bad_inputs_are_clear():
    study = ImdbEmbeddings()
    with pytest.raises(DltourError, match="variants"):
        resolve_config(study, "smoke", {"variants": ["glovee"]})
    with pytest.raises(DltourError, match="variants"):  # refused when the config is resolved
        resolve_config(study, "smoke", {"variants": []})
    # the embedded GloVe rows are 50d: asking for 300d says so
    cfg = resolve_config(study, "smoke", {"glove_dim": 300})
    with pytest.raises(DataUnavailable, match="holds 50-dimensional vectors, not 300"):
        study.init_matrix(cfg, imdb.Vocab(["the"]), 0)


def test_comparison_checks_data_by_checksum_and_the_budget(tmp_path):
    study = ImdbEmbeddings()
    full = study.comparison(resolve_config(study, "full"))
    assert full.data and full.budget and full.ok
    demo = study.comparison(resolve_config(study, "demo"))
    assert not demo.data and not demo.budget
    assert "embedded demo subset" in demo.why and "epochs 6 < 10" in demo.why and "train_subset 2000" in demo.why
    c = study.comparison(resolve_config(study, "full", {"glove_dim": 50}))
    assert not c.data and c.budget and "GloVe 50d instead of 300d" in c.why
    fake = tmp_path / "aclImdb_v1.tar.gz"  # the right name is not the right data
    fake.write_bytes(b"not the archive")
    c = study.comparison(resolve_config(study, "full", {"data.path": str(fake)}))
    assert not c.data and "does not match the checksum" in c.why
    c = study.comparison(resolve_config(study, "full", {"data.path": str(tmp_path)}))
    assert not c.data and "folder" in c.why


def test_smoke_run_writes_curves_table_and_findings(tmp_path):
    from dltour.runs import run_study

    # one thread: the smoke tensors are tiny, and on a loaded 2-core machine two OpenMP threads
    # spin-wait (measured: a BiLSTM step 10x slower with 2 threads than with 1 under load)
    torch.set_num_threads(1)  # the autouse conftest fixture sets it again for the next test

    study = ImdbEmbeddings()
    cfg = resolve_config(study, "smoke")
    summary = run_study(study, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    assert set(summary["metrics"]) == {"random", "glove", "glove-frozen"}
    for v in summary["metrics"].values():
        assert 0 <= v["test_acc"]["mean"] <= 1
    assert summary["metrics"]["glove"]["glove_coverage"]["mean"] > 0.9
    assert (tmp_path / "imdb-embeddings" / "fig3_accuracy_curves.png").exists()
    table = summary["tables"][0]
    assert table["header"][0] == "initialisation"
    assert ["glove", "reference", "actions, taken, result, should, way, kind, similar, example, taking, take"] \
        in table["rows"]
    refs = {f["id"]: f["ref"] for f in summary["findings"]}
    assert set(refs.values()) == {f"R{i}" for i in range(14, 21)}
    assert all(f["test"] and not f["test"].startswith("LEGACY") for f in summary["findings"])
    m = summary["metrics"]
    assert m["glove-frozen"]["glove_overlap"]["mean"] == 1.0  # frozen rows: GloVe's own neighbourhoods
    assert m["glove-frozen"]["polarity_align"]["mean"] == m["glove-frozen"]["polarity_align_init"]["mean"]
    run_dirs = list((tmp_path / "runs" / "imdb-embeddings").iterdir())
    assert all(json.loads((d / "neighbours.json").read_text()) is not None for d in run_dirs)


@pytest.mark.parametrize("old, new", [("data_source", "data.source"), ("train_subset", "data.train_subset"),
                                      ("test_subset", "data.test_subset"), ("glove_path", "data.glove_path")])
def test_old_keys_name_their_new_key(old, new):
    with pytest.raises(DltourError, match=f"did you mean {new}") as e:
        resolve_config(ImdbEmbeddings(), "smoke", {old: "x"})
    assert "\n" not in str(e.value)


def test_every_config_field_is_documented():
    from dltour.config import describe_fields

    rows = describe_fields(resolve_config(ImdbEmbeddings(), "demo"))
    assert {"data.path", "data.source", "data.train_subset", "data.test_subset", "data.glove_path"} <= {r[0] for r in rows}
    assert all(r[4] for r in rows), [r[0] for r in rows if not r[4]]


def test_missing_paths_get_their_own_one_line_error(tmp_path):
    study = ImdbEmbeddings()
    missing = tmp_path / "nowhere"
    with pytest.raises(DataUnavailable, match="data.path .*nowhere.* does not exist") as e:
        imdb.load(str(missing))
    assert "\n" not in str(e.value) and "http" not in str(e.value)
    cfg = resolve_config(study, "smoke", {"data.glove_path": str(missing)})
    with pytest.raises(DataUnavailable, match="data.glove_path .*nowhere.* does not exist"):
        study.init_matrix(cfg, imdb.Vocab(["the"]), 0)


def test_run_and_bench_train_with_the_same_step(step_calls):
    from dltour.experiments import imdb_embeddings as mod

    torch.set_num_threads(1)
    study = ImdbEmbeddings()
    cfg = resolve_config(study, "smoke", {"variants": ["random"]})
    ran, benched, _ = step_calls(mod, study, cfg)
    assert ran > 0
    assert benched > 0



def test_check_model_runs_the_training_loss_on_a_made_up_batch():
    import math

    study = ImdbEmbeddings()
    cfg = resolve_config(study, "smoke")
    for v in study.variants(cfg):
        assert math.isfinite(study.check_model(cfg, v))


# ---------------------------------------------------------------- per-run measures on hand-made inputs
def test_history_measures_by_hand():
    h = [{"train_acc": a, "val_acc": v} for a, v in [(0.6, 0.60), (0.8, 0.70), (0.9, 0.74), (0.97, 0.72)]]
    m = history_measures(h)
    assert m["best_epoch"] == 3 and m["peak_val_acc"] == 0.74 and m["max_train_acc"] == 0.97
    assert m["val_roughness"] == pytest.approx(np.std([0.10, 0.04, -0.02], ddof=1))
    assert np.isnan(history_measures(h[:2])["val_roughness"])  # one change has no spread


def test_embedding_measures_see_glove_neighbourhoods_and_sentiment():
    rng = np.random.default_rng(0)
    n = 60
    glove_rows = rng.normal(size=(n, 8)).astype(np.float32)
    found = np.ones(n, bool)
    found[:2] = False  # padding, unknown
    score = np.r_[0, 0, np.linspace(-2, 2, n - 2)]
    docs = np.full(n, 20.0)
    same = embedding_measures(glove_rows, glove_rows, glove_rows, found, (score, docs))
    assert same["glove_overlap"] == 1.0 and same["glove_overlap_init"] == 1.0
    assert same["polarity_align"] == same["polarity_align_init"]
    # a matrix whose geometry is the sentiment score: neighbourhoods follow polarity, not GloVe's
    polar = np.stack([score, np.ones(n)], 1) + rng.normal(scale=1e-3, size=(n, 2))
    m = embedding_measures(polar, glove_rows, glove_rows, found, (score, docs))
    assert m["polarity_align"] > 0.95 > m["polarity_align_init"]
    assert m["glove_overlap"] < 0.5


# ---------------------------------------------------------------- findings: holds / does not hold / inconclusive
def _results(tmp_path, table: dict[str, dict[str, list[float]]]) -> Results:
    runs = []
    for v, metrics in table.items():
        for s in range(len(next(iter(metrics.values())))):
            runs.append(RunResult(v, s, f"{v}-{s}", tmp_path, {k: x[s] for k, x in metrics.items()}))
    return Results(runs)


def _verdicts(res: Results, epochs: int) -> dict[str, str]:
    return {f.id: f.verdict for f in findings(res, epochs)}


HOLDS_TABLE = {
    "random": {"peak_val_acc": [0.85, 0.86, 0.855], "max_train_acc": [0.999, 1.0, 0.998], "best_epoch": [3, 4, 3],
               "val_roughness": [0.030, 0.035, 0.040], "glove_overlap": [0.005, 0.010, 0.0], "val_majority": [0.5] * 3,
               "polarity_align": [0.6, 0.62, 0.61], "polarity_align_init": [0.0, 0.01, 0.02]},
    "glove": {"peak_val_acc": [0.87, 0.875, 0.872], "max_train_acc": [0.99, 0.995, 0.99], "best_epoch": [4, 3, 4],
              "val_roughness": [0.020, 0.025, 0.030], "glove_overlap": [0.8, 0.82, 0.81], "val_majority": [0.5] * 3,
              "polarity_align": [0.80, 0.82, 0.81], "polarity_align_init": [0.70, 0.70, 0.70]},
    "glove-frozen": {"peak_val_acc": [0.88, 0.89, 0.885], "max_train_acc": [0.96, 0.97, 0.965], "best_epoch": [3, 4, 4],
                     "val_roughness": [0.010, 0.012, 0.011], "glove_overlap": [1.0] * 3, "val_majority": [0.5] * 3,
                     "polarity_align": [0.70] * 3, "polarity_align_init": [0.70] * 3},
}


def _edit(table, **changes):
    out = {v: dict(m) for v, m in table.items()}
    for key, value in changes.items():
        v, metric = key.split("__")
        out[v.replace("_", "-")][metric] = value
    return out


def test_every_finding_holds_on_results_made_to_hold(tmp_path):
    got = _verdicts(_results(tmp_path, HOLDS_TABLE), epochs=10)
    assert got == {"overfit-train-acc": "holds", "val-peak-epoch-3-4": "holds", "frozen-glove-smoothest": "holds",
                   "frozen-glove-best-val": "holds", "random-neighbours-noise": "holds",
                   "random-performs-well": "holds", "finetuned-glove-domain-neighbours": "holds"}


def test_every_finding_fails_on_results_made_to_fail(tmp_path):
    t = _edit(HOLDS_TABLE,
              glove_frozen__max_train_acc=[0.70, 0.72, 0.71],  # frozen does not overfit in 10 epochs
              random__best_epoch=[8, 8, 8], glove__best_epoch=[8, 8, 8], glove_frozen__best_epoch=[8, 8, 8],
              glove_frozen__val_roughness=[0.05, 0.06, 0.055],
              glove_frozen__peak_val_acc=[0.70, 0.71, 0.705],
              random__glove_overlap=[0.5, 0.6, 0.55],
              random__peak_val_acc=[0.60, 0.61, 0.62],
              glove__polarity_align=[0.60, 0.61, 0.62])
    got = _verdicts(_results(tmp_path, t), epochs=10)
    assert set(got.values()) == {"does not hold"}, got


def test_every_finding_is_inconclusive_on_noisy_or_short_results(tmp_path):
    t = _edit(HOLDS_TABLE,
              glove_frozen__max_train_acc=[0.70, 0.72, 0.71],  # would fail, but only 4 of the claim's 10 epochs ran
              glove_frozen__val_roughness=[0.01, 0.05, 0.03],
              glove_frozen__peak_val_acc=[0.84, 0.90, 0.87],
              random__glove_overlap=[0.05, 0.2, 0.1],
              random__peak_val_acc=[0.80, 0.88, 0.84],
              glove__polarity_align=[0.65, 0.78, 0.72])
    got = _verdicts(_results(tmp_path, t), epochs=4)
    assert set(got.values()) == {"inconclusive"}, got


def test_a_model_that_did_not_learn_carries_no_verdict(tmp_path):
    t = _edit(HOLDS_TABLE, glove_frozen__peak_val_acc=[0.49, 0.50, 0.48])  # at the majority class
    got = _verdicts(_results(tmp_path, t), epochs=10)
    assert got["frozen-glove-best-val"] == got["frozen-glove-smoothest"] == got["overfit-train-acc"] == "inconclusive"
    f = {f.id: f for f in findings(_results(tmp_path, t), 10)}["frozen-glove-best-val"]
    assert "did not learn" in f.test and "no better than its trivial baseline" in f.evidence


def test_best_epochs_spread_around_the_claim_are_undecided_and_missing_variants_not_checked(tmp_path):
    t = _edit(HOLDS_TABLE, random__best_epoch=[2, 6, 3], glove__best_epoch=[5, 2, 6], glove_frozen__best_epoch=[3, 6, 2])
    assert _verdicts(_results(tmp_path, t), epochs=8)["val-peak-epoch-3-4"] == "inconclusive"
    only = {"glove-frozen": HOLDS_TABLE["glove-frozen"]}
    got = _verdicts(_results(tmp_path, only), epochs=10)
    assert got["random-neighbours-noise"] == got["random-performs-well"] == "not checked"
    assert got["finetuned-glove-domain-neighbours"] == got["frozen-glove-best-val"] == "not checked"


def test_packing_gives_the_same_logits_in_any_batch_order():
    # a batch in descending length order is packed as it is (no sort, no index copy to the GPU);
    # any other order is sorted by packing: the logits of each review are the same either way
    import torch

    from dltour.models.text import BiLSTMClassifier

    torch.manual_seed(0)
    m = BiLSTMClassifier(50, 8, 4).eval()
    ids = torch.randint(1, 50, (4, 6))
    lens = torch.tensor([6, 5, 3, 2])
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        a = m(ids, lens)
        b = m(ids[perm], lens[perm])
    assert torch.allclose(a[perm], b, atol=1e-6)
