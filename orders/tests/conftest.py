import pytest

from orders import services


@pytest.fixture(autouse=True)
def _forget_sold_out_flags():
    """The sold-out flag is process-local: no test may inherit another's."""
    services.flash_forget_sold_out()
    yield
    services.flash_forget_sold_out()
