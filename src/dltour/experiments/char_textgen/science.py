"""The science of ``char-textgen``: its config, data, model, loss, training step and what a run
returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import contextlib
import functools
from collections import Counter

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator

from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data import corpora
from dltour.data.corpora import CorpusData
from dltour.device import to_device
from dltour.errors import DltourError
from dltour.experiments.char_textgen import findings
from dltour.metrics.text import (CharNgramLM, corpus_bleu, distinct_n, nats_to_bits, sentence_bleu, word_measures,
                                 words_of)
from dltour.models.text import CharLSTM, generate, single_thread
from dltour.registry import Study
from dltour.seeding import generator
from dltour.train import fit
from dltour.train.optim import adam

JAIME = "JAIME: Do you know how long it's going to take us to get to King's Landing walking through fields an"


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
    return set(c), {w for w, _ in c.most_common(findings.COMMON_WORDS)}


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


class Science(Study):
    """What one run of CharTextgen does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    def build_model(self, cfg: Config, variant: str):
        V = 65 if cfg.data.corpus == "tinyshakespeare" else 90  # for `describe` only (the corpus is not read)
        return CharLSTM(V, cfg.embed, cfg.hidden, cfg.layers, cfg.dropout)

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        # a small model (the demo's 1x96): a second thread only adds synchronisation
        with single_thread(ctx.device.device, enabled=cfg.hidden * cfg.layers <= 256):
            return self._run(cfg, variant, seed, ctx)

    def trainer(self, cfg: Config, variant: str, seed: int, device) -> Trainer:
        """The LSTM and its Adam on the device-resident training text, trained on random windows
        drawn by (seed, epoch): what ``run``, ``dltour bench`` and the model check use."""
        chars, train, val, train_text, val_text = split_text(cfg)
        dev = device.device
        train_d = train.to(dev)
        model = CharLSTM(len(chars), cfg.embed, cfg.hidden, cfg.layers, cfg.dropout).to(dev)
        opt = adam(model.parameters(), cfg.lr, dev, fused=False)

        def epoch_batches(epoch: int):  # windows sliced from the device-resident corpus
            g = generator(seed, epoch)
            for _ in range(cfg.steps_per_epoch):
                yield random_windows(train_d, cfg.batch_size, cfg.seq_len, g)

        return Trainer(lambda x, y: train_step(model, opt, x, y, cfg.grad_clip, device.autocast), epoch_batches,
                       cfg.batch_size, loss=lambda x, y: batch_loss(model, x, y), modules=(model,),
                       state={"model": model, "opt": opt, "split": (chars, train, val, train_text, val_text)},
                       note=f"samples are {cfg.seq_len}-character windows sliced from the corpus, which lives on "
                            "the device as one id tensor")

    def _run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        tr = self.trainer(cfg, variant, seed, ctx.device)
        chars, train, val, train_text, val_text = tr.state["split"]
        dev = ctx.device.device
        val_d = val.to(dev)
        model = tr.state["model"]

        def train_epoch(epoch: int) -> dict:
            model.train()
            # summed on the device in float64 (the same sum a Python float would make): one host sync per epoch
            tot = torch.zeros((), dtype=torch.float64, device=dev)
            for x, y in tr.epoch_batches(epoch):
                tot += tr.step(x, y).double()
            return {"train_loss": float(tot) / cfg.steps_per_epoch}

        def evaluate(epoch: int) -> dict:
            with ctx.device.autocast():
                v = stream_loss(model, val_d, cfg.seq_len)
            return {"val_loss": v, "val_bpc": nats_to_bits(v)}

        res = fit(ctx, {"model": model, "opt": tr.state["opt"]}, cfg.epochs, train_epoch, evaluate)
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
