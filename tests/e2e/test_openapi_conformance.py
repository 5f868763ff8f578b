"""schemathesis fuzzes every operation of the served OpenAPI document against a live server.

It checks that nothing answers 5xx, that every answer matches the documented status codes,
content types, headers and schemas, and that malformed input is refused with a 4xx.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from schemathesis.core.result import Err

from kolejka.adapters.http.service import openapi_document
from tests.cli import kolejka
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.support import LiveServer, basic

ADMIN = {"Authorization": basic(SEED_USER, SEED_PASSWORD)}


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database = tmp_path_factory.mktemp("fuzz") / "kolejka.db"
    for queue_id in ("1", "2", "3"):
        assert kolejka(database, "queues", "add", queue_id, f"Queue {queue_id}").returncode == 0
    assert (
        kolejka(database, "users", "add", SEED_USER, "-p", "*", stdin=SEED_PASSWORD).returncode == 0
    )
    seed_agents(database)
    # Fuzzing sends many wrong credentials on purpose; the login throttle has tests of its own.
    # Webhooks are on, so that registering one succeeds, but never delivered: the fuzzer's
    # subscription URLs name hosts anywhere.
    env = {
        "KOLEJKA_LOGIN_FAILURES_PER_MINUTE": "0",
        "KOLEJKA_WEBHOOK_KEY": "fuzz-key-0123456789abcdef0123456789",
        "KOLEJKA_WEBHOOK_DELIVER": "0",
        "KOLEJKA_WEBHOOK_ALLOW_HTTP": "1",  # as the document's pattern allows
    }
    live = LiveServer(database, extra_env=env).start()
    yield live
    live.stop()


def seed_agents(database: Path) -> None:
    """jkowalski (the documents' example login) and a pause, so that the agents' operations
    are fuzzed past their 404s."""
    import asyncio

    from kolejka.bootstrap import build
    from kolejka.domain.agents import NewAgent
    from kolejka.settings import Settings
    from tests.agents.support import pause_id

    components = build(Settings(database_url=f"sqlite:///{database}"))

    async def seed() -> None:
        await components.agents.add(NewAgent("jkowalski", "Jan", "Kowalski", queues=(2,)))
        await pause_id(components, "Przerwa")

    try:
        asyncio.run(seed())
    finally:
        components.close()


# Only these operations (by operationId, comma-separated), to fuzz some deeper by hand:
# KOLEJKA_FUZZ_OPERATIONS=getAgent,pauseAgent KOLEJKA_FUZZ_EXAMPLES=200.
ONLY = {name for name in os.environ.get("KOLEJKA_FUZZ_OPERATIONS", "").split(",") if name}
# CI runs 40 examples per operation and mode; KOLEJKA_FUZZ_EXAMPLES=500 digs deeper by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("KOLEJKA_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
# schemathesis's pytest plugin does not run under pytest 9 yet, so the operations are walked
# here with its Python API: the same strategies and the same checks.
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


def every_query_key_reaches_the_wire(case: Any) -> bool:
    """False when an undocumented parameter would vanish from the request as sent.

    Negative mode may add a query key whose value is `{}`, `[]` or None; requests sends no such
    key, so the request on the wire is valid, and the server rightly accepts it. It may also
    make a value an object: requests sends the object's keys as the values (`{"": 1}` goes out
    as `tags[]=`), which on the wire is a list of strings like any other, so such a case is
    not malformed input either.
    """
    if not case.query:
        return True
    if any(isinstance(value, dict) for value in case.query.values()):
        return False
    kwargs = case.as_transport_kwargs(base_url="http://kolejka.invalid")
    url = (
        requests.Request(kwargs["method"], kwargs["url"], params=kwargs.get("params")).prepare().url
    )
    sent = {key for key, _ in parse_qsl(urlsplit(url or "").query, keep_blank_values=True)}
    return sent == {str(key) for key in case.query}


# The fuzzed server follows no PBX, so the agents' control answers 503 (503002) by design.
THROUGH_PBX = "#/components/responses/PbxUnavailable"


def only_the_pbx_is_unavailable(ctx: Any, response: Any, case: Any) -> bool | None:
    """In place of "no 5xx" where the PBX is needed: 503 with 503002, and never anything else."""
    if response.status_code >= 500:
        codes = [error["code"] for error in json.loads(response.content)["errors"]]
        assert (response.status_code, codes) == (503, [503002]), response.content[:200]
    return None


# Operations whose input JSON Schema cannot describe whole: a phone number the numbering plan
# knows, a calendar date (`2026-02-30`), a time within the horizon. A schema-valid body may be
# a 400 there; every other check still runs.
# The abandoned list's `schedule_call` answers 404 for a valid number nobody abandoned today.
SEMANTIC = {"scheduleCall", "scheduleAbandonedCallback"}


def pbx_checks(case: Any) -> dict[str, Any]:
    if case.operation.definition.raw.get("operationId") in SEMANTIC:
        return {"excluded_checks": [positive_data_acceptance]}
    responses = case.operation.definition.raw.get("responses", {})
    if responses.get("503", {}).get("$ref") != THROUGH_PBX:
        return {}
    return {
        "excluded_checks": [not_a_server_error],
        "additional_checks": [only_the_pbx_is_unavailable],
    }


def fuzz(live_api: LiveServer, headers: dict[str, str]) -> int:
    api = schemathesis.openapi.from_url(f"{live_api.url}/api/openapi.json")
    checked = 0
    for result in api.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        if ONLY and operation.definition.raw.get("operationId") not in ONLY:
            continue
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case: Any) -> None:
                assume(every_query_key_reaches_the_wire(case))
                case.call_and_validate(headers=headers, **pbx_checks(case))

            try:
                run()
            except Unsatisfiable:
                # An operation without parameters or body has no malformed input to send.
                assert mode is schemathesis.GenerationMode.NEGATIVE
                continue
            checked += 1
    return checked


def test_every_operation_conforms_with_valid_credentials(live_api: LiveServer) -> None:
    assert fuzz(live_api, ADMIN) >= (1 if ONLY else 7 + 3)


def test_every_operation_conforms_without_credentials(live_api: LiveServer) -> None:
    assert fuzz(live_api, {}) >= (1 if ONLY else 7 + 3)


def test_the_served_document_is_the_packaged_one(live_api: LiveServer) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{live_api.url}/api/openapi.json", timeout=5) as response:
        assert json.load(response) == openapi_document()


def test_the_docs_copy_of_the_document_is_the_packaged_one() -> None:
    import yaml

    docs = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
    assert yaml.safe_load(docs.read_text(encoding="utf-8")) == openapi_document()
