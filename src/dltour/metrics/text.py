"""Text metrics as pure functions: accuracy, cosine nearest neighbours and their overlap, sentiment
polarity of words and of neighbourhoods, bits per character,
temperature-scaled probabilities, corpus BLEU (sacrebleu), distinct-n and a smoothed character
n-gram model used as an independent judge of generated text."""

from __future__ import annotations

import math
import re

import numpy as np


def binary_accuracy(labels, logits) -> float:
    """Share of ``(logit > 0) == label``."""
    labels, logits = np.asarray(labels), np.asarray(logits, float)
    if labels.shape != logits.shape:
        raise ValueError(f"shape mismatch: {labels.shape} vs {logits.shape}")
    return float(np.mean((logits > 0).astype(int) == labels))


def nearest_words(vectors: np.ndarray, words: list[str], query: str, k: int = 10,
                  exclude: set[str] | None = None) -> list[tuple[str, float]]:
    """The ``k`` words whose vectors have the highest cosine similarity with ``query``'s
    (the query itself and ``exclude`` left out; zero vectors never match)."""
    if query not in words:
        raise KeyError(f"{query!r} is not in the vocabulary")
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1)
    unit = v / np.where(norms > 0, norms, 1.0)[:, None]
    qi = words.index(query)
    sims = unit @ unit[qi]
    sims[norms == 0] = -np.inf
    sims[qi] = -np.inf
    for w in exclude or ():
        if w in words:
            sims[words.index(w)] = -np.inf
    order = np.argsort(-sims, kind="stable")[:k]
    return [(words[i], float(sims[i])) for i in order if np.isfinite(sims[i])]


def neighbour_sets(vectors: np.ndarray, queries, candidates, k: int = 10) -> np.ndarray:
    """(len(queries), k) indices of each query's ``k`` cosine-nearest rows among ``candidates``
    (indices into ``vectors``; a query never counts as its own neighbour; ties by lower index)."""
    v = np.asarray(vectors, dtype=np.float64)
    q, c = np.asarray(queries, dtype=np.int64), np.asarray(candidates, dtype=np.int64)
    if len(c) <= k:
        raise ValueError(f"{len(c)} candidates: need more than k = {k}")
    norms = np.linalg.norm(v, axis=1)
    unit = v / np.where(norms > 0, norms, 1.0)[:, None]
    sims = unit[q] @ unit[c].T  # (Q, C)
    sims[q[:, None] == c[None, :]] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return c[order]


def neighbour_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of row i of ``a`` that is also in row i of ``b`` (two neighbour-index arrays of
    the same shape, e.g. from :func:`neighbour_sets`): 1 when every neighbourhood is the same."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"shapes {a.shape} and {b.shape}: need two equal (Q, k) arrays")
    return float(np.mean([len(set(x) & set(y)) / a.shape[1] for x, y in zip(a.tolist(), b.tolist())]))


