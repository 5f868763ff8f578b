"""What every endpoint that takes a body refuses: a type other than JSON, and text that is not text.

Each endpoint's body is read in one place (`Request.json_value`), so each rule is checked here on
every such endpoint, and each refusal must leave the waiting list and the CRM as they were.
"""

from __future__ import annotations

from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from tests.support import assert_envelope, call

pytestmark = pytest.mark.usefixtures("queue_2")

SURROGATE = "\ud800"  # json.dumps writes it as the JSON text "\ud800", which json.loads accepts

# (method, path, a valid body); {customer} and {company} are the ids made by `existing`.
ENDPOINTS: dict[str, tuple[str, str, Any]] = {
    "join": ("POST", "/api/queues/2/callers", {"call_id": "c1", "phone_number": "613459851"}),
    "leave": ("POST", "/api/queues/2/callers/c0/leave", {"outcome": "answered"}),
    "member": ("POST", "/api/queues/2/members/jkowalski", {"event": "added"}),
    "add customer": ("POST", "/api/customers", {"name": "Jan", "surname": "Kowalski"}),
    "change customer": ("PUT", "/api/customers/{customer}", {"surname": "Nowak"}),
    "add customers": ("POST", "/api/batch/customers", [{"surname": "Lis"}, {"surname": "Wilk"}]),
    "add company": ("POST", "/api/companies", {"name": "Firma"}),
    "change company": ("PUT", "/api/companies/{company}", {"name": "Inna firma"}),
}


@pytest.fixture
async def existing(app: KolejkaApp, personas: dict[str, str]) -> dict[str, int]:
    """A waiting caller `c0`, a customer and a company, made through the API."""
    admin = personas["admin"]
    join = "/api/queues/2/callers"
    joined = await call(app, "POST", join, auth=admin, json_body={"call_id": "c0"})
    assert joined.status == 201
    customer = await call(app, "POST", "/api/customers", auth=admin, json_body={"surname": "Ryba"})
    company = await call(app, "POST", "/api/companies", auth=admin, json_body={"name": "Sklep"})
    assert (customer.status, company.status) == (201, 201)
    return {"customer": customer.json()["customer_id"], "company": company.json()["company_id"]}


async def everything(app: KolejkaApp, admin: str) -> list[Any]:
    """What a refused write must not have changed."""
    return [
        (await call(app, "GET", path, auth=admin)).json()
        for path in ("/api/queues/2/waiting_list", "/api/customers", "/api/companies")
    ]


def path_of(endpoint: str, ids: dict[str, int]) -> str:
    return ENDPOINTS[endpoint][1].format(**ids)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/json",
        "application/json-patch+json",
        "application/jsonx",
        "",
    ],
)
async def test_a_body_not_sent_as_json_is_415_and_changes_nothing(
    app: KolejkaApp,
    personas: dict[str, str],
    existing: dict[str, int],
    endpoint: str,
    content_type: str | None,
) -> None:
    method, _, body = ENDPOINTS[endpoint]
    before = await everything(app, personas["admin"])
    answer = await call(
        app,
        method,
        path_of(endpoint, existing),
        auth=personas["admin"],
        json_body=body,
        content_type=content_type,
    )
    assert_envelope(answer, 415, 415001)
    assert await everything(app, personas["admin"]) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=UTF-8", "application/json;charset=utf-8"],
)
async def test_json_in_any_case_and_with_a_charset_is_accepted(
    app: KolejkaApp,
    personas: dict[str, str],
    existing: dict[str, int],
    endpoint: str,
    content_type: str,
) -> None:
    method, _, body = ENDPOINTS[endpoint]
    answer = await call(
        app,
        method,
        path_of(endpoint, existing),
        auth=personas["admin"],
        json_body=body,
        content_type=content_type,
    )
    assert answer.status in (200, 201), answer.body


async def test_an_empty_body_needs_the_json_type_too(
    app: KolejkaApp, personas: dict[str, str], existing: dict[str, int]
) -> None:
    path = "/api/queues/2/callers/c0/leave"
    bare = await call(app, "POST", path, auth=personas["ingest"], body=b"", content_type=None)
    assert_envelope(bare, 415, 415001)
    typed = await call(app, "POST", path, auth=personas["ingest"], body=b"")
    assert_envelope(typed, 400, 400003)


