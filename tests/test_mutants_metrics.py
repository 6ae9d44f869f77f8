"""Known-answer tests that kill the mutants mutmut found surviving in ``dltour.metrics`` (issue #23
item 8; scripts/mutation.sh). Every expected value below is worked out by hand from the metric's
definition, not taken from the implementation's output."""

from __future__ import annotations

import contextlib
import math
import types

import numpy as np
import pytest
import torch

from dltour.metrics import classification as cls
from dltour.metrics.regression import mae, mse, rmse


# ---------------------------------------------------------------- accuracy / top-k
def test_accuracy_from_labels_and_from_scores():
    assert cls.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    # (N, C) scores: the argmax of each row is the prediction -> rows predict 1, 0, 2 vs labels 1, 1, 2
    scores = [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]]
    assert cls.accuracy(scores, [1, 1, 2]) == pytest.approx(2 / 3)
    # torch tensors (float scores, integer labels) give the same answer
    assert cls.accuracy(torch.tensor(scores), torch.tensor([1, 1, 2])) == pytest.approx(2 / 3)
    # labels given as a column are flattened
    assert cls.accuracy([3, 4], [[3], [5]]) == 0.5


def test_accuracy_rejects_length_mismatch_and_empty_sets():
    with pytest.raises(ValueError, match="differ in length"):
        cls.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        cls.accuracy([], [])


def test_top_k_accuracy_known_answers():
    scores = np.array([[0.5, 0.3, 0.2],   # label 2 is ranked 3rd
                       [0.1, 0.6, 0.3],   # label 2 is ranked 2nd
                       [0.7, 0.2, 0.1]])  # label 0 is ranked 1st
    labels = [2, 2, 0]
    assert cls.top_k_accuracy(scores, labels, k=1) == pytest.approx(1 / 3)
    assert cls.top_k_accuracy(scores, labels, k=2) == pytest.approx(2 / 3)
    assert cls.top_k_accuracy(scores, labels, k=3) == 1.0
    # ties are broken by index order: with all scores equal, top-1 is class 0 only
    assert cls.top_k_accuracy(np.zeros((2, 3)), [0, 1], k=1) == 0.5
    assert cls.top_k_accuracy(np.zeros((2, 3)), [0, 1], k=2) == 1.0


@pytest.mark.parametrize("k", [0, 4])
def test_top_k_accuracy_rejects_k_outside_1_to_c(k):
    with pytest.raises(ValueError, match="k must be in 1..3"):
        cls.top_k_accuracy(np.zeros((2, 3)), [0, 1], k=k)


def test_top_k_accuracy_rejects_bad_shapes():
    with pytest.raises(ValueError, match="scores must be"):
        cls.top_k_accuracy(np.zeros(3), [0, 1, 2], k=1)
    with pytest.raises(ValueError, match="scores must be"):
        cls.top_k_accuracy(np.zeros((2, 3)), [0, 1, 2], k=1)


# ---------------------------------------------------------------- regression
def test_mse_rmse_mae_known_answers():
    y, p = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 1.0, 4.0]  # errors -1, 0, 2, 0
    assert mse(y, p) == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert rmse(y, p) == pytest.approx(math.sqrt(5 / 4))
    assert mae(y, p) == pytest.approx((1 + 0 + 2 + 0) / 4)
    # integer inputs are treated as floats (no integer wrap-around or truncation)
    assert mse(np.array([0], dtype=np.uint8), np.array([255], dtype=np.uint8)) == 255.0 ** 2
    assert mae(np.array([0], dtype=np.uint8), np.array([255], dtype=np.uint8)) == 255.0


@pytest.mark.parametrize("fn", [mse, mae, rmse])
def test_regression_metrics_reject_shape_mismatch(fn):
    with pytest.raises(ValueError, match="shape mismatch"):
        fn([1.0, 2.0], [1.0, 2.0, 3.0])


# ---------------------------------------------------------------- time_inference
class _Clock:
    def __init__(self):
        self.t = 100.0
        self.reads = 0

    def perf_counter(self):
        self.reads += 1
        return self.t


