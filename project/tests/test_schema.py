"""Schema checks on the migrated test database (PostgreSQL's catalog, not the models)."""

import pytest
from django.db import connection

APP_TABLE_PREFIXES = ("signin_", "orders_", "usercenter_", "redpackets_", "staticgen_")

_INDEXES = """
SELECT t.relname, i.relname, ix.indisunique, ix.indkey::int2[]::int[], ix.indclass::oid[]::int[],
       ix.indpred IS NOT NULL OR ix.indexprs IS NOT NULL, am.amname
  FROM pg_index ix
  JOIN pg_class i ON i.oid = ix.indexrelid
  JOIN pg_class t ON t.oid = ix.indrelid
  JOIN pg_am am ON am.oid = i.relam
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = 'public'
"""


@pytest.mark.django_db
def test_no_index_is_a_leading_prefix_of_another():
    """An index on (a) beside one on (a, b) costs a write per row and serves nothing the wider
    one does not (the drained grab, ledger, order and sign-in rows are the hot inserts)."""
    with connection.cursor() as cur:
        cur.execute(_INDEXES)
        rows = [r for r in cur.fetchall() if r[0].startswith(APP_TABLE_PREFIXES)]
    assert rows, "no app tables found"
    redundant = []
    for table, name, unique, cols, opclasses, partial, am in rows:
        if unique or partial or am != "btree":
            continue
        for other_table, other, _u, other_cols, other_opclasses, other_partial, other_am in rows:
            if (
                other_table == table
                and other != name
                and not other_partial
                and other_am == "btree"
                and len(other_cols) > len(cols)
                and other_cols[: len(cols)] == cols
                and other_opclasses[: len(cols)] == opclasses  # a LIKE (pattern_ops) index is another kind
            ):
                redundant.append(f"{table}.{name} is a prefix of {other}")
    assert not redundant, redundant