# Every string field of every endpoint, and object keys: (endpoint, body, field named).
LONE_SURROGATES = [
    ("join", {"call_id": SURROGATE}, "call_id"),
    ("join", {"call_id": "c1", "phone_number": "5" + SURROGATE}, "phone_number"),
    ("join", {"call_id": "c1", "caller_name": "Jan " + SURROGATE}, "caller_name"),
    ("join", {"call_id": "c1", SURROGATE: "x"}, "body"),
    ("leave", {"outcome": SURROGATE}, "outcome"),
    ("leave", {"outcome": "answered", SURROGATE: 1}, "body"),
    ("member", {"event": SURROGATE}, "event"),
    ("member", {"event": "paused", "reason": "P" + SURROGATE}, "reason"),
    ("member", {"event": "ringing", "call_id": SURROGATE}, "call_id"),
    ("member", {"event": "added", SURROGATE: 1}, "body"),
    *(
        ("add customer", {"surname": "Kowalski", field: "x" + SURROGATE}, field)
        for field in ("name", "email", "identifier", "type", "group", "account_manager")
    ),
    ("add customer", {"surname": SURROGATE}, "surname"),
    ("add customer", {"surname": "K", "phone_number": SURROGATE}, "phone_number"),
    ("add customer", {"surname": "K", "phone_numbers": ["1", SURROGATE]}, "phone_numbers[1]"),
    ("add customer", {"surname": "K", "company_id": SURROGATE}, "company_id"),
    ("add customer", {"surname": "K", "custom_fields": {SURROGATE: "x"}}, "custom_fields"),
    ("add customer", {"surname": "K", "custom_fields": {"a": SURROGATE}}, "custom_fields.a"),
    ("change customer", {"surname": SURROGATE}, "surname"),
    ("change customer", {"custom_fields": {SURROGATE + "a": "b"}}, "custom_fields"),
    ("add customers", [{"surname": "Lis"}, {"surname": SURROGATE}], "[1].surname"),
    ("add customers", [{"surname": "Lis"}, {"email": SURROGATE}], "[1].email"),
    ("add customers", [{"surname": "Lis", "custom_fields": {SURROGATE: ""}}], "custom_fields"),
    ("add customers", [{"surname": "Lis"}, {SURROGATE: ""}], "[1]"),
    *(
        ("add company", {"name": "Firma", field: SURROGATE}, field)
        for field in ("nip", "type", "group", "address", "phone_number")
    ),
    ("add company", {"name": SURROGATE}, "name"),
    ("add company", {"name": "F", "custom_fields": {"a": SURROGATE}}, "custom_fields.a"),
    ("change company", {"name": "\udfff"}, "name"),
    ("change company", {"custom_fields": {"\udc80": "1"}}, "custom_fields"),
]


@pytest.mark.parametrize(("endpoint", "body", "field"), LONE_SURROGATES)
async def test_a_lone_surrogate_anywhere_is_400_naming_the_field_and_stores_nothing(
    app: KolejkaApp,
    personas: dict[str, str],
    existing: dict[str, int],
    endpoint: str,
    body: Any,
    field: str,
) -> None:
    method = ENDPOINTS[endpoint][0]
    before = await everything(app, personas["admin"])
    answer = await call(
        app, method, path_of(endpoint, existing), auth=personas["admin"], json_body=body
    )
    assert_envelope(answer, 400, 400003)
    assert f"Invalid field {field}:" in answer.json()["errors"][0]["message"]
    assert await everything(app, personas["admin"]) == before


async def test_a_surrogate_sent_as_utf8_bytes_is_refused_the_same_way(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    # json.loads decodes bytes with "surrogatepass": ED A0 80 arrives as U+D800 too.
    raw = b'{"call_id": "c\xed\xa0\x80"}'
    answer = await call(app, "POST", "/api/queues/2/callers", auth=personas["ingest"], body=raw)
    assert_envelope(answer, 400, 400003)
    assert "call_id" in answer.json()["errors"][0]["message"]
    polish = await call(
        app,
        "POST",
        "/api/queues/2/callers",
        auth=personas["ingest"],
        json_body={"call_id": SURROGATE},
        headers={"Accept-Language": "pl"},
    )
    assert polish.json()["errors"][0]["message"] == (
        "Nieprawidłowe pole call_id: musi być poprawnym tekstem Unicode: zawiera samotny surogat."
    )


async def test_a_surrogate_pair_is_text_and_is_kept(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app,
        "POST",
        "/api/queues/2/callers",
        auth=personas["ingest"],
        body=b'{"call_id": "c\\ud83d\\ude00", "caller_name": "\\u017b"}',
    )
    assert answer.status == 201
    assert answer.json()["call_id"] == "c\U0001f600"
