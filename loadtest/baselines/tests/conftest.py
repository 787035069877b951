import pytest


@pytest.fixture(autouse=True)
def _baseline_urls(settings):
    """These tests call the baselines, which only the bench's settings mount (loadtest.settings_bench)."""
    settings.ROOT_URLCONF = "loadtest.baselines.urls"
