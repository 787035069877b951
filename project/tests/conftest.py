"""Fixtures for the kernel's own drills."""

import pytest


@pytest.fixture(scope="session")
def patroni_cluster(django_db_setup, django_db_blocker):
    """One Patroni cluster (etcd, two nodes, pgBackRest) for every drill of the session; skipped
    with the reason on a machine without the tools."""
    from project.tests import patroni

    reason = patroni.missing()
    if reason:
        pytest.skip(f"Patroni drills need etcd, Patroni and pgBackRest: {reason}")
    cluster = patroni.PatroniCluster()
    try:
        cluster.bootstrap_seconds = cluster.up()
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def on_patroni(patroni_cluster, transactional_db):
    """This process's ORM on the Patroni cluster for one test (the test database after)."""
    with patroni_cluster.use():
        yield patroni_cluster
