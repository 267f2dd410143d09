"""Corpus BLEU-4, corpus GLEU-4 (Google-BLEU) and distinct n-grams, for token lists.

BLEU (Papineni et al. 2002): clipped n-gram precisions p_1..p_4 pooled over the corpus, geometric
mean, times the brevity penalty exp(1 - r/c) when the candidates are shorter than the references;
no smoothing (a zero p_n gives 0). GLEU (Wu et al. 2016): n-gram matches of orders 1..4 divided by
max(candidate n-grams, reference n-grams), i.e. min(precision, recall), pooled over the corpus.
One reference per candidate.
"""
import math
from collections import Counter


def ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _matches(hyp, ref, n):
    h, r = ngrams(hyp, n), ngrams(ref, n)
    return sum(min(c, r[g]) for g, c in h.items()), max(len(hyp) - n + 1, 0), max(len(ref) - n + 1, 0)


def corpus_bleu(hyps, refs, max_n: int = 4) -> float:
    if len(hyps) != len(refs) or not hyps:
        raise ValueError("need one reference per candidate, and at least one candidate")
    match, total = [0] * max_n, [0] * max_n
    for h, r in zip(hyps, refs):
        for n in range(1, max_n + 1):
            m, th, _ = _matches(h, r, n)
            match[n - 1] += m
            total[n - 1] += th
    if min(match) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(match, total)) / max_n
    c, r = sum(len(h) for h in hyps), sum(len(x) for x in refs)
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return bp * math.exp(log_p)


def corpus_gleu(hyps, refs, max_n: int = 4) -> float:
    if len(hyps) != len(refs) or not hyps:
        raise ValueError("need one reference per candidate, and at least one candidate")
    match = denom = 0
    for h, r in zip(hyps, refs):
        for n in range(1, max_n + 1):
            m, th, tr = _matches(h, r, n)
            match += m
            denom += max(th, tr)
    return match / denom if denom else 0.0


def distinct_n(samples, n: int) -> float:
    """Distinct n-grams / all n-grams over a set of token lists (1.0: no repetition across them)."""
    grams = Counter()
    for s in samples:
        grams.update(ngrams(s, n))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0
