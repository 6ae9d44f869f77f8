"""T2.3 ``char-textgen``: a character-level LSTM language model generates text at several
temperatures; BLEU against held-out text is set beside measures that do move with temperature
(reference Table 3: samples at temperatures 0, 0.5, 1.0; Figure 4: BLEU against temperature).

Run it::

    dltour run char-textgen                     # demo: Tiny Shakespeare (embedded), LSTM 1x96, 6 seeds
    dltour run char-textgen --profile full --set data.path=Game_of_Thrones_Script.csv   # the reference's corpus
    dltour run char-textgen --profile full --set data.corpus=tinyshakespeare \\
        --set data.path=../shared/data/text/tinyshakespeare.txt

The demo is shrunk to run in seconds on a CPU: a 1x96 LSTM, 220 steps of 32 windows of 64
characters (under half a pass over the training text), 40 prompts per temperature; it learns (its
held-out bits per character are well below the character-unigram baseline) but writes far less
English than ``full``'s 2x512.

Setup. The reference states only: a character-level model trained on the Game of Thrones
scripts, the seed text "JAIME: Do you know how long it's going to take us to get to King's
Landing walking through fields an", temperatures 0, 0.5 and 1.0, and BLEU per temperature. Ours:

- corpora (``dltour.data.corpora``): the scripts CSV rendered as ``NAME: Sentence`` lines
  (``full``'s default; Kaggle needs a login, so it is given by path), any text file, or Tiny
  Shakespeare (embedded; the demo); the last 10% of the characters are held out (as nanoGPT does);
- model: Embedding(V, 64) -> LSTM -> Linear(V); ``full`` 2 layers x 512 units (dropout 0.2,
  char-rnn's usual size); Adam (lr 2e-3), batches of 64 random 100-character windows, gradient
  norm clipped at 1;
- validation: the loss over the whole held-out text, read as 32 parallel streams whose LSTM
  state is carried from one chunk to the next, in nats and bits per character; the trivial
  baseline is the held-out text's bits per character under the training text's character
  frequencies (a model worse than that learned nothing, and its samples carry no verdict);
- sampling: temperature T scales the logits (softmax(z / T)); T = 0 is greedy (argmax);
- Table 3: one continuation of 200 characters of the seed text per temperature (the JAIME seed
  for the scripts; for other corpora the first 100 held-out characters after a blank line);
- BLEU protocol: 50 prompts of 100 characters at random positions (seed 0) of the held-out text;
  each is continued for 200 characters per temperature and scored against the 200 characters that
  really follow it: one sacrebleu corpus BLEU per temperature (Figure 4) and one sentence BLEU per
  sample (default 13a tokenisation, one reference, newlines read as spaces; signature recorded);
- beyond the reference, per temperature over the 50 samples: distinct-2 (distinct word bigrams
  over all bigrams), the bits per character of the samples under a character 3-gram model fitted
  on the training text (an independent judge of how surprising they are), and over their words
  (lower-cased letter runs): mean length, the share among the 100 most frequent training words
  ("common words") and the share that occur in the training text at all ("real words", our
  proxy for meaningfulness).

How the claims are decided (seeds, i.e. independent runs, are the unit: each run's measures over
the temperatures are reduced to one number per run before any test):

- R21 (low T: predictable, shorter, more common words): 3-gram bits/char and mean word length rise
  with T and the common-word share falls, all three (``per_run_trend``: per seed, Spearman's rho
  over the temperatures; a one-sample t-test of the per-seed rhos against 0, the exact sign test
  when they tie, e.g. every seed perfectly monotone; Holm within the three);
- R22 (high T: more surprising, richer vocabulary, less meaningful): 3-gram bits/char and
  distinct-2 rise with T, the real-word share falls (three findings, each ``per_run_trend``);
- R23 (BLEU shows no correlation with T; the reference's Figure 4 plots corpus BLEU): per seed, the
  OLS slope of the corpus BLEU (one per temperature) on T, in BLEU points per unit of T; TOST of the
  mean slope within ±margin (``no_trend``). The margin: a change of less than 1 BLEU point across
  the temperatures swept (differences of 1-2 BLEU points often disagree with human judgements of
  MT systems, Mathur et al. 2020, "Tangled up in BLEU"). A BLEU constant within every run (e.g.
  all zero) measures nothing, and a BLEU that never reaches 1 point sits at its floor, where it
  cannot move by the margin: both are undecided, never "no correlation".
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator

from dltour.train.optim import adam
from dltour.errors import DltourError
from dltour.config import StudyConfig
from dltour.data import corpora
from dltour.data.corpora import CorpusData
from dltour.device import to_device
from dltour.metrics.text import (CharNgramLM, corpus_bleu, distinct_n, nats_to_bits, sentence_bleu, word_measures,
                                 words_of)
from dltour.models.text import CharLSTM, generate, single_thread
from dltour.plots import new_figure, save
from dltour.registry import register, Study
from dltour.summary import Comparison, Finding, RunResult, Summary, Table
from dltour.seeding import generator
from dltour.train import fit
from dltour.verdicts import (INCONCLUSIVE, Decision, all_of, compare, did_not_learn, fmt, gate, no_trend, not_checked,
                             per_run_trend)

JAIME = "JAIME: Do you know how long it's going to take us to get to King's Landing walking through fields an"
COMMON_WORDS = 100  # "common words": the 100 most frequent words of the training text
BLEU_CHANGE = 1.0  # R23: "no correlation" read as: corpus BLEU changes by less than 1 point across the sweep
BLEU_MARGIN_SOURCE = ("1 BLEU point across the temperatures swept: differences of 1-2 BLEU points often disagree "
                      "with human judgements (Mathur et al. 2020, 'Tangled up in BLEU')")
MEASURES = ("bleu", "distinct2", "ngram_bpc", "mean_word_len", "common_words", "in_vocab_words")

class Config(StudyConfig):
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    """Share of the characters (the last ones) held out."""
    embed: int = Field(64, ge=1)
    """Character embedding size."""
    hidden: int = Field(512, ge=1)
    """LSTM units per layer."""
    layers: int = Field(2, ge=1)
    """LSTM layers."""
    dropout: float = Field(0.2, ge=0, lt=1)
    """Dropout between LSTM layers (only with 2 or more layers)."""
    seq_len: int = Field(100, ge=2)
    """Characters per training window (and per chunk of the streamed validation)."""
    batch_size: int = Field(64, ge=1)
    """Windows per training batch."""
    lr: float = Field(2e-3, gt=0)
    """Adam learning rate."""
    grad_clip: float = Field(1.0, gt=0)
    """Gradients are clipped to this global norm before each step."""
    epochs: int = Field(20, ge=1)
    """Training epochs (each ``steps_per_epoch`` batches)."""
    steps_per_epoch: int = Field(500, ge=1)
    """Batches of random windows per epoch (an epoch here is a fixed number of steps)."""
    temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5], min_length=1)
    """The sweep of Figure 4 (each >= 0; must include the table temperatures)."""
    table_temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0])
    """The temperatures shown in Table 3."""
    seed_text: str | None = JAIME
    """Prompt of Table 3 (None: the first 100 held-out characters after a blank line)."""
    gen_length: int = Field(200, ge=10)
    """Characters generated per sample."""
    bleu_prompts: int = Field(50, ge=1)
    """Held-out prompts per temperature for BLEU and the other sample measures."""
    prompt_len: int = Field(100, ge=1)
    """Characters per held-out prompt."""
    data: CorpusData = Field(default_factory=CorpusData)
    """The training text."""

    @field_validator("temperatures")
    @classmethod
    def _non_negative(cls, v: list[float]) -> list[float]:
        if any(t < 0 for t in v):
            raise ValueError("temperatures must be >= 0 (0: greedy)")
        return v

    @field_validator("table_temperatures")
    @classmethod
    def _in_the_sweep(cls, v: list[float], info: ValidationInfo) -> list[float]:
        sweep = info.data.get("temperatures")
        missing = [t for t in v if sweep is not None and t not in sweep]
        if missing:
            raise ValueError(f"the temperatures {sweep} must include the table temperatures (missing {missing})")
        return v


@functools.lru_cache(maxsize=2)
def _corpus(corpus: str, path: str | None, source: str) -> str:
    return corpora.load(corpus, path, source)


@functools.lru_cache(maxsize=2)
def _ngram(text_key: tuple, n: int = 3) -> CharNgramLM:
    cfg_corpus, path, source, val_fraction = text_key
    text = _corpus(cfg_corpus, path, source)
    return CharNgramLM(text[:int(len(text) * (1 - val_fraction))], n=n)


@functools.lru_cache(maxsize=2)
def _train_words(text_key: tuple) -> tuple[set[str], set[str]]:
    """(every word of the training text, its COMMON_WORDS most frequent words)."""
    cfg_corpus, path, source, val_fraction = text_key
    text = _corpus(cfg_corpus, path, source)
    c = Counter(words_of(text[:int(len(text) * (1 - val_fraction))]))
    return set(c), {w for w, _ in c.most_common(COMMON_WORDS)}


@functools.lru_cache(maxsize=2)
def _unigram_bpc(text_key: tuple) -> float:
    """The trivial baseline: the held-out text's bits per character under the training text's
    character frequencies."""
    cfg_corpus, path, source, val_fraction = text_key
    text = _corpus(cfg_corpus, path, source)
    n = int(len(text) * (1 - val_fraction))
    return CharNgramLM(text[:n], n=1).bits_per_char(text[n:])


def split_text(cfg: Config):
    """(chars, train ids, val ids, train text, val text)."""
    text = _corpus(cfg.data.corpus, cfg.data.path, cfg.data.source)
    chars = sorted(set(text))
    n_train = int(len(text) * (1 - cfg.val_fraction))
    if n_train < cfg.seq_len + 2 or len(text) - n_train < cfg.seq_len + 2:
        raise DltourError(f"the corpus has {len(text)} characters: too short for seq_len {cfg.seq_len}")
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # code points, (N,)
    ids = torch.from_numpy(np.searchsorted(np.array([ord(c) for c in chars], dtype=np.uint32), cps).astype(np.int64))
    return chars, ids[:n_train], ids[n_train:], text[:n_train], text[n_train:]


def random_windows(data: torch.Tensor, batch: int, seq_len: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, seq_len) inputs and the (B, seq_len) next characters at random offsets."""
    starts = torch.randint(0, len(data) - seq_len - 1, (batch,), generator=g)
    idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]  # (B, seq_len + 1)
    w = data[to_device(idx, data.device)]  # the corpus may live on the device: slice it there, host not waiting
    return w[:, :-1], w[:, 1:]


