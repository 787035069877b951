"""project.sql against the live PostgreSQL: what the literal carries is what the list would."""

import pytest
from django.db import connection

from project.sql import int_array


@pytest.mark.django_db
def test_int_array_round_trips_like_a_list():
    values = [3, -7, 0, 2**62, 42]
    with connection.cursor() as c:
        c.execute("SELECT unnest(%s::bigint[])", [int_array(values)])
        assert [r[0] for r in c.fetchall()] == values
        c.execute("SELECT 5 = ANY(%s::bigint[]), 6 = ANY(%s::bigint[])", [int_array([4, 5]), int_array([])])
        assert c.fetchone() == (True, False)


def test_int_array_takes_any_iterable_and_refuses_what_is_not_an_integer():
    assert int_array(iter([1, 2])) == "{1,2}"
    assert int_array([]) == "{}"
    assert int_array(["12"]) == "{12}"
    with pytest.raises(ValueError):
        int_array(["1}; DROP TABLE x"])
    with pytest.raises(TypeError):
        int_array([None])
