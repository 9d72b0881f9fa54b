"""The real handlers, called as the Lambda runtime calls them (through entry_point), with a
container of fakes: what each takes from its event, hands to the domain, and returns."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import pytest
from modelfresh.core.errors import MalformedEvent
from modelfresh.wiring import Container

from tests.conftest import ROOT, load_handler
from tests.unit.test_promoter import CONFIG, STAGING, V2, World

CONTEXT = SimpleNamespace(
    function_name="handler-test",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:handler-test",
    aws_request_id="request-1",
)


def handler(folder: str) -> Any:
    return load_handler(ROOT / "functions" / folder / "app.py")


def container_of(**services: Any) -> Container:
    """A container whose services are these fakes (the rest would be built for real)."""
    fakes = Container()
    vars(fakes).update(services)
    return fakes


def test_finish_deploy_writes_the_promotion_through_the_promoter_it_is_given() -> None:
    # Given the promoter of a world where v2 was approved and deployed
    world = World()
    world.registry.add(V2, "Approved")
    world.slots.claim("taxi-fare", "run-a", 0, 10**10)
    event = {
        "model": "taxi-fare",
        "execution": "run-a",
        "result": "promoted",
        "package": {"arn": V2, "version": 2},
    }

    # When the real handler finishes the run with it
    answer = handler("finish_deploy")(event, CONTEXT, container=container_of(**vars_of(world)))

    # Then v2 is the champion, the outcome was recorded, and the slot is free
    assert answer == {"outcome": "promoted"}
    assert world.recorder.kinds == ["promoted"]
    champion = world.slots.champion("taxi-fare")
    assert champion is not None and champion.package_arn == V2
    assert world.slots.slot("taxi-fare") is None


def test_finish_deploy_refuses_a_result_no_deploy_run_ends_with() -> None:
    world = World()
    event = {
        "model": "taxi-fare",
        "execution": "run-a",
        "result": "half-promoted",
        "package": {"arn": V2, "version": 2},
    }

    with pytest.raises(MalformedEvent, match="result"):
        handler("finish_deploy")(event, CONTEXT, container=container_of(**vars_of(world)))
    assert world.recorder.kinds == []


def test_smoke_test_sends_the_models_payloads_to_its_staging_endpoint() -> None:
    # Given staging that answers every request with a number
    sent: list[tuple[str, bytes]] = []

    class Staging:
        def invoke(self, endpoint: str, body: bytes, content_type: str) -> bytes:
            sent.append((endpoint, body))
            return b"12.5"

    # When the real handler smoke-tests taxi-fare
    report = handler("smoke_test")(
        {"model": "taxi-fare", "execution": "run-a"},
        CONTEXT,
        container=container_of(config=CONFIG, invoker=Staging()),
    )

    # Then every payload went to staging, and the report says it passed
    payloads = CONFIG.model("taxi-fare").smoke_test.payloads
    assert sent == [(STAGING, p.encode()) for p in payloads]
    assert (report["passed"], report["errors"]) == (True, 0)


def vars_of(world: World) -> dict[str, Any]:
    return {"promoter": world.promoter, "config": CONFIG}


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in ROOT.glob("functions/*/app.py")))
def test_every_handler_takes_its_container_injected(folder: str) -> None:
    # The runtime calls lambda_handler(event, context): the container defaults to the
    # module's own, built once per Lambda container; a test passes one of fakes.
    parameter = inspect.signature(inspect.unwrap(handler(folder))).parameters.get("container")
    assert parameter is not None, folder
    assert isinstance(parameter.default, Container)
