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
from dltour.experiments.imdb_embeddings import ImdbEmbeddings, bucketed_batches
from dltour.models.text import BiLSTMClassifier
from dltour.registry import get_study


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
    cfg = resolve_config(study, "smoke", {"glove_path": str(txt), "glove_dim": 3})
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
    with pytest.raises(DltourError, match="variants is empty"):
        study.variants(resolve_config(study, "smoke", {"variants": []}))
    # the embedded GloVe rows are 50d: asking for 300d says so
    cfg = resolve_config(study, "smoke", {"glove_dim": 300})
    with pytest.raises(DataUnavailable, match="holds 50-dimensional vectors, not 300"):
        study.init_matrix(cfg, imdb.Vocab(["the"]), 0)


def test_comparable_only_with_full_data_and_300d():
    study = ImdbEmbeddings()
    assert study.comparable(resolve_config(study, "full"))
    assert not study.comparable(resolve_config(study, "demo"))
    assert not study.comparable(resolve_config(study, "full", {"glove_dim": 50}))


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
    table = summary["tables"][0]["markdown"]
    assert "reference | actions, taken, result" in table
    ids = {f["id"] for f in summary["findings"]}
    assert {"frozen-glove-best-val", "glove-neighbours-actions", "overfit-early-peak"} <= ids
    run_dirs = list((tmp_path / "runs" / "imdb-embeddings").iterdir())
    assert all(json.loads((d / "neighbours.json").read_text()) is not None for d in run_dirs)
