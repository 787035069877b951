"""Splitting a red packet into shares: pure functions of (total, count, rng).

Both methods give exactly `count` integer shares of at least 1 cent that sum exactly to `total`.
"""

from __future__ import annotations

import random

DOUBLE_AVERAGE = "double_average"
LINE_CUT = "line_cut"
METHODS = (DOUBLE_AVERAGE, LINE_CUT)


class SplitError(ValueError):
    pass


def _check(total: int, count: int) -> None:
    if not isinstance(total, int) or not isinstance(count, int):
        raise SplitError("total and count must be whole numbers of cents")
    if count < 1:
        raise SplitError("count must be at least 1")
    if total < count:
        raise SplitError(f"total ({total} cents) must be at least one cent per share ({count} shares)")


def double_average(total: int, count: int, rng: random.Random | None = None) -> list[int]:
    """WeChat's "double average": with M cents left for N shares, the next share is drawn
    uniformly from [1, 2M/N) and capped at M - (N - 1) so every later share keeps its cent;
    the last share takes what is left. Shares come back in draw order (callers shuffle)."""
    _check(total, count)
    rng = rng or random.SystemRandom()
    shares = []
    left, n = total, count
    while n > 1:
        # Largest integer strictly below 2M/N (2M/N >= 2 because M >= N, so this is >= 1).
        hi = min((2 * left + n - 1) // n - 1, left - (n - 1))
        share = rng.randint(1, max(1, hi))
        shares.append(share)
        left -= share
        n -= 1
    shares.append(left)
    return shares


def line_cut(total: int, count: int, rng: random.Random | None = None) -> list[int]:
    """ "Line cutting": N - 1 distinct cut points on the line 1..total-1; shares are the gaps.
    Distinct points make every gap at least 1 cent."""
    _check(total, count)
    rng = rng or random.SystemRandom()
    cuts = sorted(rng.sample(range(1, total), count - 1))
    shares = []
    prev = 0
    for c in [*cuts, total]:
        shares.append(c - prev)
        prev = c
    return shares


def split(total: int, count: int, method: str, rng: random.Random | None = None) -> list[int]:
    """The shares for a campaign, shuffled (so the draw order of double-average leaks nothing)."""
    if method == DOUBLE_AVERAGE:
        shares = double_average(total, count, rng)
    elif method == LINE_CUT:
        shares = line_cut(total, count, rng)
    else:
        raise SplitError(f"unknown split method {method!r} (use one of {', '.join(METHODS)})")
    (rng or random.SystemRandom()).shuffle(shares)
    return shares
