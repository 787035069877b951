"""The two split methods: exact sum, every share >= 1 cent, exactly N shares, and the double
average's bound, over many totals and counts (hypothesis)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redpackets import splitting


@st.composite
def total_and_count(draw):
    count = draw(st.integers(min_value=1, max_value=2000))
    total = draw(st.integers(min_value=count, max_value=count * draw(st.sampled_from([1, 2, 3, 10, 1000, 10**6]))))
    return total, count


@settings(max_examples=300, deadline=None)
@given(total_and_count(), st.sampled_from(splitting.METHODS), st.integers(min_value=0, max_value=2**32))
def test_every_split_has_n_shares_of_at_least_a_cent_summing_to_the_total(tc, method, seed):
    total, count = tc
    shares = splitting.split(total, count, method, random.Random(seed))
    assert len(shares) == count
    assert sum(shares) == total
    assert min(shares) >= 1
    assert all(isinstance(s, int) for s in shares)


@settings(max_examples=300, deadline=None)
@given(total_and_count(), st.integers(min_value=0, max_value=2**32))
def test_each_double_average_share_is_below_twice_the_average_left_at_its_draw(tc, seed):
    total, count = tc
    shares = splitting.double_average(total, count, random.Random(seed))
    left, n = total, count
    for share in shares[:-1]:
        assert share >= 1 and share * n < 2 * left  # drawn from [1, 2M/N)
        assert share <= left - (n - 1)  # every later share keeps its cent
        left -= share
        n -= 1
    assert shares[-1] == left


def test_a_tight_packet_gives_everyone_one_cent():
    for method in splitting.METHODS:
        assert splitting.split(5, 5, method) == [1, 1, 1, 1, 1]


def test_a_single_share_is_the_whole_total():
    for method in splitting.METHODS:
        assert splitting.split(777, 1, method) == [777]


def test_line_cut_shares_vary():
    assert len(set(splitting.line_cut(100_000, 100, random.Random(1)))) > 50


@pytest.mark.parametrize(("total", "count"), [(4, 5), (10, 0), (10, -1)])
def test_impossible_splits_are_refused(total, count):
    with pytest.raises(splitting.SplitError):
        splitting.split(total, count, splitting.DOUBLE_AVERAGE)


def test_unknown_method_is_refused():
    with pytest.raises(splitting.SplitError):
        splitting.split(10, 2, "random")
