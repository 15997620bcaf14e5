"""The statistics of a multi-seed run: 95% confidence intervals over seeds and items, the paired test
between two methods on the same items, and Holm's correction for several such tests.

Numbers without their spread invite over-reading (a demo table once bolded GA over NPO on 24 items);
these functions are what the report's mean ± CI cells and its bold marks are computed with."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000  # bootstrap resamples of an interval
PERMUTATIONS = 9999  # sign flips of a paired test (exact when 2^n items is no more)
ALPHA = 0.05  # two-sided level of the bold marks, after Holm's correction


def seed_item_ci(values: Sequence[Sequence[float]], confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the grand mean of a seeds x items table (every seed scored on the same items).

    Seeds and items are crossed, not nested, so both are resampled independently (the two-way bootstrap:
    one multinomial draw of seed counts and one of item counts per resample, the resampled mean being
    counts_seed . values . counts_item / (S N)). scipy.stats.bootstrap resamples one axis of independent
    observations only; with one seed this is its percentile interval over items."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or 0 in v.shape:
        raise ValueError(f"seed_item_ci needs a non-empty seeds x items table, got shape {v.shape}")
    s, n = v.shape
    rng = np.random.default_rng(seed)
    seed_counts = rng.multinomial(s, np.full(s, 1 / s), size=resamples)
    item_counts = rng.multinomial(n, np.full(n, 1 / n), size=resamples)
    means = np.einsum("rs,sn,rn->r", seed_counts, v, item_counts) / (s * n)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def seed_ci(values: Sequence[float], confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
            seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of a mean over seeds, for a number with no per-item values (forget
    quality, model utility); None with fewer than two seeds."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return None
    if np.all(v == v[0]):
        return float(v[0]), float(v[0])
    res = stats.bootstrap((v,), np.mean, confidence_level=confidence, n_resamples=resamples, method="percentile",
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_test(x: Sequence[float], y: Sequence[float], resamples: int = PERMUTATIONS, seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip permutation test of mean(x - y) = 0 (x[i], y[i]: the same
    item under two methods). Exact when 2^n <= resamples; 1.0 when every difference is zero."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired_test needs two equally long non-empty samples, got {a.shape} and {b.shape}")
    if np.all(a == b):
        return 1.0
    res = stats.permutation_test((a, b), lambda u, w, axis: np.mean(u - w, axis=axis), permutation_type="samples",
                                 vectorized=True, n_resamples=resamples, alternative="two-sided",
                                 rng=np.random.default_rng(seed))
    return float(res.pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error at most alpha when reject = adjusted < alpha);
    scipy ships Benjamini-Hochberg (false_discovery_control) but not Holm."""
    order = np.argsort(pvalues)
    m, running, out = len(pvalues), 0.0, [0.0] * len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out
