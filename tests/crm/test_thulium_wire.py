"""The CRM's wire as Thulium's clients meet it: status codes, fields Thulium does not document,
every malformed field at once, `limit` past its maximum, and the batch's 207.

Thulium's "Kody odpowiedzi" page (api.thulium.com/docs/api/response_codes): POST 201, PUT 204,
DELETE 204, and 207 when the answer holds a status per object.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.http.ignored_fields import IgnoredFields
from kolejka.bootstrap import Components
from tests.support import Answer, basic, call

IGNORED = "x-kolejka-ignored-fields"


async def post(app: KolejkaApp, auth: str, path: str, body: object, **kw: Any) -> Answer:
    return await call(app, "POST", path, auth=auth, json_body=body, **kw)


# Status codes --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["customers", "companies"])
async def test_post_answers_201_and_put_and_delete_answer_204_without_a_body(
    app: KolejkaApp, personas: dict[str, str], kind: str
) -> None:
    admin = personas["admin"]
    body = {"surname": "Kowalski"} if kind == "customers" else {"name": "ACME"}
    created = await post(app, admin, f"/api/{kind}", body)
    key = "customer_id" if kind == "customers" else "company_id"
    path = f"/api/{kind}/{created.json()[key]}"

    changed = await call(app, "PUT", path, auth=admin, json_body={"name": "Jan"})
    removed = await call(app, "DELETE", path, auth=admin)

    assert created.status == 201
    for answer in (changed, removed):
        assert (answer.status, answer.body) == (204, b"")
        # No body, so no type and no length (RFC 9110 8.6); the request id as on every answer.
        assert set(answer.headers) == {"x-request-id"}
    assert (await call(app, "GET", path, auth=admin)).status == 404


async def test_a_batch_in_thuliums_documented_body_answers_201_with_the_customers(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await post(
        app,
        personas["admin"],
        "/api/batch/customers",
        {"customers": [{"surname": "Lis", "phone_number": "601100200"}, {"surname": "Wilk"}]},
    )

    assert answer.status == 201
    assert [c["surname"] for c in answer.json()] == ["Lis", "Wilk"]
    assert IGNORED not in answer.headers


async def test_a_batch_with_refused_records_adds_the_others_and_answers_207_per_record(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    await post(app, admin, "/api/customers", {"surname": "Old", "identifier": "K-1"})
    records = [
        {"surname": "Lis", "identifier": "K-2"},
        {"surname": "Taken", "identifier": "K-1"},  # another customer has it: 409
        {"surname": "Twice", "identifier": "K-2"},  # the first record took it: 409
        {"surname": "Nobody's", "company_id": 99},  # no such company: 404
        {"surname": 7, "email": ["a"], "phone_number": "call me"},  # three fields: 400
        {"surname": "Wilk", "phone_number": "601100200"},
    ]

    answer = await post(app, admin, "/api/batch/customers", {"customers": records})
    listed = (await call(app, "GET", "/api/customers", auth=admin)).json()

    assert answer.status == 207
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    ids = {c["surname"]: c["customer_id"] for c in listed}
    assert sorted(ids) == ["Lis", "Old", "Wilk"]
    statuses = answer.json()
    assert list(statuses) == ["0", "1", "2", "3", "4", "5"]
    assert statuses["0"] == {"http_status": 201, "customer_id": ids["Lis"]}
    assert statuses["5"] == {"http_status": 201, "customer_id": ids["Wilk"]}
    taken = {"message": 'Another customer has the identifier "K-1".', "code": 409002}
    assert statuses["1"] == {"http_status": 409, "message": taken["message"], "errors": [taken]}
    assert statuses["2"]["http_status"] == 409
    assert statuses["3"]["http_status"] == 404
    assert statuses["3"]["errors"] == [{"message": "Company 99 does not exist.", "code": 404005}]
    assert statuses["4"]["http_status"] == 400
    assert [e["message"].split(":")[0] for e in statuses["4"]["errors"]] == [
        "Invalid field surname",
        "Invalid field email",
        "Invalid field phone_number",
    ]
    assert statuses["4"]["message"] == statuses["4"]["errors"][0]["message"]


async def test_a_batch_whose_every_record_is_refused_is_a_207_that_adds_nothing(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await post(
        app,
        personas["admin"],
        "/api/batch/customers",
        [{"name": "no surname"}, {"surname": ""}],
        headers={"Accept-Language": "pl"},
    )

    assert answer.status == 207
    assert answer.json()["1"] == {
        "http_status": 400,
        "message": "Nieprawidłowe pole surname: jest wymagane.",
        "errors": [{"message": "Nieprawidłowe pole surname: jest wymagane.", "code": 400003}],
    }
    assert (await call(app, "GET", "/api/customers", auth=personas["admin"])).json() == []


# Liberal in what clients send -----------------------------------------------------------------


async def test_fields_thulium_does_not_document_are_ignored_and_named_in_a_header(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    body = {"surname": "Kowalski", "external_id": "E-7", "zeta": 1, "alpha": {"x": [1]}}

    created = await post(app, admin, "/api/customers", body)
    path = f"/api/customers/{created.json()['customer_id']}"
    changed = await call(app, "PUT", path, auth=admin, json_body={"name": "Jan", "phone": "1"})
    batch = await post(
        app, admin, "/api/batch/customers", [{"surname": "A", "b,c": 1}, {"surname": "B", "ą": 2}]
    )
    company = await post(app, admin, "/api/companies", {"name": "ACME", "shoe_size": 44})

    assert created.status == 201
    assert created.headers[IGNORED] == "alpha,external_id,zeta"
    assert "external_id" not in created.json()
    assert (changed.status, changed.headers[IGNORED]) == (204, "phone")
    # Sorted, each name percent-encoded so that a comma or a letter outside ASCII keeps the list.
    assert (batch.status, batch.headers[IGNORED]) == (201, "b%2Cc,%C4%85")
    assert (company.status, company.headers[IGNORED]) == (201, "shoe_size")
    got = (await call(app, "GET", path, auth=admin)).json()
    assert (got["name"], got["surname"]) == ("Jan", "Kowalski")


async def test_an_ignored_name_cannot_break_the_header_and_the_header_stays_bounded(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    body: dict[str, Any] = {"surname": "K", "x\r\nSet-Cookie: a=b": 1, "l" * 200: 2}
    body.update({f"f{i:03d}": i for i in range(100)})

    answer = await post(app, personas["admin"], "/api/customers", body)

    assert answer.status == 201
    names = answer.headers[IGNORED].split(",")
    assert len(names) == 50
    assert names[:3] == ["f000", "f001", "f002"]
    assert "set-cookie" not in answer.headers
    lone = await post(app, personas["admin"], "/api/customers", {"surname": "K", "x\r\ny": 1})
    assert lone.headers[IGNORED] == "x%0D%0Ay"
    long = await post(app, personas["admin"], "/api/customers", {"surname": "K", "l" * 200: 1})
    assert long.headers[IGNORED] == "l" * 64


async def test_ignored_fields_are_logged_once_per_api_user_and_field(
    app: KolejkaApp,
    components: Components,
    personas: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kolejka.adapters.http.ignored_fields")
    await components.api_users.add("crm-sync", "crm-sync-secret", ["POST customers"])

    for extra in ({"colour": "x"}, {"colour": "y"}, {"colour": "z", "external_id": "E"}):
        await post(app, personas["admin"], "/api/customers", {"surname": "K", **extra})
    other = await post(
        app, basic("crm-sync", "crm-sync-secret"), "/api/customers", {"surname": "K", "colour": "x"}
    )

    assert other.status == 201
    logged = [r for r in caplog.records if r.name.endswith("ignored_fields")]
    assert {r.levelno for r in logged} == {logging.INFO}
    said = "sent fields Thulium does not document; they are ignored:"
    assert [r.getMessage() for r in logged] == [
        f"API user 'admin' {said} 'colour'",
        f"API user 'admin' {said} 'external_id'",
        f"API user 'crm-sync' {said} 'colour'",
    ]


def test_the_memory_of_logged_fields_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kolejka.adapters.http.ignored_fields")
    ignored = IgnoredFields(max_logged=3)

    for name in ["a", "b", "c", "d", "a"]:
        ignored.tell("u", [name])

    # "a" was forgotten to make room for "d", so it is logged again.
    assert [r.getMessage()[-3:] for r in caplog.records] == ["'a'", "'b'", "'c'", "'d'", "'a'"]


async def test_a_documented_field_of_the_wrong_type_is_still_400003(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await post(
        app, personas["admin"], "/api/customers", {"surname": ["Kowalski"], "note_x": "kept out"}
    )

    assert answer.status == 400
    assert answer.json()["errors"] == [
        {"message": "Invalid field surname: must be a string.", "code": 400003}
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "fields"),
    [
        (
            "POST",
            "/api/customers",
            {"name": 1, "surname": "", "email": 2, "custom_fields": [], "phone_number": "x"},
            ["name", "surname", "email", "custom_fields", "phone_number"],
        ),
        ("PUT", "/api/customers/{customer}", {"name": 1, "email": 2, "company_id": "x"}, None),
        ("POST", "/api/companies", {"name": 5, "nip": 6, "phone_number": "x"}, None),
        ("PUT", "/api/companies/{company}", {"name": 5, "nip": 6, "company_id": "x"}, None),
    ],
)
async def test_several_malformed_fields_are_one_400_with_one_error_each(
    app: KolejkaApp,
    personas: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any],
    fields: list[str] | None,
) -> None:
    admin = personas["admin"]
    customer = (await post(app, admin, "/api/customers", {"surname": "K"})).json()["customer_id"]
    company = (await post(app, admin, "/api/companies", {"name": "C"})).json()["company_id"]

    answer = await call(
        app, method, path.format(customer=customer, company=company), auth=admin, json_body=body
    )

    assert answer.status == 400
    errors = answer.json()["errors"]
    assert {e["code"] for e in errors} == {400003}
    named = [e["message"].removeprefix("Invalid field ").split(":")[0] for e in errors]
    if fields is not None:
        assert named == fields
    else:
        assert sorted(named) == sorted(body)


# Query parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["customers", "companies"])
async def test_a_limit_past_1000_is_served_as_1000(
    app: KolejkaApp, personas: dict[str, str], kind: str
) -> None:
    admin = personas["admin"]
    if kind == "customers":
        for _ in range(2):
            batch = [{"surname": f"S{i}"} for i in range(600)]
            assert (await post(app, admin, "/api/batch/customers", batch)).status == 201
    else:
        for i in range(1001):
            await post(app, admin, "/api/companies", {"name": f"C{i}"})

    for limit in ["1001", "2000", "99999999999999999999"]:
        answer = await call(app, "GET", f"/api/{kind}?limit={limit}", auth=admin)
        assert answer.status == 200, limit
        assert len(answer.json()) == 1000, limit


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "", "1.5", "%EF%BC%95"])
async def test_a_limit_below_1_or_not_a_number_is_still_400003(
    app: KolejkaApp, personas: dict[str, str], limit: str
) -> None:
    answer = await call(app, "GET", f"/api/customers?limit={limit}", auth=personas["admin"])

    assert answer.status == 400
    assert answer.json()["errors"] == [
        {"message": "Invalid field limit: must be an integer from 1 to 1000.", "code": 400003}
    ]


async def test_an_unknown_query_parameter_is_refused_naming_the_supported_ones(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    from kolejka.adapters.http.crm import LIST_PARAMETERS

    supported = ", ".join(sorted(LIST_PARAMETERS | {"custom_fields[Name][]"}))

    one = await call(app, "GET", "/api/customers?external_id=7", auth=personas["admin"])
    two = await call(app, "GET", "/api/companies?phone=1&colour=2", auth=personas["admin"])

    assert one.status == two.status == 400
    assert one.json()["errors"] == [
        {
            "message": f"Invalid field external_id: is not a known parameter; this endpoint"
            f" takes {supported}.",
            "code": 400003,
        }
    ]
    assert [e["message"].split(":")[0] for e in two.json()["errors"]] == [
        "Invalid field phone",
        "Invalid field colour",
    ]
    assert "phone_number" in supported


async def test_a_query_parameter_given_twice_is_refused_not_merged(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app,
        "GET",
        "/api/customers?limit=1&limit=2&type=person&type=company",
        auth=personas["admin"],
    )

    assert answer.status == 400
    assert answer.json()["errors"] == [
        {"message": "Invalid field limit: may be given only once.", "code": 400003},
        {"message": "Invalid field type: may be given only once.", "code": 400003},
    ]