def batch_loss(model: CharLSTM, x: torch.Tensor, y: torch.Tensor, autocast=contextlib.nullcontext) -> torch.Tensor:
    """The training loss of one batch: (B, T) input ids, (B, T) next-character ids -> mean
    cross-entropy over every position (fp32)."""
    with autocast():
        logits, _ = model(x)
    return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))


def train_step(model: CharLSTM, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, grad_clip: float,
               autocast=contextlib.nullcontext) -> torch.Tensor:
    """One optimisation step (``run`` and ``bench`` both train with it): loss, backward, gradient
    norm clipped at ``grad_clip``, Adam step. Returns the (detached) loss."""
    opt.zero_grad(set_to_none=True)
    loss = batch_loss(model, x, y, autocast)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.detach()


@torch.no_grad()
def stream_loss(model: CharLSTM, data: torch.Tensor, seq_len: int, streams: int = 32) -> float:
    """Mean next-character loss (nats) over ``data``, read as ``streams`` parallel contiguous
    streams whose state is carried from chunk to chunk (every character but the first of each
    stream is scored with its full left context in that stream)."""
    model.eval()
    n = (len(data) - 1) // streams
    if n < 2:
        raise DltourError("held-out text too short to score")
    x = data[:streams * n].view(streams, n)  # (S, n)
    y = data[1:streams * n + 1].view(streams, n)
    total, count, state = 0.0, 0, None
    for s in range(0, n, seq_len):
        logits, state = model(x[:, s:s + seq_len], state)
        total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                         y[:, s:s + seq_len].reshape(-1), reduction="sum"))
        count += y[:, s:s + seq_len].numel()
    return total / count


