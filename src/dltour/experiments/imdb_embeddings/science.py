"""The science of ``imdb-embeddings``: its config, data, model, loss, training step and what a run
returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import contextlib
import functools
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data import glove, imdb
from dltour.data.imdb import ImdbData
from dltour.device import to_device
from dltour.experiments.imdb_embeddings.findings import K, N_QUERIES, VARIANTS
from dltour.metrics.text import (binary_accuracy, nearest_words, neighbour_overlap, neighbour_sets, polarity_alignment,
                                 polarity_scores)
from dltour.models.text import BiLSTMClassifier, single_thread
from dltour.registry import Study
from dltour.train import EarlyStopping, bucketed_batches, fit
from dltour.train.optim import adam

QUERY = "action"  # Table 2's query word


class Config(StudyConfig):
    variants: list[Literal["random", "glove", "glove-frozen"]] = Field(default_factory=lambda: list(VARIANTS),
                                                                      min_length=1)
    """Embedding initialisations to compare (at least one)."""
    glove_dim: int = Field(300, ge=1)
    """Embedding dimension = the GloVe member read (the reference used 300)."""
    keep_br: bool = True
    """Keep the reviews' ``<br />`` line breaks as the token ``br`` (the reference's Table 2 lists "br")."""
    units: int = Field(100, ge=1)
    """LSTM units per direction."""
    max_len: int = Field(200, ge=1)
    """Tokens kept per review (the last ones)."""
    max_vocab: int = Field(20000, ge=10)
    """Vocabulary size cap (plus padding and unknown)."""
    min_freq: int = Field(2, ge=1)
    """A word needs this many training occurrences to enter the vocabulary."""
    val_fraction: float = Field(0.2, gt=0, lt=0.9)
    """Share of the training reviews held out for validation."""
    epochs: int = Field(10, ge=1)
    """Training epochs (the reference's curves: 10); the weights of the best validation epoch are kept."""
    batch_size: int = Field(64, ge=1)
    """Reviews per training batch (batches are bucketed by length)."""
    lr: float = Field(1e-3, gt=0)
    """Adam learning rate."""
    data: ImdbData = Field(default_factory=ImdbData)
    """The reviews and the GloVe file."""


# ---------------------------------------------------------------- data, cached per process
@functools.lru_cache(maxsize=1)
def _reviews(path: str | None, source: str):
    return imdb.load(path, source=source)


@functools.lru_cache(maxsize=2)
def _tokenized(path: str | None, source: str, train_subset: int | None, test_subset: int | None, keep_br: bool):
    """{split: (token lists, labels)} of the selected reviews (random subsets, fixed seeds)."""
    data = _reviews(path, source)
    out = {}
    for split, k, salt in (("train", train_subset, 0), ("test", test_subset, 1)):
        r = data[split]
        idx = _subset(len(r.texts), k, salt)
        out[split] = ([imdb.tokenize(r.texts[i], keep_br) for i in idx], r.labels[idx])
    return out


@functools.lru_cache(maxsize=4)
def _glove_rows(path: str | None, source: str, dim: int, words: tuple[str, ...]):
    return glove.load_vectors(glove.resolve(path, source), dim, list(words))


def _subset(n: int, k: int | None, salt: int) -> np.ndarray:
    idx = np.random.default_rng(salt).permutation(n)
    return np.sort(idx[:k]) if k is not None else np.arange(n)


def prepare(cfg: Config):
    """Token ids, lengths and labels of train/val/test, the vocabulary, and each vocabulary word's
    sentiment log-odds and document count over the training reviews (deterministic)."""
    tok = _tokenized(cfg.data.path, cfg.data.source, cfg.data.train_subset, cfg.data.test_subset, cfg.keep_br)
    tr_tokens, tr_labels = tok["train"]
    te_tokens, te_labels = tok["test"]
    te_idx = np.arange(len(te_tokens))
    perm = np.random.default_rng(2).permutation(len(tr_tokens))
    n_val = max(1, int(round(len(perm) * cfg.val_fraction)))
    val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    vocab = imdb.Vocab.build((tr_tokens[i] for i in fit_idx), cfg.max_vocab, cfg.min_freq)
    out = {"vocab": vocab}
    for name, toks, labels, idx in (("train", tr_tokens, tr_labels, fit_idx), ("val", tr_tokens, tr_labels, val_idx),
                                    ("test", te_tokens, te_labels, te_idx)):
        ids, lens = imdb.encode_padded([toks[i] for i in idx], vocab, cfg.max_len)
        out[name] = (ids, lens, labels[idx])
    out["polarity"] = polarity_scores([vocab.encode(tr_tokens[i]) for i in fit_idx], tr_labels[fit_idx], len(vocab))
    return out


def train_batches(ids: torch.Tensor, lens: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, epoch: int):
    """One epoch of the training pipeline (``run`` and ``bench``): length-bucketed batches of the
    token ids (B, L) cut to the batch's longest review, the lengths (B,) and the float labels (B,).

    ``ids`` and ``y`` live on the device, ``lens`` on the CPU: the lengths are read on the host (the
    cut, and ``pack_padded_sequence``, which wants them there), so no step copies anything back
    from the GPU, and the indices travel without making the host wait (``to_device``)."""
    for idx in bucketed_batches(lens, batch_size, seed, epoch):
        yield cut_batch(ids, lens, y, idx)


def cut_batch(ids: torch.Tensor, lens: torch.Tensor, y: torch.Tensor, idx: torch.Tensor):
    """Reviews ``idx`` (a CPU index): their ids cut to the longest of them, lengths, float labels."""
    L = int(lens[idx].max())
    on_dev = to_device(idx, ids.device)
    return ids[on_dev, :L], lens[idx], y[on_dev].float()


def batch_loss(model: BiLSTMClassifier, x: torch.Tensor, lens: torch.Tensor, y: torch.Tensor,
               autocast=contextlib.nullcontext) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss of one batch: (B, L) token ids, (B,) lengths, (B,) float labels -> (binary
    cross-entropy on the logits, in fp32; the (B,) logits)."""
    with autocast():
        logits = model(x, lens)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y), logits


def train_step(model: BiLSTMClassifier, opt: torch.optim.Optimizer, x: torch.Tensor, lens: torch.Tensor,
               y: torch.Tensor, autocast=contextlib.nullcontext) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step (``run`` and ``bench`` both train with it): loss, backward, Adam step.
    Returns the (detached) loss and logits."""
    opt.zero_grad(set_to_none=True)
    loss, logits = batch_loss(model, x, lens, y, autocast)
    loss.backward()
    opt.step()
    return loss.detach(), logits.detach()


def embedding_measures(trained: np.ndarray, initial: np.ndarray, glove_rows: np.ndarray, found: np.ndarray,
                       polarity: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """The neighbourhood measures of one run (R18, R20), for the trained and the initial matrix:

    - ``glove_overlap``: overlap@10 with GloVe's own neighbourhoods, over the ``N_QUERIES`` most
      frequent vocabulary words GloVe covers (neighbours among the words GloVe covers);
    - ``polarity_align``: :func:`dltour.metrics.text.polarity_alignment` over the ``N_QUERIES``
      most polar words in >= 10 training reviews (neighbours among the words in >= 5), all covered
      by GloVe so that the rows before training are GloVe's.
    """
    covered = np.flatnonzero(found)
    covered = covered[covered > imdb.UNK]  # vocabulary order is frequency order
    out: dict[str, float] = {}
    if len(covered) > K + 1:
        q = covered[:N_QUERIES]
        ref = neighbour_sets(glove_rows, q, covered, K)
        out["glove_overlap"] = neighbour_overlap(neighbour_sets(trained, q, covered, K), ref)
        out["glove_overlap_init"] = neighbour_overlap(neighbour_sets(initial, q, covered, K), ref)
    score, docs = polarity
    cand = covered[docs[covered] >= 5]
    qp = covered[docs[covered] >= 10]
    qp = qp[np.argsort(-np.abs(score[qp]), kind="stable")][:N_QUERIES]
    if len(qp) >= 3 and len(cand) > K + 1:
        out["polarity_align"] = polarity_alignment(trained, score, qp, cand, K)
        out["polarity_align_init"] = polarity_alignment(initial, score, qp, cand, K)
    return out


def history_measures(history: list[dict]) -> dict[str, float]:
    """Per-run curve measures: best epoch (1-based, first of ties), peak validation accuracy, the
    highest training accuracy, and the roughness of the validation curve (sd of its epoch-to-epoch
    changes; NaN with fewer than 3 epochs)."""
    va = np.array([h["val_acc"] for h in history])
    tr = np.array([h["train_acc"] for h in history])
    d = np.diff(va)
    return {"best_epoch": float(np.argmax(va) + 1), "peak_val_acc": float(va.max()), "max_train_acc": float(tr.max()),
            "final_train_acc": float(tr[-1]), "final_val_acc": float(va[-1]),
            "val_roughness": float(d.std(ddof=1)) if d.size >= 2 else float("nan"), "epochs_run": float(len(va))}


class Science(Study):
    """What one run of ImdbEmbeddings does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    def build_model(self, cfg: Config, variant: str):
        vocab = cfg.max_vocab + 2
        return BiLSTMClassifier(vocab, cfg.glove_dim, cfg.units, freeze=(variant == "glove-frozen"))

    # ------------------------------------------------------------------ embeddings
    def init_matrix(self, cfg: Config, vocab: imdb.Vocab, seed: int) -> tuple[np.ndarray, dict]:
        """GloVe rows for the vocabulary; U(-0.05, 0.05) rows for words GloVe lacks; 0 for padding."""
        vecs, found = _glove_rows(cfg.data.glove_path, cfg.data.source, cfg.glove_dim, tuple(vocab.itos))
        rng = np.random.default_rng(1000 + seed)
        mat = rng.uniform(-0.05, 0.05, size=vecs.shape).astype(np.float32)
        mat[found] = vecs[found]
        mat[imdb.PAD] = 0.0
        words_found = int(found[2:].sum())
        return mat, {"glove_coverage": words_found / max(1, len(vocab) - 2), "glove_words_found": words_found}

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        # a small model (the demo's 16 units): a second thread only adds synchronisation
        with single_thread(ctx.device.device, enabled=cfg.units <= 32):
            return self._run(cfg, variant, seed, ctx)

    def trainer(self, cfg: Config, variant: str, seed: int, device) -> Trainer:
        """The BiLSTM with the variant's embedding (random, GloVe, or GloVe frozen) and its Adam,
        trained on length-bucketed batches shuffled by (seed, epoch) from the device-resident reviews:
        what ``run``, ``dltour bench`` and the model check use."""
        d = prepare(cfg)
        vocab = d["vocab"]
        dev = device.device
        T = {k: tuple(torch.as_tensor(a).to(dev) for a in d[k]) for k in ("train", "val", "test")}
        glove_mat, cov = self.init_matrix(cfg, vocab, seed)
        model = BiLSTMClassifier(len(vocab), cfg.glove_dim, cfg.units, init=None if variant == "random" else glove_mat,
                                 freeze=(variant == "glove-frozen")).to(dev)
        initial = model.embedding.weight.detach().float().cpu().numpy().copy()
        opt = adam([p for p in model.parameters() if p.requires_grad], cfg.lr, dev, fused=False)
        lens_cpu = {k: torch.as_tensor(d[k][1]) for k in T}
        ids, y, bs = T["train"][0], T["train"][2], cfg.batch_size
        # compute-only: one full-length batch resident on the device (an upper bound on padding work);
        # lengths stay on the CPU, as in the real pipeline
        syn = (ids[:bs].clamp(min=1), torch.full((bs,), cfg.max_len), y[:bs].float())
        return Trainer(lambda x, lens, t: train_step(model, opt, x, lens, t, device.autocast),
                       lambda epoch: train_batches(ids, lens_cpu["train"], y, bs, seed, epoch), bs,
                       loss=lambda x, lens, t: batch_loss(model, x, lens, t)[0], modules=(model,), synthetic=syn,
                       state={"data": d, "tensors": T, "lens": lens_cpu, "model": model, "opt": opt,
                              "initial": initial, "glove_mat": glove_mat, "coverage": cov},
                       note="real: length-bucketed batches cut to their longest review; compute-only: "
                            f"full {cfg.max_len}-token batches, so the ratio can exceed 1")

    def _run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        tr = self.trainer(cfg, variant, seed, ctx.device)
        d, T, lens_cpu, model = tr.state["data"], tr.state["tensors"], tr.state["lens"], tr.state["model"]
        vocab, glove_mat = d["vocab"], tr.state["glove_mat"]
        dev = ctx.device.device
        yv = d["val"][2]
        extra: dict[str, float] = {"vocab_size": len(vocab), "n_train": len(d["train"][2]),
                                   "n_val": len(yv), "n_test": len(d["test"][2]),
                                   "val_majority": float(max(yv.mean(), 1 - yv.mean()))}
        glove_rows, found = _glove_rows(cfg.data.glove_path, cfg.data.source, cfg.glove_dim, tuple(vocab.itos))
        if variant != "random":
            extra.update(tr.state["coverage"])

        def batch(split, idx):  # idx on the CPU -> (B, L), (B,) on the CPU, (B,)
            return cut_batch(T[split][0], lens_cpu[split], T[split][2], idx)

        def train_epoch(epoch: int) -> dict:
            model.train()
            tot = torch.zeros((), dtype=torch.float64, device=dev)  # summed on the device: one host sync per epoch
            correct = torch.zeros((), dtype=torch.int64, device=dev)
            n = 0
            for x, lens, y in tr.epoch_batches(epoch):
                loss, logits = tr.step(x, lens, y)
                tot += loss.double() * len(y)
                correct += ((logits > 0).float() == y).sum()
                n += len(y)
            return {"train_loss": float(tot) / n, "train_acc": int(correct) / n}

        @torch.no_grad()
        def predict(split: str) -> np.ndarray:
            model.eval()
            out = torch.empty(len(lens_cpu[split]))
            for idx in bucketed_batches(lens_cpu[split], 256, 0, 0, shuffle=False):
                x, lens, _ = batch(split, idx)
                with ctx.device.autocast():
                    out[idx] = model(x, lens).float().cpu()
            return out.numpy()

        def evaluate(epoch: int) -> dict:
            logits = predict("val")
            loss = float(torch.nn.functional.binary_cross_entropy_with_logits(torch.as_tensor(logits),
                                                                              torch.as_tensor(yv, dtype=torch.float32)))
            return {"val_loss": loss, "val_acc": binary_accuracy(yv, logits)}

        stop = EarlyStopping(monitor="val_acc", mode="max", patience=cfg.epochs + 1)  # never stops: full curves
        # every epoch on the whole data (minutes each on a CPU: a run killed at a session's end loses at most one;
        # resume is exact, so the frequency changes no result), every half run on a subset (seconds an epoch)
        every = 1 if cfg.data.train_subset is None else max(1, cfg.epochs // 2)
        res = fit(ctx, {"model": model, "opt": tr.state["opt"]}, cfg.epochs, train_epoch, evaluate,
                  early_stopping=stop, restore_best=True, checkpoint_every=every)
        test_acc = binary_accuracy(d["test"][2], predict("test"))

        emb = model.embedding.weight.detach().float().cpu().numpy()
        words = vocab.itos
        neigh = {}
        if QUERY in vocab.stoi:
            neigh["trained"] = nearest_words(emb, words, QUERY, K, exclude={"<pad>", "<unk>"})
            neigh["initial"] = nearest_words(glove_mat, words, QUERY, K, exclude={"<pad>", "<unk>"})
        ctx.save_json("neighbours", neigh)
        return {"test_acc": test_acc, **history_measures(res.history),
                **embedding_measures(emb, tr.state["initial"], glove_rows, found, d["polarity"]), **extra}