def polarity_scores(doc_ids: list, labels, size: int, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per word index: the smoothed log-odds of occurring in a positive vs a negative document,
    ``log((pos + a) / (neg + a)) - log((P + a) / (N + a))`` (P, N documents per class; counts are of
    documents containing the word), and the number of documents containing it."""
    labels = np.asarray(labels)
    pos, neg = np.zeros(size), np.zeros(size)
    for ids, y in zip(doc_ids, labels.tolist()):
        u = np.unique(np.asarray(ids, dtype=np.int64))
        (pos if y == 1 else neg)[u] += 1
    P, N = int((labels == 1).sum()), int((labels != 1).sum())
    score = np.log((pos + alpha) / (neg + alpha)) - math.log((P + alpha) / (N + alpha))
    return score, pos + neg


def polarity_alignment(vectors: np.ndarray, scores: np.ndarray, queries, candidates, k: int = 10) -> float:
    """How much an embedding's neighbourhoods follow a domain's polarity: Pearson's r, over the
    queries, between a query's score and the mean score of its ``k`` nearest candidates. 0 when
    neighbours are unrelated to the scores; positive when words of one polarity sit together."""
    nb = neighbour_sets(vectors, queries, candidates, k)
    s = np.asarray(scores, dtype=np.float64)
    x, y = s[np.asarray(queries)], s[nb].mean(axis=1)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)


def temperature_probs(logits, temperature: float) -> np.ndarray:
    """softmax(logits / T); T = 0 is the one-hot argmax (greedy)."""
    z = np.asarray(logits, dtype=np.float64)
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        p = np.zeros_like(z)
        p[np.argmax(z)] = 1.0
        return p
    z = z / temperature
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def corpus_bleu(hypotheses: list[str], *reference_streams: list[str]) -> tuple[float, str]:
    """sacrebleu corpus BLEU (default settings: 13a tokenisation, exponential smoothing) of the
    hypotheses against one or more reference streams (each a list aligned with the hypotheses):
    (score on 0..100, sacrebleu's signature)."""
    from sacrebleu.metrics import BLEU

    if not reference_streams:
        raise ValueError("give at least one reference stream")
    for refs in reference_streams:
        if len(refs) != len(hypotheses):
            raise ValueError(f"{len(hypotheses)} hypotheses vs {len(refs)} references")
    bleu = BLEU()
    score = bleu.corpus_score(list(hypotheses), [list(r) for r in reference_streams])
    return float(score.score), str(bleu.get_signature())


def sentence_bleu(hypotheses: list[str], references: list[str]) -> list[float]:
    """sacrebleu sentence BLEU (0..100; exponential smoothing, effective order) of each hypothesis
    against its one reference."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses vs {len(references)} references")
    bleu = BLEU(effective_order=True)
    return [float(bleu.sentence_score(h, [r]).score) for h, r in zip(hypotheses, references)]


_WORD = re.compile(r"[a-z']+")


def words_of(text: str) -> list[str]:
    """Lower-cased words (runs of letters and apostrophes), punctuation dropped."""
    return [w for w in _WORD.findall(text.lower()) if w.strip("'")]


def word_measures(texts: list[str], known: set[str], common: set[str]) -> dict[str, float]:
    """Over all the words of ``texts``: mean length, share of words that occur in the training text
    (``known``: real words), and share among its most frequent words (``common``); NaN when the
    texts hold no word."""
    ws = [w for t in texts for w in words_of(t)]
    if not ws:
        return {"mean_word_len": float("nan"), "in_vocab_words": float("nan"), "common_words": float("nan")}
    return {"mean_word_len": float(np.mean([len(w) for w in ws])),
            "in_vocab_words": float(np.mean([w in known for w in ws])),
            "common_words": float(np.mean([w in common for w in ws]))}


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Distinct word n-grams / all word n-grams over the texts (Li et al. 2016); 0 if none."""
    grams = []
    for t in texts:
        w = t.split()
        grams += [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


class CharNgramLM:
    """An add-``alpha`` smoothed character n-gram model (order ``n``), fitted on training text;
    its bits per character on a sample measure how much the sample looks like the corpus,
    independently of the network that produced it. Counts are kept as sorted integer codes of
    the n-grams (NumPy), so fitting on a million characters takes well under a second."""

    def __init__(self, text: str, n: int = 3, alpha: float = 0.1):
        if n < 1:
            raise ValueError("n must be >= 1")
        if len(text) < n:
            raise ValueError(f"a character {n}-gram model needs a training text of at least {n} characters, "
                             f"got {len(text)}")
        self.n, self.alpha = n, alpha
        self.vocab = np.unique(_codepoints(text))
        self.V = len(self.vocab) + 1  # +1: an unseen character
        if self.V ** n >= 2 ** 63:  # the n-gram codes are int64: they would wrap and collide
            raise ValueError(f"{self.V - 1} distinct characters and n={n} overflow the int64 n-gram codes "
                             f"(V**n >= 2**63): use a smaller n")
        ids = self._ids(text)
        self.full, self.full_counts = np.unique(self._codes(ids, n), return_counts=True)
        self.ctx, self.ctx_counts = np.unique(self._codes(ids[:-1], n - 1), return_counts=True) if n > 1 else (
            np.zeros(1, np.int64), np.array([len(ids)]))

    def _ids(self, text: str) -> np.ndarray:
        cp = _codepoints(text)
        pos = np.searchsorted(self.vocab, cp)
        pos = np.minimum(pos, len(self.vocab) - 1)
        return np.where(self.vocab[pos] == cp, pos, len(self.vocab)).astype(np.int64)  # unseen -> V-1

    def _codes(self, ids: np.ndarray, k: int) -> np.ndarray:
        """Integer code of every k-gram starting at 0..len-k (k = 0: zeros)."""
        m = len(ids) - k + 1
        code = np.zeros(max(m, 0), dtype=np.int64)
        for j in range(k):
            code = code * self.V + ids[j:j + m]
        return code

    @staticmethod
    def _count(keys: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        return np.where(keys[pos] == q, counts[pos], 0)

    def bits_per_char(self, text: str) -> float:
        n = self.n
        if len(text) < n:
            return float("nan")
        ids = self._ids(text)
        full = self._count(self.full, self.full_counts, self._codes(ids, n))
        ctx = self._count(self.ctx, self.ctx_counts, self._codes(ids[:-1], n - 1)) if n > 1 else \
            np.full(len(full), self.ctx_counts[0])
        p = (full + self.alpha) / (ctx + self.alpha * self.V)
        return float(-np.log2(p).mean())


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)

