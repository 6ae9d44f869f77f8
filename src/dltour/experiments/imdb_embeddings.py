"""T2.2 ``imdb-embeddings``: a bidirectional LSTM classifies IMDB reviews as positive or negative
with three initialisations of its word embeddings: random uniform, GloVe (fine-tuned) and GloVe
frozen (reference Figure 3: accuracy per epoch; Table 2: the ten nearest words to "action").

Run it::

    dltour run imdb-embeddings                   # demo: 3,000 + 2,000 embedded reviews, GloVe 50d rows, 1 seed
    dltour run imdb-embeddings --profile full    # 25k/25k reviews, GloVe 300d, 10 epochs, 3 seeds (GPU)
    dltour run imdb-embeddings --profile full --set glove_dim=50 --set glove_path=../shared/data/glove/glove.6B.zip \\
        --set data.path=../shared/data/imdb/aclImdb_v1.tar.gz

Measured here (``OMP_NUM_THREADS=1``, 2 CPU cores shared with four other jobs, load average
about 11, so wall times are several times a quiet machine's):

- ``dltour run imdb-embeddings`` (demo: 2,400 fit / 600 validation / 2,000 test reviews, last
  150 tokens, 10,002-entry vocabulary, GloVe 50d covering 99.3% of it, 5 epochs, 1 seed): 662 s
  wall, about 126 s of CPU. Test accuracy: random 0.790, GloVe 0.747, frozen GloVe 0.719 (best
  validation 0.778 / 0.750 / 0.720). Nearest words to "action": GloVe (fine-tuned and frozen)
  "actions, response, calling, step, calls, ..."; random "youthful, ancient, roles, ...".
- the real archives, a subset the CPU affords (``--profile full --seeds 1 --set glove_dim=50
  --set glove_path=../shared/data/glove/glove.6B.zip --set data.path=../shared/data/imdb/aclImdb_v1.tar.gz
  --set train_subset=4000 --set test_subset=2500 --set epochs=4``: 3,200 / 800 / 2,500 reviews,
  19,034-entry vocabulary, GloVe covers 97.8%): 1,402 s wall. Test accuracy: random 0.808, GloVe
  0.713, frozen GloVe 0.696. With ``--set epochs=8`` (783 s wall, ``--executor process --workers
  2``): random 0.806, GloVe 0.792, frozen GloVe 0.718 (best validation epochs 6, 8, 7; final
  training accuracy 0.998, 0.898, 0.699). At this scale (13% of the training reviews, 50d) GloVe
  *slows* learning, frozen 50d GloVe underfits, and the reference's "frozen GloVe is best" does
  not hold; the full profile (25k reviews, 300d, 10 epochs) is what tests the claim, on a GPU.

Setup. The reference states: a single-layer bidirectional LSTM with 100 units after an embedding
layer of 300 dimensions; random uniform, GloVe and frozen GloVe initialisations; curves over 10
epochs. The rest is ours:

- data: ``aclImdb_v1.tar.gz`` (25,000 train / 25,000 test); 20% of the training reviews (fixed
  split, seed 2, the same for every variant and seed) are the validation set; the test set is used
  once, with the weights of the epoch of best validation accuracy;
- tokenisation: ``dltour.data.imdb.tokenize`` (lower case, ``<br />`` dropped, ``n't`` split off
  as in GloVe's tokeniser); vocabulary: the 20,000 most frequent training words occurring at
  least twice, plus padding and unknown; each review keeps its last 200 tokens (Keras'
  ``pad_sequences`` default), sequences are packed so padding costs nothing;
- embeddings: the dimension follows the GloVe file (300 in ``full`` as in the reference; the
  demo carries 50d rows only); random rows are U(-0.05, 0.05) (Keras' default); words missing from
  GloVe get random rows too (frozen in the frozen variant); the coverage is reported;
- head: a linear layer on the concatenated final forward and backward states, a sigmoid
  (``BCEWithLogitsLoss``); Adam (lr 1e-3), batch 64, batches bucketed by length;
- Table 2: cosine similarity over the trained embedding matrix, padding/unknown excluded.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dltour import DltourError
from dltour.config import DataConfig, StudyConfig
from dltour.data import glove, imdb
from dltour.metrics.text import binary_accuracy, nearest_words
from dltour.models.text import BiLSTMClassifier
from dltour.plots import new_figure, save
from dltour.registry import Finding, RunResult, Study, Summary, by_variant, register
from dltour.seeding import generator
from dltour.train import EarlyStopping, fit

VARIANTS = ("random", "glove", "glove-frozen")
QUERY = "action"
REFERENCE_TABLE2 = {
    "random": ["a", "i", "br", "and"],
    "glove": ["actions", "taken", "result", "should", "way", "kind", "similar", "example", "taking", "take"],
    "glove-frozen": ["actions", "taken", "take", "result", "taking", "moves", "instead", "which", "but", "yet"],
}


class Config(StudyConfig):
    variants: list[Literal["random", "glove", "glove-frozen"]] = Field(default_factory=lambda: list(VARIANTS))
    """Embedding initialisations to compare."""
    data_source: Literal["embedded", "download"] = "download"
    """Where the reviews and GloVe rows come from when no path is given: the embedded demo subset
    or the canonical archives (cache, then download)."""
    glove_path: str | None = None
    """Explicit GloVe file: ``glove.6B.zip`` or a ``glove.*.<D>d.txt(.gz)``."""
    glove_dim: int = Field(300, ge=1)
    """Embedding dimension = the GloVe member read (the reference used 300)."""
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
    train_subset: int | None = Field(None, ge=20)
    """Use only this many training reviews (random, seed 0; None: all), before the validation split."""
    test_subset: int | None = Field(None, ge=10)
    """Use only this many test reviews (random, seed 1; None: all)."""
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    data: DataConfig = Field(default_factory=DataConfig)


# ---------------------------------------------------------------- data, cached per process
@functools.lru_cache(maxsize=1)
def _reviews(path: str | None, source: str):
    return imdb.load(path, source=source)


@functools.lru_cache(maxsize=2)
def _tokenized(path: str | None, source: str, train_subset: int | None, test_subset: int | None):
    """{split: (token lists, labels)} of the selected reviews (random subsets, fixed seeds)."""
    data = _reviews(path, source)
    out = {}
    for split, k, salt in (("train", train_subset, 0), ("test", test_subset, 1)):
        r = data[split]
        idx = _subset(len(r.texts), k, salt)
        out[split] = ([imdb.tokenize(r.texts[i]) for i in idx], r.labels[idx])
    return out


@functools.lru_cache(maxsize=4)
def _glove_rows(path: str | None, source: str, dim: int, words: tuple[str, ...]):
    return glove.load_vectors(glove.resolve(path, source), dim, list(words))


def _subset(n: int, k: int | None, salt: int) -> np.ndarray:
    idx = np.random.default_rng(salt).permutation(n)
    return np.sort(idx[:k]) if k is not None else np.arange(n)


def prepare(cfg: Config):
    """Token ids, lengths and labels of train/val/test, and the vocabulary (deterministic)."""
    tok = _tokenized(cfg.data.path, cfg.data_source, cfg.train_subset, cfg.test_subset)
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
    return out


def bucketed_batches(lengths: torch.Tensor, batch_size: int, seed: int, epoch: int, shuffle: bool = True,
                     pool: int = 50):
    """Index batches of similar lengths: shuffle, sort within pools of ``pool`` batches by length,
    cut into batches, shuffle the batch order. Depends only on (seed, epoch)."""
    n = len(lengths)
    g = generator(seed, epoch)
    idx = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    batches = []
    step = batch_size * pool
    for s in range(0, n, step):
        chunk = idx[s:s + step]
        chunk = chunk[torch.argsort(lengths[chunk], descending=True, stable=True)]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    return batches


@register
class ImdbEmbeddings(Study):
    name = "imdb-embeddings"
    task = "T2.2"
    title = "IMDB sentiment with a BiLSTM: random vs GloVe vs frozen GloVe embeddings"
    Config = Config
    profiles = {
        "smoke": {"data_source": "embedded", "glove_dim": 50, "train_subset": 200, "test_subset": 100,
                  "max_len": 40, "max_vocab": 1000, "units": 32, "epochs": 2, "seeds": 1},
        # demo: the embedded 3,000 training reviews (2,400 fit + 600 validation) and 2,000 test reviews,
        # the last 150 tokens of each (the median review has about 175)
        "demo": {"data_source": "embedded", "glove_dim": 50, "max_vocab": 10000, "max_len": 150, "epochs": 5,
                 "seeds": 1},
        "full": {"data_source": "download", "glove_dim": 300, "epochs": 10, "seeds": 3},
    }
    reference = []  # Figure 3 and Table 2 carry no numbers; Table 2's words are compared in a finding
    headline_metrics = ["test_acc", "peak_val_acc", "best_epoch", "final_train_acc", "glove_coverage"]

    def variants(self, cfg: Config) -> list[str]:
        if not cfg.variants:
            raise DltourError("variants is empty: choose from random, glove, glove-frozen")
        return list(dict.fromkeys(cfg.variants))

    def run_key(self, cfg: Config, variant: str) -> dict:
        d = super().run_key(cfg, variant)
        d.pop("variants")
        if variant == "random":  # the GloVe file does not matter to the random variant
            d.pop("glove_path")
        return d

    def comparable(self, cfg: Config) -> bool:
        full_data = cfg.data.path is not None or cfg.data_source == "download"
        return full_data and cfg.glove_dim == 300 and cfg.train_subset is None and cfg.test_subset is None

    def build_model(self, cfg: Config, variant: str):
        vocab = cfg.max_vocab + 2
        return BiLSTMClassifier(vocab, cfg.glove_dim, cfg.units, freeze=(variant == "glove-frozen"))

    # ------------------------------------------------------------------ embeddings
    def init_matrix(self, cfg: Config, vocab: imdb.Vocab, seed: int) -> tuple[np.ndarray, dict]:
        """GloVe rows for the vocabulary; U(-0.05, 0.05) rows for words GloVe lacks; 0 for padding."""
        vecs, found = _glove_rows(cfg.glove_path, cfg.data_source, cfg.glove_dim, tuple(vocab.itos))
        rng = np.random.default_rng(1000 + seed)
        mat = rng.uniform(-0.05, 0.05, size=vecs.shape).astype(np.float32)
        mat[found] = vecs[found]
        mat[imdb.PAD] = 0.0
        words_found = int(found[2:].sum())
        return mat, {"glove_coverage": words_found / max(1, len(vocab) - 2), "glove_words_found": words_found}

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        d = prepare(cfg)
        vocab = d["vocab"]
        dev = ctx.device.device
        T = {k: tuple(torch.as_tensor(a).to(dev) for a in d[k]) for k in ("train", "val", "test")}
        extra: dict[str, float] = {"vocab_size": len(vocab), "n_train": len(d["train"][2]),
                                   "n_val": len(d["val"][2]), "n_test": len(d["test"][2])}
        init, glove_init = None, None
        if variant != "random":
            init, cov = self.init_matrix(cfg, vocab, seed)
            glove_init = init
            extra.update(cov)
        model = BiLSTMClassifier(len(vocab), cfg.glove_dim, cfg.units, init=init,
                                 freeze=(variant == "glove-frozen")).to(dev)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        lens_cpu = {k: torch.as_tensor(d[k][1]) for k in T}

        def batch(split, idx):
            ids, lens, y = T[split]
            idx = idx.to(dev)
            L = int(lens_cpu[split][idx.cpu()].max())
            return ids[idx, :L], lens[idx], y[idx].float()  # (B, L), (B,), (B,)

        def train_epoch(epoch: int) -> dict:
            model.train()
            tot, correct, n = 0.0, 0, 0
            for idx in bucketed_batches(lens_cpu["train"], cfg.batch_size, seed, epoch):
                x, lens, y = batch("train", idx)
                opt.zero_grad(set_to_none=True)
                with ctx.device.autocast():
                    logits = model(x, lens)
                loss = loss_fn(logits.float(), y)
                loss.backward()
                opt.step()
                tot += loss.item() * len(y)
                correct += int(((logits > 0).float() == y).sum())
                n += len(y)
            return {"train_loss": tot / n, "train_acc": correct / n}

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
            y = d["val"][2]
            loss = float(torch.nn.functional.binary_cross_entropy_with_logits(torch.as_tensor(logits),
                                                                              torch.as_tensor(y, dtype=torch.float32)))
            return {"val_loss": loss, "val_acc": binary_accuracy(y, logits)}

        stop = EarlyStopping(monitor="val_acc", mode="max", patience=cfg.epochs + 1)  # never stops: full curves
        res = fit(ctx, {"model": model, "opt": opt}, cfg.epochs, train_epoch, evaluate,
                  early_stopping=stop, restore_best=True)
        test_acc = binary_accuracy(d["test"][2], predict("test"))

        emb = model.embedding.weight.detach().float().cpu().numpy()
        words = vocab.itos
        neigh = {}
        if QUERY in vocab.stoi:
            neigh["trained"] = nearest_words(emb, words, QUERY, 10, exclude={"<pad>", "<unk>"})
            if glove_init is not None:
                neigh["initial"] = nearest_words(glove_init, words, QUERY, 10, exclude={"<pad>", "<unk>"})
        ctx.save_json("neighbours", neigh)
        hist = res.history
        return {"test_acc": test_acc, "peak_val_acc": max(h["val_acc"] for h in hist),
                "best_epoch": float(stop.best_epoch), "final_train_acc": hist[-1]["train_acc"],
                "final_val_acc": hist[-1]["val_acc"], **extra}

    # ------------------------------------------------------------------ summary
    def summarize(self, cfg: Config, results: list[RunResult], out_dir: Path) -> Summary:
        s = Summary()
        if not results:
            return s
        by_v = by_variant(results)
        vs = [v for v in VARIANTS if v in by_v]

        def curve(v, key):
            hs = [r.history() for r in by_v[v]]
            n = min(len(h) for h in hs)
            return np.array([[h[i][key] for i in range(n)] for h in hs]).mean(axis=0)

        # Figure 3: training (dashed) and validation (solid) accuracy per epoch
        fig, ax = new_figure(7, 4)
        for i, v in enumerate(vs):
            tr, va = curve(v, "train_acc"), curve(v, "val_acc")
            ep = np.arange(1, len(tr) + 1)
            ax.plot(ep, tr, ls="--", color=f"C{i}", label=f"{v} train")
            ax.plot(ep, va, ls="-", marker="o", ms=3, color=f"C{i}", label=f"{v} validation")
        ax.set_xticks(np.arange(1, len(curve(vs[0], "val_acc")) + 1))
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.set_title("T2.2 accuracy per epoch by embedding initialisation (cf. reference Figure 3)")
        ax.legend(fontsize=7, ncol=2)
        s.figures.append(save(fig, out_dir, "fig3_accuracy_curves.png"))

        # Table 2: nearest words to "action" (seed 0 of each variant) beside the reference's rows
        rows = ["| initialisation | source | ten nearest words to \"action\" (cosine) |", "|---|---|---|"]
        neigh: dict[str, list[str]] = {}
        initial_glove: list[str] = []
        for v in vs:
            r0 = min(by_v[v], key=lambda r: r.seed)
            nb = r0.json("neighbours")
            if "trained" in nb:
                neigh[v] = [w for w, _ in nb["trained"]]
                rows.append(f"| {v} | ours (trained) | {', '.join(neigh[v])} |")
            if "initial" in nb and not initial_glove:
                initial_glove = [w for w, _ in nb["initial"]]
            rows.append(f"| {v} | reference | {', '.join(REFERENCE_TABLE2[v])} |")
        if initial_glove:
            rows.append(f"| GloVe {cfg.glove_dim}d before training | ours | {', '.join(initial_glove)} |")
        s.tables.append({"title": "Table 2: most similar words to \"action\" (seed 0)", "markdown": "\n".join(rows)})

        # Findings
        mean = lambda v, k: float(np.mean([r.metrics[k] for r in by_v[v]]))  # noqa: E731
        peaks = {v: mean(v, "peak_val_acc") for v in vs}
        if "glove-frozen" in peaks and len(peaks) > 1:
            best = max(peaks, key=peaks.get)
            s.findings.append(Finding(
                "frozen-glove-best-val", "Frozen GloVe embeddings reach the highest validation accuracy",
                best == "glove-frozen",
                "peak validation accuracy (mean over seeds): " + ", ".join(f"{v} {p:.4f}" for v, p in peaks.items())))
        for v in ("glove", "glove-frozen"):
            if v in by_v:
                got = neigh.get(v)
                s.findings.append(Finding(
                    f"{v}-neighbours-actions", f"In the {v} embedding the nearest words to \"action\" include \"actions\"",
                    None if got is None else "actions" in got,
                    "\"action\" not in the vocabulary" if got is None else f"ten nearest: {', '.join(got)}"))
        if "random" in neigh and initial_glove:
            overlap = sorted(set(neigh["random"]) & set(initial_glove))
            s.findings.append(Finding(
                "random-neighbours-noise", "Random-initialised embeddings learn no human-readable neighbourhood of "
                "\"action\" (at most 1 of its 10 neighbours is among GloVe's 10)",
                len(overlap) <= 1, f"random: {', '.join(neigh['random'])}; shared with GloVe's: {overlap or 'none'}"))
        if cfg.epochs >= 6:
            be = {v: mean(v, "best_epoch") for v in vs}
            ftr = {v: mean(v, "final_train_acc") for v in vs}
            ok = all(be[v] <= 5 and ftr[v] >= 0.95 for v in vs)
            s.findings.append(Finding(
                "overfit-early-peak", "All models overfit: training accuracy nears 1 while validation accuracy "
                "peaks after 3-4 epochs", ok,
                "; ".join(f"{v}: best epoch {be[v]:.1f}, final train acc {ftr[v]:.3f}" for v in vs)))
        else:
            s.findings.append(Finding("overfit-early-peak", "Validation accuracy peaks after 3-4 epochs", None,
                                      f"only {cfg.epochs} epochs run"))
        if len(vs) > 1 and cfg.epochs >= 3:
            rough = {}
            for v in vs:
                va = curve(v, "val_acc")
                rough[v] = float(np.mean(np.abs(np.diff(va))))
            s.findings.append(Finding(
                "frozen-glove-smoothest", "Frozen GloVe has the smoothest validation curve (smallest mean "
                "epoch-to-epoch change of validation accuracy)",
                min(rough, key=rough.get) == "glove-frozen" if "glove-frozen" in rough else None,
                ", ".join(f"{v} {x:.4f}" for v, x in rough.items())))
        m0 = by_v[vs[0]][0].metrics
        cov = next((r.metrics for v in vs for r in by_v[v] if "glove_coverage" in r.metrics), None)
        s.notes.append(f"Data: {int(m0['n_train'])} training, {int(m0['n_val'])} validation and {int(m0['n_test'])} "
                       f"test reviews; vocabulary {int(m0['vocab_size'])} entries (padding and unknown included); "
                       f"last {cfg.max_len} tokens per review; embeddings {cfg.glove_dim}d."
                       + (f" GloVe covers {cov['glove_coverage']:.1%} of the vocabulary's words." if cov else ""))
        s.notes.append("Test accuracy uses the weights of the epoch with the best validation accuracy. A BiLSTM with "
                       "GloVe usually reaches 87-89% test accuracy on the full IMDB data (not a number of the report).")
        return s

    # ------------------------------------------------------------------ bench
    def bench(self, cfg: Config, ctx) -> dict:
        from dltour.bench import measure_training

        d = prepare(cfg)
        dev = ctx.device.device
        ids, lens, y = (torch.as_tensor(a) for a in d["train"])
        model = BiLSTMClassifier(len(d["vocab"]), cfg.glove_dim, cfg.units).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        bs = cfg.batch_size

        def step(x, ln, t):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.binary_cross_entropy_with_logits(model(x, ln).float(), t).backward()
            opt.step()

        def real_batches():
            epoch = 0
            while True:
                for idx in bucketed_batches(lens, bs, 0, epoch):
                    L = int(lens[idx].max())
                    yield ids[idx, :L].to(dev), lens[idx].to(dev), y[idx].float().to(dev)
                epoch += 1

        # compute-only: one full-length batch resident on the device (an upper bound on padding work)
        syn = (ids[:bs].to(dev), torch.full((bs,), cfg.max_len, device=dev), y[:bs].float().to(dev))
        syn[0][:, :] = ids[:bs].clamp(min=1).to(dev)
        return measure_training(step, real_batches(), syn, bs, ctx.device, variant="random",
                                note="real: length-bucketed batches cut to their longest review; compute-only: "
                                     f"full {cfg.max_len}-token batches, so the ratio can exceed 1")
