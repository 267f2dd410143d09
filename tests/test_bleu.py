"""BLEU / GLEU / distinct-n on examples computed by hand."""
import math

import pytest

from rtb_lightning.metrics.bleu import corpus_bleu, corpus_gleu, distinct_n


def test_identical_is_one_and_disjoint_is_zero():
    s = "she bought a red apple for tom .".split()
    assert corpus_bleu([s], [s]) == 1.0 and corpus_gleu([s], [s]) == 1.0
    other = "w x y z v".split()
    assert corpus_bleu([other], [s]) == 0.0 and corpus_gleu([other], [s]) == 0.0


def test_hand_computed_precisions():
    hyp, ref = "a b c d e".split(), "a b c d f".split()
    # p1..p4 = 4/5, 3/4, 2/3, 1/2; equal lengths: no brevity penalty
    assert corpus_bleu([hyp], [ref]) == pytest.approx((4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25)
    assert corpus_gleu([hyp], [ref]) == pytest.approx(10 / 14)


def test_brevity_penalty_and_recall():
    hyp, ref = "a b c d".split(), "a b c d e f".split()
    assert corpus_bleu([hyp], [ref]) == pytest.approx(math.exp(1 - 6 / 4))
    assert corpus_gleu([hyp], [ref]) == pytest.approx(10 / 18)        # GLEU punishes the missing recall


def test_clipping_and_corpus_pooling():
    # "the the the the" vs "the cat": clipped unigram matches 1 of 4 -> no 2-gram matches -> 0
    assert corpus_bleu([["the"] * 4], [["the", "cat"]]) == 0.0
    # pooled over two sentences: counts add before the ratio
    h = ["a b c d e".split(), "a b c d".split()]
    r = ["a b c d f".split(), "a b c d".split()]
    p = [(4 + 4) / 9, (3 + 3) / 7, (2 + 2) / 5, (1 + 1) / 3]
    assert corpus_bleu(h, r) == pytest.approx(math.prod(p) ** 0.25)
    assert corpus_gleu(h, r) == pytest.approx((10 + 10) / (14 + 10))


def test_distinct_n():
    assert distinct_n([["a", "b"], ["a", "b"]], 1) == 0.5
    assert distinct_n([["a", "b", "c"], ["a", "b", "d"]], 2) == 3 / 4
    assert distinct_n([], 2) == 0.0