def default_seed_text(val_text: str, n: int) -> str:
    """The first ``n`` held-out characters after the first blank line (a speaker's turn in a play)."""
    start = val_text.find("\n\n") + 2 if "\n\n" in val_text else val_text.find("\n") + 1
    return val_text[start:start + n]


def sweep_points(samples: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(temperature, value) points: one per seed and temperature, from each run's ``samples.json``
    (for figures and tables only: the findings reduce per run, :func:`per_seed`)."""
    xs, ys = [], []
    for smp in samples:
        for row in smp["sweep"]:
            xs.append(row["temperature"])
            ys.append(row[key])
    return xs, ys


def per_seed(samples: list[dict], key: str) -> tuple[list[float], dict[int, list[float]]]:
    """(the temperatures swept, run -> ``key`` at each of them; NaN where a run lacks one): the
    per-run curves the findings decide on (runs in the order given, numbered 0..)."""
    temps = sorted({row["temperature"] for smp in samples for row in smp["sweep"]})
    y = {}
    for i, smp in enumerate(samples):
        at = {row["temperature"]: row[key] for row in smp["sweep"]}
        y[i] = [float(at.get(t, math.nan)) for t in temps]
    return temps, y


def decide_bleu_no_trend(samples: list[dict]) -> Decision:
    """R23: corpus BLEU shows no trend with temperature, seeds as the unit: per seed the OLS slope of
    its corpus BLEU (one per temperature) on T; TOST of the mean slope within ±1 BLEU point over the
    temperature range swept. A BLEU that never reaches the margin's 1 point sits at its floor and
    cannot show a trend of that size: undecided."""
    temps, y = per_seed(samples, "bleu")
    span = (max(temps) - min(temps)) if len(temps) > 1 else 1.0
    margin = BLEU_CHANGE / span
    top = max((v for ys in y.values() for v in ys if math.isfinite(v)), default=math.nan)
    d = no_trend(temps, y, margin, margin_source=BLEU_MARGIN_SOURCE, name="corpus BLEU", xname="unit of temperature",
                 unit="BLEU points", what="per seed: corpus BLEU of its samples at each temperature")
    if d.verdict != INCONCLUSIVE and not top >= BLEU_CHANGE:
        d = replace(d, verdict=INCONCLUSIVE, test=f"not decided: corpus BLEU never reaches {fmt(BLEU_CHANGE)} point "
                    f"(its largest value is {fmt(top)}): at its floor it cannot change by the margin, so a flat line "
                    f"says nothing about a correlation; the test alone said {d.verdict!r}: {d.test}",
                    reasons=d.reasons + [f"corpus BLEU at its floor (at most {fmt(top)} < {fmt(BLEU_CHANGE)})"])
    return d


def findings(samples: list[dict], val_bpc: dict[int, float], unigram_bpc: float) -> list[Finding]:
    """Every finding of T2.3 from each seed's sample measures (``samples.json`` of each run, in seed
    order), its held-out bits per character and the unigram baseline (hand-made in the tests).
    Seeds are the unit: each run's measures over the temperatures are reduced per run first."""
    failed = did_not_learn({"lstm": val_bpc}, unigram_bpc, "less")
    sec = "§2.3, Table 3"
    out = []

    def tr(key, direction, label, unit):
        temps, y = per_seed(samples, key)
        means = {t: float(np.nanmean([ys[j] for ys in y.values()])) for j, t in enumerate(temps)}
        return per_run_trend(temps, y, direction, name=label, xname="unit of temperature", unit=unit,
                             what="mean over seeds by T: " + ", ".join(f"{t:g}: {fmt(m)}" for t, m in means.items()))

    bpc = ("ngram_bpc", "greater", "3-gram bits/char", "bits/char")
    d = all_of([tr(*bpc), tr("mean_word_len", "greater", "mean word length", "characters"),
                tr("common_words", "less", f"share of the {COMMON_WORDS} most common words", "share of words")],
               labels=["predictable: 3-gram bits/char rise with T", "shorter: word length rises with T",
                       "more common: the common-word share falls with T"])
    out.append(Finding.of("low-temp-predictable-common-words", "Lower temperature gives predictable text with shorter, "
                          "more common words (3-gram bits/char and word length rise with T, the share of the "
                          f"{COMMON_WORDS} most common training words falls; per seed, over the temperatures)",
                          gate(d, failed, ["lstm"]), ref="R21", section=sec))
    out.append(Finding.of("ngram-bpc-tracks-temperature", "Higher temperature gives more surprising text: bits per "
                          "character under a character 3-gram model of the training text rise with T",
                          gate(tr(*bpc), failed, ["lstm"]), ref="R22",
                          section=sec))
    out.append(Finding.of("distinct2-tracks-temperature", "Higher temperature gives a richer vocabulary: distinct-2 "
                          "(distinct word bigrams over all) rises with T",
                          gate(tr("distinct2", "greater", "distinct-2", "distinct-2"), failed, ["lstm"]), ref="R22",
                          section=sec))
    out.append(Finding.of("high-temp-less-meaningful", "Higher temperature gives less meaningful text: the share of "
                          "generated words that are real words (occur in the training text) falls with T",
                          gate(tr("in_vocab_words", "less", "real-word share", "share of words"), failed, ["lstm"]),
                          ref="R22", section=sec))

    # R23: BLEU shows no correlation with temperature (corpus BLEU per seed and temperature, as Figure 4)
    temps, y = per_seed(samples, "bleu")
    out.append(Finding.of("bleu-no-correlation", f"BLEU shows no correlation with temperature: corpus BLEU changes by "
                          f"less than {BLEU_CHANGE:g} point across the temperatures swept (per seed, the slope of "
                          f"corpus BLEU on T; equivalence test)", gate(decide_bleu_no_trend(samples), failed, ["lstm"]),
                          ref="R23", section="§2.3, Figure 4", evidence="corpus BLEU by temperature (mean over seeds): "
                          + ", ".join(f"{t:g}: {fmt(float(np.nanmean([ys[j] for ys in y.values()])))}"
                                      for j, t in enumerate(temps))))

    # ours: greedy decoding repeats itself
    d2 = {i: {row["temperature"]: row["distinct2"] for row in smp["sweep"]} for i, smp in enumerate(samples)}
    if all(0.0 in r and 1.0 in r for r in d2.values()) and d2:
        d = compare({i: r[0.0] for i, r in d2.items()}, {i: r[1.0] for i, r in d2.items()}, "less",
                    names=("distinct-2 at T=0", "at T=1"), unit="distinct-2")
    else:
        d = not_checked("temperatures 0 and 1 not both in the sweep")
    out.append(Finding.of("greedy-loops", "Greedy sampling (T = 0) repeats itself: fewer distinct word bigrams than at "
                          "T = 1 (paired by seed)", gate(d, failed, ["lstm"])))
    return out


