"""A person's run of instant steps: walked in shared transactions, each step once,
handed back after MAX_STEPS_PER_TURN so others get their turn, and a send still
in a transaction of its own."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.automation.models import Enrollment, EnrollmentState, StepRun, StepRunState
from courriel.automation.runner import MAX_STEPS_PER_TURN
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.automation.helpers import (
    add_contact,
    make_list,
    make_template,
    make_workflow,
    run,
    stats,
    subjects,
)
from tests.support.tenants import TenantAccess

CHAIN = MAX_STEPS_PER_TURN + 10


def _enrollment(services: Services, tenant: TenantAccess) -> Enrollment:
    with services.storage.tenant(tenant.tenant.id)() as session:
        found: Enrollment | None = session.scalar(select(Enrollment))
        assert found is not None
        session.expunge(found)
        return found


def test_a_long_chain_of_instant_steps_is_handed_back_then_finished_each_step_once(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    hello = make_template(client, h, "Hello")
    steps = [
        {
            "key": f"c{n}",
            "kind": "condition",
            "event": "never",
            "yes": f"c{n + 1}",
            "no": f"c{n + 1}",
        }
        for n in range(CHAIN)
    ]
    steps[-1]["yes"] = steps[-1]["no"] = "hello"
    steps.append({"key": "hello", "kind": "send", "template_id": hello})
    workflow = make_workflow(
        client, h, {"trigger": {"kind": "list_subscribed", "list_id": news}, "steps": steps}
    )
    add_contact(client, h, "ada@gmail.test", [news])
    engine = services.automation()
    # The trigger lets Ada in; her turn: MAX_STEPS_PER_TURN steps, then handed back.
    engine.run_once()
    first = _enrollment(services, tenant_a)
    assert first.state is EnrollmentState.ACTIVE
    assert first.step_key == f"c{MAX_STEPS_PER_TURN}"
    assert first.lease_owner is None  # others may take her turn next
    run(services)
    assert subjects(sandbox, "ada@gmail.test") == ["Hello"]
    assert _enrollment(services, tenant_a).state is EnrollmentState.COMPLETED
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        runs = session.execute(select(StepRun.step_key, StepRun.state)).all()
    assert len(runs) == CHAIN + 1
    assert {state for _, state in runs} == {StepRunState.DONE}
    figures = stats(client, h, workflow)["by_step"]
    assert all(figures[f"c{n}"]["done"] == 1 for n in range(CHAIN))
    assert figures["hello"]["sent"] == 1
