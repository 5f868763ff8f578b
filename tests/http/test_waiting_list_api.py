"""GET /api/queues/:id/waiting_list on the wire, exactly as Thulium documents it."""

from __future__ import annotations

import json
import re

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.domain.queues import Outcome
from kolejka.settings import Settings
from tests.factories import add_company, add_person, elsewhere
from tests.support import FrozenClock, call

WIRE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
pytestmark = pytest.mark.usefixtures("queue_2")


async def test_it_reproduces_thuliums_documented_example_byte_for_byte(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    # The documented customer 123, "Jan Kowalski".
    await add_person(components.crm, "Jan", "Kowalski", "746842523", customer_id=123)
    for number in ["746842523", "840526437", "613459851"]:
        await components.lists.join(2, f"call-{number}", number)
        clock.advance(1)

    answer = await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["reader"])

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    # 2014-08-06 12:30:35 UTC is 14:30:35 in Warsaw (CEST), as in Thulium's example.
    assert answer.json() == [
        {"phone_number": "613459851", "started_at": "2014-08-06 14:30:37",
         "customer_id": None, "customer_label": None},
        {"phone_number": "840526437", "started_at": "2014-08-06 14:30:36",
         "customer_id": None, "customer_label": None},
        {"phone_number": "746842523", "started_at": "2014-08-06 14:30:35",
         "customer_id": 123, "customer_label": "Jan Kowalski"},
    ]  # fmt: skip


async def test_each_entry_has_exactly_the_four_fields_with_their_types(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    await add_person(components.crm, "Anna", "Nowak", "+48 601 100 200")
    await components.lists.join(2, "a", "601100200")
    await components.lists.join(2, "b", "500600700")

    entries = (await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])).json()

    for entry in entries:
        assert list(entry) == ["phone_number", "started_at", "customer_id", "customer_label"]
        assert isinstance(entry["phone_number"], str)
        assert WIRE_DATE.match(entry["started_at"])
        assert entry["customer_id"] is None or type(entry["customer_id"]) is int
        assert entry["customer_label"] is None or isinstance(entry["customer_label"], str)
    assert {e["customer_label"] for e in entries} == {"Anna Nowak", None}


async def test_started_at_is_rendered_in_the_configured_time_zone_across_dst(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    from datetime import UTC, datetime

    clock.instant = datetime(2026, 1, 15, 8, 0, 0, tzinfo=UTC)  # winter: CET, UTC+1
    await components.lists.join(2, "winter", "613459851")

    (entry,) = (await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])).json()

    assert entry["started_at"] == "2026-01-15 09:00:00"


async def test_foreign_numbers_keep_their_plus_and_missing_caller_ids_are_empty(
    app: KolejkaApp, components: Components, clock: FrozenClock, personas: dict[str, str]
) -> None:
    await components.lists.join(2, "de", "4915110000001")
    clock.advance(1)
    await components.lists.join(2, "anon", "<unknown>")

    entries = (await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])).json()

    assert [e["phone_number"] for e in entries] == ["", "+4915110000001"]
    assert entries[0]["customer_id"] is None


async def test_a_number_shared_by_a_person_and_a_company_names_nobody(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    await add_person(components.crm, "Piotr", "Zieliński", "+48 602 300 400")
    await add_company(components.crm, "Zieliński Transport", "0048602300400")
    await components.lists.join(2, "shared", "602 300 400")

    (entry,) = (await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])).json()

    assert entry["customer_id"] is None
    assert entry["customer_label"] is None


async def test_a_company_is_labelled_with_its_name(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    company = await add_company(components.crm, "Kwiaciarnia Róża", "+48-61-345-98-52")
    await components.lists.join(2, "rose", "613459852")

    (entry,) = (await call(app, "GET", "/api/queues/2/waiting_list", auth=personas["admin"])).json()

    assert entry == {
        "phone_number": "613459852",
        "started_at": entry["started_at"],
        "customer_id": company.customer_id,
        "customer_label": "Kwiaciarnia Róża",
    }


async def test_it_answers_json_even_when_the_client_asks_for_html(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app,
        "GET",
        "/api/queues/2/waiting_list",
        auth=personas["admin"],
        headers={"Accept": "text/html"},
    )
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert json.loads(answer.body) == []


async def test_joins_and_leaves_show_in_the_very_next_response(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    path, admin = "/api/queues/2/waiting_list", personas["admin"]
    assert (await call(app, "GET", path, auth=admin)).json() == []

    await components.lists.join(2, "x", "613459851")
    assert len((await call(app, "GET", path, auth=admin)).json()) == 1

    await components.lists.leave("x", Outcome.ANSWERED)
    assert (await call(app, "GET", path, auth=admin)).json() == []


async def test_a_crm_change_from_another_process_shows_after_the_poll(
    app: KolejkaApp, components: Components, settings: Settings, personas: dict[str, str]
) -> None:
    from kolejka.services.ports import Change, Topic

    await components.lists.join(2, "x", "613459851")
    path, admin = "/api/queues/2/waiting_list", personas["admin"]
    assert (await call(app, "GET", path, auth=admin)).json()[0]["customer_id"] is None

    with elsewhere(settings.database_url) as cli:  # its change reaches no one here: a "CLI"
        await add_person(cli, "Jan", "Kowalski", "613459851")
    await components.changes.publish(Change(Topic.ALL))  # what the data_version watcher sends

    assert (await call(app, "GET", path, auth=admin)).json()[0]["customer_label"] == "Jan Kowalski"


async def test_queues_lists_every_queue_with_id_and_name(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(app, "GET", "/api/queues", auth=personas["reader"])
    assert answer.json() == [{"queue_id": 2, "name": "Obsługa klienta"}]