@register
class CharTextgen(Study):
    name = "char-textgen"
    task = "T2.3"
    title = "Character LSTM text generation: temperature, BLEU and what BLEU misses"
    Config = Config
    version = 2  # per-sample BLEU, word measures, unigram baseline
    small_runs = True
    profiles = {
        "smoke": {"data.corpus": "tinyshakespeare", "data.source": "embedded", "embed": 16, "hidden": 32, "layers": 1,
                  "dropout": 0.0, "seq_len": 50, "batch_size": 32, "epochs": 2, "steps_per_epoch": 15, "seeds": 1,
                  "temperatures": [0.0, 0.5, 1.0], "seed_text": None, "gen_length": 60, "bleu_prompts": 8},
        # demo: 220 steps of 32 x 64 characters (under half a pass over the 1.0M training characters); 6 seeds:
        # a trend that is perfectly monotone in every run goes to the exact sign test, which needs 6 runs to reach
        # p < 0.05 (3 give at best p = 0.25)
        "demo": {"data.corpus": "tinyshakespeare", "data.source": "embedded", "embed": 32, "hidden": 96, "layers": 1,
                 "dropout": 0.0, "seq_len": 64, "batch_size": 32, "lr": 1.5e-2, "epochs": 1, "steps_per_epoch": 220,
                 "seeds": 6, "seed_text": None, "bleu_prompts": 40},
        "full": {"data.corpus": "got", "seeds": 3},
    }
    reference = []  # Table 3 is text and Figure 4 gives no numbers; the claims are checked as findings
    headline_metrics = ["val_bpc", "unigram_bpc", "val_loss_nats", "bleu_t0", "bleu_t0.5", "bleu_t1", "distinct2_t1"]

    def variants(self, cfg: Config) -> list[str]:
        return [f"lstm{cfg.layers}x{cfg.hidden}"]

    def check_data(self, cfg: Config) -> None:
        _corpus(cfg.data.corpus, cfg.data.path, cfg.data.source)  # the corpus reads and decodes

    def comparison(self, cfg: Config) -> Comparison:
        """The reference's data: the Game of Thrones scripts (identified by their columns and eight
        seasons: no checksum is pinned). Its budget: the reference states none, so only the data
        can differ."""
        if cfg.data.corpus != "got":
            return Comparison(False, True, f"corpus {cfg.data.corpus} instead of the Game of Thrones scripts; the reference "
                                           "states no training budget")
        ok, why = corpora.got_identity(cfg.data.path)
        seen = f"data: {corpora.got_label(cfg.data.path)}" if ok else why
        return Comparison(ok, True, "; ".join([w for w in (seen, "the reference states no training budget") if w]))

    def build_model(self, cfg: Config, variant: str):
        V = 65 if cfg.data.corpus == "tinyshakespeare" else 90  # for `describe` only (the corpus is not read)
        return CharLSTM(V, cfg.embed, cfg.hidden, cfg.layers, cfg.dropout)

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        # a small model (the demo's 1x96): a second thread only adds synchronisation
        with single_thread(ctx.device.device, enabled=cfg.hidden * cfg.layers <= 256):
            return self._run(cfg, variant, seed, ctx)

    def _run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        chars, train, val, train_text, val_text = split_text(cfg)
        dev = ctx.device.device
        train_d, val_d = train.to(dev), val.to(dev)
        model = CharLSTM(len(chars), cfg.embed, cfg.hidden, cfg.layers, cfg.dropout).to(dev)
        opt = adam(model.parameters(), cfg.lr, dev, fused=False)

        def train_epoch(epoch: int) -> dict:
            model.train()
            g = generator(seed, epoch)
            # summed on the device in float64 (the same sum a Python float would make): one host sync per epoch
            tot = torch.zeros((), dtype=torch.float64, device=dev)
            for _ in range(cfg.steps_per_epoch):
                x, y = random_windows(train_d, cfg.batch_size, cfg.seq_len, g)
                tot += train_step(model, opt, x, y, cfg.grad_clip, ctx.device.autocast).double()
            return {"train_loss": float(tot) / cfg.steps_per_epoch}

        def evaluate(epoch: int) -> dict:
            with ctx.device.autocast():
                v = stream_loss(model, val_d, cfg.seq_len)
            return {"val_loss": v, "val_bpc": nats_to_bits(v)}

        res = fit(ctx, {"model": model, "opt": opt}, cfg.epochs, train_epoch, evaluate)
        val_loss = res.history[-1]["val_loss"]

        # ---- samples: Table 3 and the temperature sweep (fixed generator per temperature)
        to_text = lambda ids: "".join(chars[i] for i in ids)  # noqa: E731
        lut = {c: i for i, c in enumerate(chars)}
        seed_text = cfg.seed_text if cfg.seed_text is not None else default_seed_text(val_text, cfg.prompt_len)
        unknown = sorted(set(seed_text) - set(lut))
        if unknown:
            raise DltourError(f"seed_text has characters the corpus lacks: {unknown}")
        seed_ids = torch.tensor([[lut[c] for c in seed_text]], device=dev)
        g_rows = np.random.default_rng(0)
        starts = g_rows.integers(0, len(val) - cfg.prompt_len - cfg.gen_length, cfg.bleu_prompts)
        prompts = torch.stack([val[s:s + cfg.prompt_len] for s in starts]).to(dev)  # (P, prompt_len)
        refs = [val_text[s + cfg.prompt_len:s + cfg.prompt_len + cfg.gen_length] for s in starts]
        key = (cfg.data.corpus, cfg.data.path, cfg.data.source, cfg.val_fraction)
        ngram = _ngram(key)
        known, common = _train_words(key)
        table, sweep, signature = {}, [], ""
        one = lambda s: " ".join(s.split())  # noqa: E731  sacrebleu segments are single lines
        for i, t in enumerate(cfg.temperatures):
            g = torch.Generator(device=dev).manual_seed(seed * 1000 + i)
            hyps = [to_text(r) for r in generate(model, prompts, cfg.gen_length, t, g).tolist()]
            bleu, signature = corpus_bleu([one(h) for h in hyps], [one(r) for r in refs])
            sweep.append({"temperature": t, "bleu": bleu,
                          "sentence_bleu": sentence_bleu([one(h) for h in hyps], [one(r) for r in refs]),
                          "distinct2": distinct_n(hyps, 2), "distinct1": distinct_n(hyps, 1),
                          "ngram_bpc": float(np.mean([ngram.bits_per_char(h) for h in hyps])),
                          **word_measures(hyps, known, common)})
            if t in cfg.table_temperatures:
                table[str(t)] = to_text(generate(model, seed_ids, cfg.gen_length, t, g)[0].tolist())
        ctx.save_json("samples", {"seed_text": seed_text, "table": table, "sweep": sweep, "signature": signature,
                                  "example_prompt": to_text(prompts[0].tolist()), "example_reference": refs[0]})
        out = {"val_loss_nats": val_loss, "val_bpc": nats_to_bits(val_loss),
               "unigram_bpc": _unigram_bpc(key), "train_loss_nats": res.history[-1]["train_loss"],
               "vocab_chars": len(chars), "train_chars": len(train), "val_chars": len(val),
               "params": sum(p.numel() for p in model.parameters())}
        for row in sweep:
            k = f"t{row['temperature']:g}"
            out[f"bleu_{k}"] = row["bleu"]
            out[f"distinct2_{k}"] = row["distinct2"]
            out[f"ngram_bpc_{k}"] = row["ngram_bpc"]
        return out

    # ------------------------------------------------------------------ summary
    def summarize(self, cfg: Config, results: list[RunResult], out_dir: Path) -> Summary:
        s = Summary()
        if not results:
            return s
        runs = sorted(results, key=lambda r: r.seed)
        samples = [r.json("samples") for r in runs]
        temps = [row["temperature"] for row in samples[0]["sweep"]]
        per = {k: np.array([[row[k] for row in smp["sweep"]] for smp in samples]) for k in MEASURES}  # (seeds, T)

        # Figure 4: BLEU against temperature, with the measures that do track it (each seed a thin line)
        fig, axes = new_figure(10, 3.4, ncols=3)
        for ax, k, lab, c in ((axes[0], "bleu", "corpus BLEU vs held-out continuation", "C0"),
                              (axes[1], "distinct2", "distinct-2 (word bigrams)", "C1"),
                              (axes[2], "ngram_bpc", "bits/char under a char 3-gram model", "C2")):
            for row in per[k]:
                ax.plot(temps, row, color=c, alpha=0.35, lw=0.8)
            ax.plot(temps, per[k].mean(axis=0), marker="o", color=c, label=f"mean of {len(samples)} seeds")
            ax.set_ylabel(lab)
            ax.set_xlabel("temperature")
            ax.legend(fontsize=7)
        axes[0].set_title("BLEU (cf. reference Figure 4)", fontsize=9)
        axes[1].set_title("diversity (beyond the reference)", fontsize=9)
        axes[2].set_title("surprise (beyond the reference)", fontsize=9)
        s.figures.append(save(fig, out_dir, "fig4_bleu_vs_temperature.png"))

        # Table 3 (lowest seed) and the Figure 4 data
        lowest = samples[0]
        rows = [["seed text", lowest["seed_text"].replace("\n", " / ")]]
        rows += [[t, txt.replace("\n", " / ")] for t, txt in lowest["table"].items()]
        s.tables.append(Table(f"Table 3: text generated at different temperatures (seed {runs[0].seed})",
                              ["temperature", "generated text (' / ' is a line break)"], rows))

        def cell(k, j):
            col = per[k][:, j]
            return f"{fmt(float(col.mean()))} ± {fmt(float(col.std(ddof=1)))}" if len(col) > 1 else fmt(float(col[0]))

        s.tables.append(Table(
            f"Figure 4 data: sample measures by temperature (mean ± sd over {len(samples)} seeds)",
            ["temperature", "corpus BLEU", "distinct-2", "3-gram bits/char", "mean word length",
             f"share of the {COMMON_WORDS} most common words", "real-word share"],
            [[f"{t:g}"] + [cell(k, j) for k in MEASURES] for j, t in enumerate(temps)]))

        vb = {r.seed: r.metrics["val_bpc"] for r in runs}
        uni = float(np.mean([r.metrics["unigram_bpc"] for r in runs]))
        s.findings.extend(findings(samples, vb, uni))
        m = runs[0].metrics
        s.notes.append(f"Corpus {cfg.data.corpus}: {int(m['train_chars'])} training and {int(m['val_chars'])} held-out "
                       f"characters, {int(m['vocab_chars'])} distinct; model {int(m['params'])} parameters. Held-out "
                       f"loss {np.mean(list(vb.values())) * math.log(2):.3f} nats = {np.mean(list(vb.values())):.3f} "
                       f"bits per character (mean of {len(vb)} seeds; the character-unigram baseline: {uni:.3f} bits; "
                       "nanoGPT's character transformer: about 1.47 nats = 2.12 bits on Tiny Shakespeare).")
        s.notes.append(f"BLEU protocol: {cfg.bleu_prompts} held-out prompts of {cfg.prompt_len} characters, "
                       f"{cfg.gen_length}-character continuations scored against the true continuations, as one corpus "
                       f"BLEU per temperature and seed (Figure 4 and R23) and one sentence BLEU per sample (kept in "
                       f"samples.json, effective order); sacrebleu signature of the corpus BLEU "
                       f"{samples[0]['signature']}.")
        return s

    def check_model(self, cfg: Config, variant: str) -> float:
        """The variant's model (``build_model``'s vocabulary) on two made-up windows, through ``batch_loss``."""
        from dltour.train.loop import backward_check

        model = self.build_model(cfg, variant)
        V = model.head.out_features
        g = torch.Generator().manual_seed(0)
        w = torch.randint(0, V, (2, 9), generator=g)
        return backward_check(batch_loss(model, w[:, :-1], w[:, 1:]), model)

    # ------------------------------------------------------------------ bench
    def bench(self, cfg: Config, ctx) -> dict:
        from dltour.bench import endless, measure_training

        chars, train, _, _, _ = split_text(cfg)
        dev = ctx.device.device
        model = CharLSTM(len(chars), cfg.embed, cfg.hidden, cfg.layers, cfg.dropout).to(dev)
        opt = adam(model.parameters(), cfg.lr, dev, fused=False)
        train_d = train.to(dev)

        def step(x, y):
            train_step(model, opt, x, y, cfg.grad_clip)  # (measure_training wraps each step in the device's autocast)

        def epoch_batches(epoch: int):  # the run's pipeline: windows sliced from the device-resident corpus
            g = generator(0, epoch)
            for _ in range(cfg.steps_per_epoch):
                yield random_windows(train_d, cfg.batch_size, cfg.seq_len, g)

        syn = random_windows(train_d, cfg.batch_size, cfg.seq_len, generator(1, 0))
        return measure_training(step, endless(epoch_batches), syn, cfg.batch_size, ctx.device,
                                variant=self.variants(cfg)[0],
                                note=f"samples are {cfg.seq_len}-character windows sliced from the corpus, which lives on "
                                     "the device as one id tensor")
