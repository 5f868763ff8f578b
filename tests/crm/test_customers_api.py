"""/api/customers and /api/batch/customers on the wire, as Thulium's clients use them."""

from __future__ import annotations

from typing import Any

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from tests.support import basic, call

CUSTOMER_KEYS = [
    "customer_id",
    "name",
    "surname",
    "phone_number",
    "phone_numbers",
    "email",
    "company_id",
    "identifier",
    "type",
    "group",
    "company_flag",
    "account_manager",
    "updated_at",
    # The rest of what POST customers documents (Thulium's example shows the keys above).
    "nip",
    "gender",
    "homepage",
    "birthdate",
    "note",
    "pesel",
    "job",
    "job_title",
    "vip",
]


async def create(app: KolejkaApp, auth: str, **body: Any) -> dict[str, Any]:
    answer = await call(app, "POST", "/api/customers", auth=auth, json_body=body)
    assert answer.status == 201, answer.body
    created: dict[str, Any] = answer.json()
    return created


async def test_a_created_customer_comes_back_with_thuliums_fields_and_empty_strings_not_nulls(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    created = await create(
        app, personas["admin"], name="Jan", surname="Kowalski", phone_number="+48 746 842 523"
    )

    answer = await call(
        app, "GET", f"/api/customers/{created['customer_id']}", auth=personas["admin"]
    )

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    customer = answer.json()
    assert list(customer) == CUSTOMER_KEYS
    assert customer == {
        "customer_id": created["customer_id"],
        "name": "Jan",
        "surname": "Kowalski",
        "phone_number": "746842523",
        "phone_numbers": ["746842523"],
        "email": "",
        "company_id": "",
        "identifier": "",
        "type": "",
        "group": "",
        "company_flag": 0,
        "account_manager": "",
        "updated_at": "2014-08-06 14:30:35",
        **dict.fromkeys(CUSTOMER_KEYS[13:-1], ""),
        "vip": False,
    }
    assert isinstance(customer["customer_id"], int)


async def test_phone_number_takes_one_or_more_numbers_and_the_first_is_the_main_one(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    as_list = await create(
        app, personas["admin"], surname="Nowak", phone_number=["222333444", "+48 213 443 523"]
    )
    as_text = await create(app, personas["admin"], surname="Lis", phone_number="(22) 333-44-45")
    both = await create(
        app, personas["admin"], surname="Kot", phone_number="601100200",
        phone_numbers=["601100200", "601100201"],
    )  # fmt: skip

    assert as_list["phone_number"] == "222333444"
    assert as_list["phone_numbers"] == ["222333444", "213443523"]
    assert as_text["phone_numbers"] == ["223334445"]
    assert both["phone_numbers"] == ["601100200", "601100201"]


async def test_a_well_written_number_the_numbering_plan_does_not_know_is_kept_as_written(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    created = await create(app, personas["admin"], surname="Lis", phone_number="12")

    found = await call(app, "GET", "/api/customers?phone_number=12", auth=personas["admin"])

    assert created["phone_numbers"] == ["12"]
    assert found.status == 200
    assert found.json() == []


async def test_every_field_a_client_sets_is_stored_and_returned(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    company = await call(
        app, "POST", "/api/companies", auth=personas["admin"], json_body={"name": "ACME"}
    )
    body = {
        "name": "Anna",
        "surname": "Nowak",
        "phone_number": "601100200",
        "email": "anna@example.com",
        "company_id": company.json()["company_id"],
        "identifier": "CRM-1",
        "type": "VIP",
        "group": "north",
        "account_manager": "Ewa",
        "custom_fields": {"segment": "B2B"},
    }

    created = await create(app, personas["admin"], **body)

    for key, value in body.items():
        if key != "phone_number":
            assert created[key] == value, key


async def test_surname_is_required(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await call(
        app, "POST", "/api/customers", auth=personas["admin"], json_body={"name": "Jan"}
    )

    assert answer.status == 400
    assert answer.json()["errors"] == [
        {"message": "Invalid field surname: is required.", "code": 400003}
    ]


async def test_a_phone_number_that_is_no_number_is_refused_naming_the_field_in_both_languages(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    body = {"surname": "Kowalski", "phone_number": ["601100200", "call me maybe"]}

    english = await call(app, "POST", "/api/customers", auth=personas["admin"], json_body=body)
    polish = await call(
        app,
        "POST",
        "/api/customers",
        auth=personas["admin"],
        json_body=body,
        headers={"Accept-Language": "pl"},
    )

    assert english.status == polish.status == 400
    assert english.json()["errors"][0]["message"] == (
        "Invalid field phone_number: is not a phone number."
    )
    assert polish.json()["errors"][0] == {
        "message": "Nieprawidłowe pole phone_number: nie jest numerem telefonu.",
        "code": 400003,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"surname": 7}, "surname"),
        ({"surname": "X", "email": "a" * 256}, "email"),
        ({"surname": "X", "company_id": "abc"}, "company_id"),
        ({"surname": "X", "company_id": 99}, None),  # unknown company: 404
        ({"surname": "X", "custom_fields": {"a": 1}}, "custom_fields"),
        ({"surname": "X", "company_flag": 1}, "company_flag"),
        ({"surname": "X", "phone_number": 601100200}, "phone_number"),
    ],
)
async def test_malformed_fields_are_refused_with_the_field_named(
    app: KolejkaApp, personas: dict[str, str], body: dict[str, Any], field: str | None
) -> None:
    answer = await call(app, "POST", "/api/customers", auth=personas["admin"], json_body=body)

    if field is None:
        assert answer.status == 404
        assert answer.json()["errors"][0]["code"] == 404005
    else:
        assert answer.status == 400
        assert answer.json()["errors"][0]["message"].startswith(f"Invalid field {field}:")


async def test_put_changes_only_the_fields_sent_and_numbers_sent_replace_all(
    app: KolejkaApp, personas: dict[str, str], clock: Any
) -> None:
    created = await create(
        app,
        personas["admin"],
        name="Jan",
        surname="Kowalski",
        phone_number=["601100200", "221234567"],
        email="jan@example.com",
    )
    clock.advance(60)
    path = f"/api/customers/{created['customer_id']}"

    answer = await call(
        app,
        "PUT",
        path,
        auth=personas["admin"],
        json_body={"surname": "Nowak", "phone_number": "500600700"},
    )

    assert (answer.status, answer.body) == (204, b"")
    changed = (await call(app, "GET", path, auth=personas["admin"])).json()
    assert (changed["name"], changed["surname"], changed["email"]) == (
        "Jan",
        "Nowak",
        "jan@example.com",
    )
    assert changed["phone_numbers"] == ["500600700"]
    assert changed["updated_at"] == "2014-08-06 14:31:35"


async def test_put_accepts_back_what_get_gave(app: KolejkaApp, personas: dict[str, str]) -> None:
    created = await create(app, personas["admin"], surname="Kowalski", phone_number="601100200")
    path = f"/api/customers/{created['customer_id']}"

    answer = await call(app, "PUT", path, auth=personas["admin"], json_body=created)

    assert (answer.status, answer.body) == (204, b"")
    everything = (
        "include_custom_fields=1&include_address=1&include_invoice_address=1"
        "&include_mail_drop_address=1"
    )
    full = await call(app, "GET", f"{path}?{everything}", auth=personas["admin"])
    assert full.json() == created


async def test_unknown_customers_are_404_for_get_put_and_delete(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    for method in ("GET", "PUT", "DELETE"):
        body = {"surname": "X"} if method == "PUT" else None
        answer = await call(
            app, method, "/api/customers/4242", auth=personas["admin"], json_body=body
        )
        assert answer.status == 404, method
        assert answer.json()["errors"] == [
            {"message": "Customer 4242 does not exist.", "code": 404004}
        ]


async def test_delete_answers_204_without_a_body_and_the_customer_is_gone(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    created = await create(app, personas["admin"], surname="Kowalski")
    path = f"/api/customers/{created['customer_id']}"

    removed = await call(app, "DELETE", path, auth=personas["admin"])

    assert (removed.status, removed.body) == (204, b"")
    assert "content-type" not in removed.headers
    assert (await call(app, "GET", path, auth=personas["admin"])).status == 404


async def test_identifiers_name_one_customer_each(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    await create(app, personas["admin"], surname="A", identifier="ERP-7")

    answer = await call(
        app, "POST", "/api/customers", auth=personas["admin"],
        json_body={"surname": "B", "identifier": "ERP-7"},
    )  # fmt: skip

    assert answer.status == 409
    assert answer.json()["errors"][0] == {
        "message": 'Another customer has the identifier "ERP-7".',
        "code": 409002,
    }


# Lists -----------------------------------------------------------------------------------


async def test_lists_page_with_limit_and_offset_by_customer_id(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    ids = [(await create(app, personas["admin"], surname=f"S{i}"))["customer_id"] for i in range(5)]

    first = await call(app, "GET", "/api/customers?limit=2", auth=personas["admin"])
    second = await call(app, "GET", "/api/customers?limit=2&offset=2", auth=personas["admin"])
    rest = await call(app, "GET", "/api/customers?offset=4", auth=personas["admin"])

    assert [c["customer_id"] for c in first.json()] == ids[:2]
    assert [c["customer_id"] for c in second.json()] == ids[2:4]
    assert [c["customer_id"] for c in rest.json()] == ids[4:]


async def test_the_default_limit_is_100(app: KolejkaApp, personas: dict[str, str]) -> None:
    await call(
        app, "POST", "/api/batch/customers", auth=personas["admin"],
        json_body=[{"surname": f"S{i}"} for i in range(101)],
    )  # fmt: skip

    answer = await call(app, "GET", "/api/customers", auth=personas["admin"])

    assert len(answer.json()) == 100


async def test_order_takes_fields_with_a_minus_for_descending(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    for name, surname in [("Anna", "Nowak"), ("Jan", "Kowalski"), ("Adam", "Nowak")]:
        await create(app, personas["admin"], name=name, surname=surname)

    answer = await call(app, "GET", "/api/customers?order=-surname,name", auth=personas["admin"])

    assert [(c["surname"], c["name"]) for c in answer.json()] == [
        ("Nowak", "Adam"),
        ("Nowak", "Anna"),
        ("Kowalski", "Jan"),
    ]


async def test_the_phone_number_filter_matches_every_spelling_of_the_number(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    jan = await create(app, personas["admin"], surname="Kowalski", phone_number="+48 555 666 777")
    await create(app, personas["admin"], surname="Nowak", phone_number="555666778")

    for spelling in ["555666777", "%2B48555666777", "0048555666777", "555-666-777"]:
        answer = await call(
            app, "GET", f"/api/customers?phone_number={spelling}", auth=personas["admin"]
        )
        assert [c["customer_id"] for c in answer.json()] == [jan["customer_id"]], spelling


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("order=shoe_size", "order"),
        ("order=", "order"),
        ("limit=", "limit"),
        ("phone_number=", "phone_number"),
        ("phone_number=abc", "phone_number"),
        ("colour=blue", "colour"),
    ],
)
async def test_bad_list_parameters_are_refused_naming_the_parameter(
    app: KolejkaApp, personas: dict[str, str], query: str, field: str
) -> None:
    answer = await call(app, "GET", f"/api/customers?{query}", auth=personas["admin"])

    assert answer.status == 400
    assert answer.json()["errors"][0]["message"].startswith(f"Invalid field {field}:")


async def test_a_limit_below_1_says_what_is_allowed(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(app, "GET", "/api/customers?limit=0", auth=personas["admin"])

    assert answer.json()["errors"] == [
        {"message": "Invalid field limit: must be an integer from 1 to 1000.", "code": 400003}
    ]


# Batch -----------------------------------------------------------------------------------


async def test_a_batch_adds_the_valid_customers_and_answers_each_ones_status(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    good = await call(
        app, "POST", "/api/batch/customers", auth=personas["admin"],
        json_body=[{"surname": "A", "phone_number": "601100200"}, {"surname": "B"}],
    )  # fmt: skip
    mixed = await call(
        app, "POST", "/api/batch/customers", auth=personas["admin"],
        json_body=[{"surname": "C"}, {"name": "no surname"}],
    )  # fmt: skip
    listed = await call(app, "GET", "/api/customers", auth=personas["admin"])

    assert good.status == 201
    assert [c["surname"] for c in good.json()] == ["A", "B"]
    assert mixed.status == 207
    c_id = listed.json()[2]["customer_id"]
    assert mixed.json() == {
        "0": {"http_status": 201, "customer_id": c_id},
        "1": {
            "http_status": 400,
            "message": "Invalid field surname: is required.",
            "errors": [{"message": "Invalid field surname: is required.", "code": 400003}],
        },
    }
    assert [c["surname"] for c in listed.json()] == ["A", "B", "C"]


async def test_a_batch_must_be_a_non_empty_array(app: KolejkaApp, personas: dict[str, str]) -> None:
    for body in [{"surname": "A"}, [], {"customers": []}, {"customers": {"surname": "A"}}]:
        answer = await call(
            app, "POST", "/api/batch/customers", auth=personas["admin"], json_body=body
        )
        assert answer.status == 400, body
        assert answer.json()["errors"][0]["message"].startswith("Invalid field customers:")


async def test_a_record_of_a_batch_that_is_no_object_is_refused_alone(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app, "POST", "/api/batch/customers", auth=personas["admin"], json_body=[1, {"surname": "A"}]
    )

    assert answer.status == 207
    assert answer.json()["0"]["errors"] == [
        {"message": "Invalid field body: must be an object.", "code": 400003}
    ]
    assert answer.json()["1"]["http_status"] == 201


# Permissions -----------------------------------------------------------------------------


async def test_each_method_needs_its_own_permission(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    await components.api_users.add("viewer", "viewer-secret", ["GET customers/:id"])
    viewer = basic("viewer", "viewer-secret")
    created = await create(app, personas["admin"], surname="Kowalski")
    path = f"/api/customers/{created['customer_id']}"

    assert (await call(app, "GET", path, auth=viewer)).status == 200
    listing = await call(app, "GET", "/api/customers", auth=viewer)
    assert listing.status == 403
    assert listing.json()["errors"][0] == {
        "message": "API user viewer may not call GET customers.",
        "code": 403001,
    }
    denied = [
        await call(app, "PUT", path, auth=viewer, json_body={"surname": "X"}),
        await call(app, "DELETE", path, auth=viewer),
        await call(app, "POST", "/api/customers", auth=viewer, json_body={"surname": "X"}),
        await call(app, "POST", "/api/batch/customers", auth=viewer, json_body=[]),
    ]
    assert [answer.status for answer in denied] == [403, 403, 403, 403]
    assert (await call(app, "GET", path, auth=personas["reader"])).status == 403
    assert (await call(app, "GET", path)).status == 401
