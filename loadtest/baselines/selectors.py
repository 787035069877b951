"""Reads without the cache levels the product puts in front of them."""

from __future__ import annotations

from project.cache import TwoLevelCache
from usercenter import selectors as usercenter_selectors

# The home document without the process-local level: what L1 saves over Redis alone.
home_cache_l2only = TwoLevelCache("home.l2only", l1_seconds=0, soft_seconds=30, hard_seconds=3600, lock_seconds=30)


def home_document_l2only() -> dict:
    return home_cache_l2only.get_or_compute(usercenter_selectors.HOME_KEY, usercenter_selectors.home_document_build)
