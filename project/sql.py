"""Small helpers for the hand-written SQL of the batch writers (the queue drains)."""

from __future__ import annotations

from collections.abc import Iterable


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers, to pass as one parameter cast in the SQL
    (`unnest(%s::bigint[])`, `= ANY(%s::bigint[])`): psycopg2 adapts a list element by element,
    and a drained batch passes thousands. Every value goes through int(), so nothing but digits
    and signs reaches the literal."""
    return "{" + ",".join([str(int(v)) for v in values]) + "}"


def table(model) -> str:
    """The model's table name, so hand-written SQL follows a renamed table."""
    return model._meta.db_table  # noqa: SLF001 - _meta is Django's documented model metadata API
