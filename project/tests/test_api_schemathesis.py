"""schemathesis against a live gunicorn: every operation of `/api/schema/`, positive and
negative data, every check schemathesis has, then a stateful run over the schema's links."""

from __future__ import annotations

import time

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
import schemathesis.engine
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.engine import Status, StopReason, events
from schemathesis.engine.run import PhaseName

from orders import services as order_services
from orders.tests.factories import make_flash_product, make_product
from redpackets.tests.factories import make_campaign

# Per operation and mode: ~19 operations x 2 modes x this many requests stays well under 90 s.
MAX_EXAMPLES = 25
# The whole run is bounded by its clock (max-time); fewer examples per operation let it reach
# the stateful phase.
RUN_MAX_EXAMPLES = 10

# Exclusions, each with its reason:
# - POST /api/auth/logout/ revokes the bearer token the run authenticates with: every later
#   request would then (rightly) answer 401 and test nothing. tests in usercenter/tests cover it.
EXCLUDED = [("POST", "/api/auth/logout/")]

# Every check schemathesis has. Some schema-valid requests are refused with 400 for what a schema
# cannot say, so these operations also accept 400 for positive data: credentials (a wrong
# password, a username already taken, a too-common password) and a normal buy of a product that
# is sold in a flash sale (400 by orders/tests/test_order_create_api.py; the schema cannot tell
# flash products from the others).
CONFIG = """
base-url = "{base_url}"
# The whole-run test's bound (the CLI engine's own clock; it stops and reports what it did).
max-time = 60

[generation]
mode = "all"
max-examples = {run_max_examples}
deterministic = true
database = "none"

[checks]
enabled = true

[[operations]]
include-operation-id = ["auth_login_create", "auth_register_create", "orders_create"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
"""


def _settings(*, derandomize: bool = True, **kw) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **kw,
    )


@pytest.fixture
def api(live_gunicorn, make_user, token_for):
    user = make_user("fuzzer")
    make_product(name="plain", stock=10_000)
    flash = make_flash_product(stock=10_000, limit=100)
    order_services.flash_open(product_id=flash.pk)
    make_campaign(count=1000, total=100_000)
    token = token_for(user)
    schema = schemathesis.openapi.from_url(
        live_gunicorn.url + "/api/schema/",
        config=schemathesis.Config.from_str(
            CONFIG.format(base_url=live_gunicorn.url, run_max_examples=RUN_MAX_EXAMPLES)
        ),
        wait_for_schema=10,
    )
    schema = schema.exclude(lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in EXCLUDED)

    @schema.auth()
    class Bearer:
        def get(self, case, context):
            return token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return live_gunicorn.url, schema


def test_every_operation_passes_every_check_with_positive_and_negative_data(api):
    base_url, schema = api
    failures: list[str] = []
    started = time.monotonic()
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @_settings()
            def run(case):
                case.call_and_validate(base_url=base_url, timeout=10)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to break: no parameters, no body
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every operation's failure
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 90


def test_schemathesis_run_with_every_phase_including_stateful_finds_nothing(api):
    """The engine the `schemathesis run` CLI drives: examples, coverage (boundary values of every
    parameter), fuzzing and the stateful phase (links inferred from the schema), positive and
    negative data, every check."""
    base_url, schema = api
    failures: list[str] = []
    stateful_scenarios = 0
    stop_reason = None
    per_phase: dict[str, int] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            per_phase[event.phase.value] = per_phase.get(event.phase.value, 0) + 1
            if event.phase is PhaseName.STATEFUL_TESTING and event.status is not Status.SKIP:
                stateful_scenarios += 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status is Status.FAILURE and check.failure_info is not None:
                        failures.append(
                            f"{event.label} [{event.phase.value}] {check.failure_info.failure.title}: "
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"error: {event.info.format() if hasattr(event, 'info') else event}")
        elif isinstance(event, events.EngineFinished):
            stop_reason = event.stop_reason
    assert not failures, "\n\n".join(sorted(set(failures)))
    # Done, or stopped by its clock after every phase ran (the stateful phase runs until then).
    assert stop_reason in (StopReason.COMPLETED, StopReason.MAX_TIME), (stop_reason, per_phase)
    assert {"examples", "coverage", "fuzzing", "stateful"} <= set(per_phase), per_phase
    assert stateful_scenarios > 0  # the links were found and followed
