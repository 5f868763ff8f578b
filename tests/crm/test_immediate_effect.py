"""A CRM change shows in the very next waiting list: no stale names, no waiting for a cache."""

from __future__ import annotations

from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from tests.support import call

NUMBER = "601100200"


async def waiting(app: KolejkaApp, auth: str) -> dict[str, Any]:
    """The one caller in queue 2 (the list is read, and so cached, before every change)."""
    answer = await call(app, "GET", "/api/queues/2/waiting_list", auth=auth)
    assert answer.status == 200
    [entry] = answer.json()
    return {"customer_id": entry["customer_id"], "customer_label": entry["customer_label"]}


async def crm(app: KolejkaApp, auth: str, method: str, path: str, body: object = None) -> Any:
    answer = await call(app, method, path, auth=auth, json_body=body)
    assert answer.status == {"POST": 201, "PUT": 204, "DELETE": 204}[method], answer.body
    return answer.json() if answer.body else None


@pytest.fixture
async def caller(components: Components) -> None:
    await components.lists.join(2, "call-1", NUMBER)


pytestmark = [pytest.mark.usefixtures("queue_2", "caller")]


async def test_a_customer_created_names_the_caller_at_once(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    assert await waiting(app, admin) == {"customer_id": None, "customer_label": None}

    jan = await crm(
        app, admin, "POST", "/api/customers", {"name": "Jan", "surname": "Kowalski",
                                                "phone_number": "+48 601 100 200"}
    )  # fmt: skip

    assert await waiting(app, admin) == {
        "customer_id": jan["customer_id"],
        "customer_label": "Jan Kowalski",
    }


async def test_a_customer_renamed_is_shown_by_the_new_name_at_once(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    jan = await crm(
        app, admin, "POST", "/api/customers",
        {"name": "Jan", "surname": "Kowalski", "phone_number": NUMBER},
    )  # fmt: skip
    assert (await waiting(app, admin))["customer_label"] == "Jan Kowalski"

    await crm(app, admin, "PUT", f"/api/customers/{jan['customer_id']}", {"surname": "Nowak"})

    assert (await waiting(app, admin))["customer_label"] == "Jan Nowak"


async def test_a_customer_given_the_number_names_the_caller_at_once(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    jan = await crm(app, admin, "POST", "/api/customers", {"name": "Jan", "surname": "Kowalski"})
    assert (await waiting(app, admin))["customer_id"] is None

    await crm(
        app, admin, "PUT", f"/api/customers/{jan['customer_id']}",
        {"phone_number": ["500600700", "601-100-200"]},
    )  # fmt: skip

    assert await waiting(app, admin) == {
        "customer_id": jan["customer_id"],
        "customer_label": "Jan Kowalski",
    }


async def test_a_customer_losing_the_number_stops_naming_the_caller_at_once(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    jan = await crm(
        app, admin, "POST", "/api/customers",
        {"name": "Jan", "surname": "Kowalski", "phone_number": [NUMBER, "500600700"]},
    )  # fmt: skip
    assert (await waiting(app, admin))["customer_id"] == jan["customer_id"]

    await crm(
        app, admin, "PUT", f"/api/customers/{jan['customer_id']}", {"phone_number": "500600700"}
    )

    assert await waiting(app, admin) == {"customer_id": None, "customer_label": None}


async def test_a_customer_deleted_stops_naming_the_caller_at_once(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    jan = await crm(
        app, admin, "POST", "/api/customers", {"surname": "Kowalski", "phone_number": NUMBER}
    )
    assert (await waiting(app, admin))["customer_label"] == "Kowalski"

    await crm(app, admin, "DELETE", f"/api/customers/{jan['customer_id']}")

    assert await waiting(app, admin) == {"customer_id": None, "customer_label": None}


async def test_a_company_names_the_caller_by_its_name_until_a_person_shares_the_number(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    company = await crm(
        app,
        admin,
        "POST",
        "/api/companies",
        {"name": "Zieliński Transport", "phone_number": NUMBER},
    )
    assert await waiting(app, admin) == {
        "customer_id": company["customer_id"],
        "customer_label": "Zieliński Transport",
    }

    await crm(
        app, admin, "POST", "/api/customers",
        {"name": "Piotr", "surname": "Zieliński", "phone_number": "0048 601 100 200",
         "company_id": company["company_id"]},
    )  # fmt: skip

    assert await waiting(app, admin) == {"customer_id": None, "customer_label": None}


async def test_a_company_renamed_is_shown_by_the_new_name_at_once(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    company = await crm(
        app, admin, "POST", "/api/companies", {"name": "ACME", "phone_number": NUMBER}
    )
    assert (await waiting(app, admin))["customer_label"] == "ACME"

    await crm(app, admin, "PUT", f"/api/companies/{company['company_id']}", {"name": "ACME S.A."})

    assert (await waiting(app, admin))["customer_label"] == "ACME S.A."
