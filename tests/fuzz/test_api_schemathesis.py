"""Fuzzing the API from its own OpenAPI document (schemathesis), bounded in examples and time.

Every operation under /v1 gets valid and invalid requests from the
document's schemas, sent as a tenant with every capability: no answer is a
500, every error is problem+json, a 422 names the fields, and the
application still answers afterwards.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from courriel.services import Services
from courriel.web.app import create_app
from tests.support.tenants import TenantAccess

# Requests spread over every operation by Hypothesis, within a time budget
# per generation mode so `make test` grows by well under a minute on a shared
# 2-core machine; each run draws different requests.
EXAMPLES = 150
BUDGET_S = 25.0
PROBLEM = "application/problem+json"


def _check(case: Any, response: Any, where: str) -> list[str]:
    status = response.status_code
    if status >= 500:
        return [f"{where}: {status} for {case.path_parameters} {case.query} {case.body!r:.300}"]
    if status < 400:
        return []
    kind = ";".join(response.headers.get("content-type", []))
    if not kind.startswith(PROBLEM):
        return [f"{where}: {status} as {kind!r}, not problem+json"]
    body = response.json()
    if status == 422 and not (body.get("errors") and all(e.get("field") for e in body["errors"])):
        return [f"{where}: 422 without the fields named: {body}"]
    return []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_from_the_openapi_document_gets_a_500(
    services: Services, tenant_a: TenantAccess, mode: GenerationMode
) -> None:
    app = create_app(services)
    # The HTML pages answer in HTML, by design: the API is what is fuzzed.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/v1/")
    deadline = time.monotonic() + BUDGET_S
    problems: list[str] = []
    seen: set[str] = set()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        where = f"{case.method} {case.path} ({mode.value})"
        seen.add(where)
        response = case.call(headers=tenant_a.headers)
        problems.extend(_check(case, response, where))

    fuzz()
    print(f"fuzzed {len(seen)} operations")
    assert problems == []
    # The server keeps answering.
    with TestClient(app) as after:
        assert after.get("/healthz").status_code == 200
        assert after.get("/v1/lists", headers=tenant_a.headers).status_code == 200