class _Model(torch.nn.Module):
    """Each forward pass 'takes' 2 ms + 0.5 ms per image on the fake clock; it records what it saw."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.calls: list[tuple[int, bool, bool, bool]] = []

    def forward(self, x):
        self.calls.append((x.shape[0], self.training, torch.is_grad_enabled(),
                           x.is_contiguous(memory_format=torch.channels_last)))
        self.clock.t += 0.002 + 0.0005 * x.shape[0]
        return x.sum()


def _dev():
    d = types.SimpleNamespace(device="cpu", name="cpu-test", dtype_name="fp32", syncs=0)
    d.autocast = contextlib.nullcontext

    def sync():
        d.syncs += 1

    d.sync = sync
    return d


def test_time_inference_known_timings_and_contract(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(cls, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    model = _Model(clock)
    model.train()
    dev = _dev()
    r = cls.time_inference(model, (3, 2, 2), dev, batch_size=4, warmup=2, iters=3, iters_b1=5)
    # batch 1: 2 ms + 0.5 ms = 2.5 ms per pass; batch 4: 2 ms + 2 ms = 4 ms per pass = 1 ms per image
    assert r["latency_b1_us"] == pytest.approx(2500.0)
    assert r["us_per_image_batched"] == pytest.approx(1000.0)
    assert r["images_per_s_batched"] == pytest.approx(1000.0)
    assert (r["batch_size"], r["warmup"], r["iters"], r["iters_b1"]) == (4, 2, 3, 5)
    assert (r["device"], r["dtype"], r["memory_format"]) == ("cpu-test", "fp32", "contiguous")
    # warm-up then timed passes, batch 1 first: 2 + 5 passes of 1 image, 2 + 3 passes of 4 images
    assert [c[0] for c in model.calls] == [1] * 7 + [4] * 5
    # every pass in eval mode without autograd; the model's training mode is restored afterwards
    assert all(not training and not grad for _, training, grad, _ in model.calls)
    assert model.training
    # the device is synchronised after the warm-up and after every timed pass, and the clock is read
    # twice per timed pass
    assert dev.syncs == (1 + 5) + (1 + 3)
    assert clock.reads == 2 * (5 + 3)


def test_time_inference_iters_b1_defaults_to_iters_and_channels_last(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(cls, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    model = _Model(clock).eval()
    r = cls.time_inference(model, (3, 2, 2), _dev(), batch_size=2, warmup=0, iters=4, channels_last=True)
    assert r["iters_b1"] == 4 and r["memory_format"] == "channels_last"
    assert [c[0] for c in model.calls] == [1] * 4 + [2] * 4
    assert all(c[3] for c in model.calls)  # the synthetic input really is channels_last
    assert not model.training  # eval mode is kept when the model came in eval mode
    # batch 2: 3 ms per pass = 1.5 ms per image
    assert r["us_per_image_batched"] == pytest.approx(1500.0)


@pytest.mark.parametrize("kw", [{"batch_size": 0}, {"iters": 0}, {"warmup": -1}])
def test_time_inference_rejects_bad_counts(kw):
    with pytest.raises(ValueError, match="must be >= 1"):
        cls.time_inference(torch.nn.Identity(), (1, 1, 1), _dev(), **kw)


# ---------------------------------------------------------------- image metrics
from dltour.metrics import image as im  # noqa: E402


def test_psnr_is_over_the_difference_and_exact_for_uint8():
    # MSE of (0.5 - 0.25)**2 = 1/16 -> 10 log10(16) dB
    assert im.psnr([0.5, 0.5], [0.25, 0.25]) == pytest.approx(10 * math.log10(16))
    # uint8 images: 0 vs 255 is an MSE of 255**2 = range**2 -> 0 dB (no uint8 wrap-around to 1)
    a, b = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 255, np.uint8)
    assert im.psnr(a, b, data_range=255) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="MSE must be >= 0"):
        im.psnr_from_mse(-1e-3)


def test_colourfulness_by_hand_per_image_in_a_batch():
    # image 1: half yellow (1, 1, 0), half blue (0, 0, 1): rg = 0; yb = +-255 -> std 255, mean 0 -> M = 255
    yb = np.array([[[1, 1, 0], [0, 0, 1]]], float)
    # image 2: half red, half green: rg = +-255 (std 255, mean 0), yb = 127.5 (std 0) -> M = 255 + 0.3 * 127.5
    rg = np.array([[[1, 0, 0], [0, 1, 0]]], float)
    # image 3: half red, half black: rg = 255, 0 and yb = 127.5, 0 -> std and mean both (127.5, 63.75)
    # -> M = (1 + 0.3) * sqrt(127.5**2 + 63.75**2)
    rk = np.array([[[1, 0, 0], [0, 0, 0]]], float)
    assert im.colourfulness(np.stack([yb, rg, rk])) == pytest.approx(
        [255.0, 255.0 + 0.3 * 127.5, 1.3 * math.hypot(127.5, 63.75)])


def test_saturation_histogram_defaults_and_density():
    img = np.zeros((2, 2, 3))
    img[..., 0], img[..., 1], img[..., 2] = 0.8, 0.6, 0.6  # every pixel: (0.8 - 0.6) / 0.8 = 0.25
    dens, edges = im.saturation_histogram(img)
    assert np.allclose(edges, np.linspace(0.0, 1.0, 21))  # 20 bins on [0, 1] by default, whatever the data
    # all mass in the bin [0.25, 0.30): a density of 1 / bin width = 20 there, 0 elsewhere
    assert dens[5] == pytest.approx(20.0) and dens.sum() == pytest.approx(20.0)


def _faded(colour, strength):
    """Gray 0.5 plus ``strength`` times (colour - 0.5): its chroma is ``strength`` x the colour's
    (chroma is linear in RGB and zero for gray)."""
    return tuple(0.5 + strength * (np.asarray(colour, float) - 0.5))


def test_hue_error_weighted_angles_by_hand():
    red, cyan = (1, 0, 0), (0, 1, 1)  # complementary: opposite chroma vectors (180 degrees apart)
    true = np.array([[red, red, (0.5, 0.5, 0.5)]], float)  # the last pixel is gray: no hue, left out
    # pixel 1 right hue at full strength (weight c, 0 deg); pixel 2 the opposite hue at half strength
    # (weight c / 2, 180 deg); the gray pixel gets a vivid prediction but must not count
    pred = np.array([[red, _faded(cyan, 0.5), red]], float)
    # weighted mean (c * 0 + c/2 * 180) / (3c/2) = 60 degrees
    assert im.hue_error(pred, true)[0] == pytest.approx(60.0)
    # per image in a batch: image 2 all right -> 0
    batch_p, batch_t = np.stack([pred, true]), np.stack([true, true])  # (2, 1, 3, 3)
    assert im.hue_error(batch_p, batch_t) == pytest.approx([60.0, 0.0])


def test_hue_error_min_chroma_is_inclusive_and_no_colour_is_nan():
    red = np.array([[[1.0, 0.0, 0.0]]])
    c = float(im.chroma(red).ravel()[0])
    # "pixels whose true chroma is at least min_chroma": a pixel exactly at the threshold counts
    assert im.hue_error(red, red, min_chroma=c)[0] == pytest.approx(0.0)
    assert np.isnan(im.hue_error(red, red, min_chroma=c * 1.0001)[0])
    gray = np.full((1, 1, 3), 0.5)
    assert np.isnan(im.hue_error(gray, red)[0])  # no predicted colour where the truth has one


# ---------------------------------------------------------------- inception score
from dltour.metrics.inception import inception_score  # noqa: E402


def test_inception_score_default_ten_splits():
    # 20 confident images alternating between 2 classes: with the default 10 splits every part holds
    # one image of each class -> IS = 2 in each part
    probs = np.tile(np.eye(2), (10, 1))
    assert inception_score(probs) == pytest.approx((2.0, 0.0))
    # float16 input is scored in float64 (no log(0) from an eps lost to float16 rounding)
    assert inception_score(probs.astype(np.float16)) == pytest.approx((2.0, 0.0))


def test_inception_score_split_bounds_and_single_image():
    assert inception_score([[0.3, 0.7]], splits=1) == pytest.approx((1.0, 0.0))  # N = 1 is fine
    assert inception_score(np.eye(2), splits=2) == pytest.approx((1.0, 0.0))  # splits = N is fine
    with pytest.raises(ValueError, match=r"1\.\.N \(4\), got 5"):
        inception_score(np.full((4, 3), 1 / 3), splits=5)
    with pytest.raises(ValueError, match="N > 0"):
        inception_score(np.zeros((0, 3)), splits=1)
    with pytest.raises(ValueError, match="probability distribution"):
        inception_score([[-0.5, 1.5]], splits=1)  # sums to 1 but has a negative entry


# ---------------------------------------------------------------- text metrics
from dltour.metrics import text as tx  # noqa: E402


def test_binary_accuracy_logit_zero_is_negative():
    # predictions (logit > 0): 1, 0, 0, 0 against 1, 0, 1, 0 -> 3 of 4
    assert tx.binary_accuracy([1, 0, 1, 0], [2.0, -1.0, -3.0, 0.0]) == 0.75


def test_nearest_words_cosine_exclusions_and_non_unit_vectors():
    words = ["a", "b", "c", "d", "z"]
    v = np.array([[2.0, 0.0], [0.5, 0.5], [0.0, 0.3], [-0.2, 0.0], [0.0, 0.0]])
    got = tx.nearest_words(v, words, "a", k=10)
    assert [w for w, _ in got] == ["b", "c", "d"]  # the query and the zero vector never match
    assert [s for _, s in got] == pytest.approx([math.sqrt(0.5), 0.0, -1.0])
    assert [w for w, _ in tx.nearest_words(v, words, "a", k=10, exclude={"b", "not-a-word"})] == ["c", "d"]
    assert [w for w, _ in tx.nearest_words(v, words, "a", k=1)] == ["b"]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tx.nearest_words(v, words, "q")


def test_neighbour_sets_non_unit_vectors():
    # cosine (not dot product) decides: row 1 is short but points the same way as row 0
    v = np.array([[3.0, 0.0], [0.1, 0.0], [2.0, 2.0], [0.0, 5.0]])
    nb = tx.neighbour_sets(v, [0, 3], [0, 1, 2, 3], k=2)
    assert nb.tolist() == [[1, 2], [2, 0]]  # query 3: (2, 2) at 45 deg, then rows 0 and 1 tie at 90 -> lower index


def test_polarity_alignment_by_hand():
    v = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])  # two tight pairs: 0-1 and 2-3
    # each word's 1 nearest neighbour is its pair: y = x -> r = 1 (scores with a range of exactly 1)
    assert tx.polarity_alignment(v, [1.0, 1.0, 0.0, 0.0], [0, 1, 2, 3], [0, 1, 2, 3], k=1) == pytest.approx(1.0)
    # constant query scores (queries 0 and 2, both 1.0) but varying neighbour scores (0 and 5): 0
    assert tx.polarity_alignment(v, [1.0, 0.0, 1.0, 5.0], [0, 2], [0, 1, 2, 3], k=1) == 0.0
    assert tx.polarity_alignment(v, [0.5] * 4, [0, 1, 2, 3], [0, 1, 2, 3], k=1) == 0.0


def test_temperature_probs_large_logits_and_message():
    p = tx.temperature_probs([1000.0, 999.0], 1.0)  # softmax is shift-invariant: same as [1, 0]
    assert p == pytest.approx([1 / (1 + math.exp(-1)), 1 / (1 + math.e)])
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        tx.temperature_probs([1.0], -0.1)


def test_words_of_and_word_measures():
    assert tx.words_of("It's ' fine!") == ["it's", "fine"]  # a lone apostrophe is no word
    m = tx.word_measures(["the cat", "a dog"], known={"the", "cat", "dog"}, common={"the"})
    assert m == {"mean_word_len": pytest.approx(10 / 4), "in_vocab_words": 0.75, "common_words": 0.25}
    empty = tx.word_measures(["", "!!"], known=set(), common=set())
    assert set(empty) == {"mean_word_len", "in_vocab_words", "common_words"}
    assert all(math.isnan(x) for x in empty.values())


def test_sentence_bleu_uses_effective_order():
    # a 3-word exact match has no 4-grams: with effective order it scores 100
    assert tx.sentence_bleu(["the cat sat"], ["the cat sat"]) == [pytest.approx(100.0)]
