"""Text metrics against hand-computed values and sacrebleu's own documented example."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from dltour.metrics.text import (CharNgramLM, binary_accuracy, corpus_bleu, distinct_n, nats_to_bits,
                                 nearest_words, neighbour_overlap, neighbour_sets, polarity_alignment, polarity_scores,
                                 sentence_bleu, temperature_probs, word_measures, words_of)
from dltour.models.text import sample_index


def test_binary_accuracy_by_hand():
    assert binary_accuracy([1, 0, 1, 0], [2.0, -1.0, -0.5, 0.3]) == 0.5
    with pytest.raises(ValueError):
        binary_accuracy([1, 0], [1.0])


def test_nearest_words_on_hand_made_vectors():
    words = ["<pad>", "action", "actions", "fight", "banana", "zero"]
    v = np.array([[0, 0], [1, 0], [2, 0.2], [1, 1], [-1, 0.1], [0, 0]], dtype=float)
    got = nearest_words(v, words, "action", k=3, exclude={"<pad>"})
    # cosines: actions 2/sqrt(4.04)=0.995, fight 1/sqrt2=0.707, banana -1/sqrt(1.01)=-0.995; zero vectors never match
    assert [w for w, _ in got] == ["actions", "fight", "banana"]
    assert got[0][1] == pytest.approx(2 / math.sqrt(4.04))
    assert got[1][1] == pytest.approx(1 / math.sqrt(2))
    with pytest.raises(KeyError):
        nearest_words(v, words, "missing")


def test_temperature_probs_greedy_softmax_and_uniform_limit():
    z = np.array([1.0, 3.0, 2.0])
    assert temperature_probs(z, 0).tolist() == [0, 1, 0]
    e = np.exp(z)
    np.testing.assert_allclose(temperature_probs(z, 1.0), e / e.sum())
    np.testing.assert_allclose(temperature_probs(z, 0.5), np.exp(2 * z) / np.exp(2 * z).sum())
    np.testing.assert_allclose(temperature_probs(z, 1e6), np.full(3, 1 / 3), atol=1e-5)
    with pytest.raises(ValueError):
        temperature_probs(z, -1)


def test_sample_index_zero_is_argmax_and_high_temperature_is_uniform():
    logits = torch.tensor([[0.0, 5.0, 1.0, -2.0], [3.0, 0.0, 0.0, 0.0]])
    assert sample_index(logits, 0).tolist() == [1, 0]
    g = torch.Generator().manual_seed(0)
    big = logits[0:1].repeat(20000, 1)
    counts = torch.bincount(sample_index(big, 1e4, g), minlength=4).float() / 20000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.015)
    counts1 = torch.bincount(sample_index(big, 1.0, g), minlength=4).float() / 20000
    assert torch.allclose(counts1, torch.softmax(logits[0], 0), atol=0.015)
    # a tiny temperature is (almost surely) the argmax too
    assert (sample_index(big[:200], 0.01, g) == 1).all()


def test_corpus_bleu_matches_sacrebleu_readme_example():
    # sacrebleu's README: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ...)"
    refs = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
            ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
    hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    score, sig = corpus_bleu(hyps, *refs)
    assert round(score, 2) == 48.53
    assert "nrefs:2" in sig and "tok:13a" in sig
    assert corpus_bleu(["a b c d"], ["a b c d"])[0] == pytest.approx(100.0)
    with pytest.raises(ValueError):
        corpus_bleu(hyps, refs[0][:2])


def test_distinct_n_by_hand():
    # bigrams: (a b) (b a) (a b) | (a b) -> 2 distinct of 4
    assert distinct_n(["a b a b", "a b"], 2) == pytest.approx(2 / 4)
    assert distinct_n(["a b c"], 1) == 1.0
    assert distinct_n(["a"], 2) == 0.0


def test_char_ngram_lm_matches_direct_formula():
    train = "abracadabra abba cab"
    lm = CharNgramLM(train, n=3, alpha=0.1)
    full = Counter(train[i:i + 3] for i in range(len(train) - 2))
    ctx = Counter(train[i:i + 2] for i in range(len(train) - 2))
    V = len(set(train)) + 1
    s = "abcaz"  # 'z' never seen
    want = -sum(math.log2((full[s[i - 2:i + 1]] + 0.1) / (ctx[s[i - 2:i]] + 0.1 * V))
                for i in range(2, len(s))) / (len(s) - 2)
    assert lm.bits_per_char(s) == pytest.approx(want)
    assert lm.bits_per_char("abra") < lm.bits_per_char("zzzz")
    assert math.isnan(lm.bits_per_char("a"))


def test_nats_to_bits():
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)


def test_neighbour_sets_and_overlap_by_hand():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=float)
    nb = neighbour_sets(v, [0, 2], [0, 1, 2, 3, 4], k=2)
    assert nb.tolist() == [[1, 3], [3, 1]]  # a query is never its own neighbour
    assert neighbour_overlap(nb, nb) == 1.0
    assert neighbour_overlap(nb, np.array([[1, 4], [4, 0]])) == 0.25
    with pytest.raises(ValueError):
        neighbour_sets(v, [0], [0, 1], k=2)
    with pytest.raises(ValueError):
        neighbour_overlap(nb, nb[:1])


def test_polarity_scores_and_alignment_by_hand():
    # word 2 only in positive documents, word 3 only in negative ones, word 4 in both
    score, docs = polarity_scores([[2, 2, 4], [2, 4], [3, 4]], [1, 1, 0], size=5)
    assert docs.tolist() == [0, 0, 2, 1, 3]
    assert score[2] == pytest.approx(math.log(3 / 1) - math.log(3 / 2))
    assert score[3] == pytest.approx(math.log(1 / 2) - math.log(3 / 2))
    assert score[4] == pytest.approx(math.log(3 / 2) - math.log(3 / 2))
    s = np.linspace(-1, 1, 30)
    vec = np.stack([s, np.ones(30)], 1)  # geometry = score: neighbours share the query's polarity
    assert polarity_alignment(vec, s, range(30), range(30), k=3) > 0.95
    rng = np.random.default_rng(0)  # unrelated geometry: near 0
    assert abs(polarity_alignment(rng.normal(size=(30, 5)), s, range(30), range(30), k=3)) < 0.5


def test_words_and_word_measures_by_hand():
    assert words_of("The KING's men -- 3 of them!") == ["the", "king's", "men", "of", "them"]
    m = word_measures(["the king", "zzqx the"], known={"the", "king"}, common={"the"})
    assert m == {"mean_word_len": pytest.approx((3 + 4 + 4 + 3) / 4), "in_vocab_words": 0.75, "common_words": 0.5}
    assert all(math.isnan(v) for v in word_measures(["!!", ""], {"a"}, {"a"}).values())


def test_sentence_bleu_per_sample():
    got = sentence_bleu(["the cat sat on the mat", "zzz qqq"], ["the cat sat on the mat", "the cat sat on the mat"])
    assert got[0] == pytest.approx(100.0) and got[1] < 1.0
    with pytest.raises(ValueError):
        sentence_bleu(["a"], [])
