"""Property-based checks of the customer API from its own OpenAPI schema (schemathesis).

Generated requests of every shape go to a real running server; none may
crash it (5xx), and every response must match the schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, given, settings

from knowledge_base.settings import Settings
from tests.server_fixtures import free_port
from tests.test_server_customer import serve


@pytest.fixture(scope="module")
def api_url(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    data_dir = tmp_path_factory.mktemp("schema")
    live, server, thread = serve(Settings(data_dir=data_dir, speech_enabled=True, demo=True,
                                          public_url=f"http://127.0.0.1:{port}"), port)
    yield live.url
    server.should_exit = True
    thread.join(timeout=10)


def test_customer_api_never_fails(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json").include(tag="customer")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/converse", "/api/converse/audio", "/api/speech/{speech_id}.wav"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            # A schema-valid upload that is not a recording (an empty file, random bytes)
            # is rightly refused with 422 and a Chinese message; every other check applies.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        check()
