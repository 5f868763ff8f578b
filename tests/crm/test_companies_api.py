"""/api/companies on the wire: Thulium's company fields, and the company's customer card."""

from __future__ import annotations

from typing import Any

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from tests.factories import add_company
from tests.support import call

# Thulium's GET companies/:id example's keys, in its order; then its filters' fields; then what
# every include_* parameter adds.
COMPANY_KEYS = [
    "name", "company_id", "customer_id", "type", "group", "nip", "account_manager", "identifier",
    "email", "phone_number", "phone_numbers", "address", "invoice_address", "mail_drop_address",
    "custom_fields",
]  # fmt: skip
INCLUDE_ALL = (
    "include_custom_fields=true&include_address=true&include_invoice_address=true"
    "&include_mail_drop_address=true"
)


async def create(app: KolejkaApp, auth: str, **body: Any) -> dict[str, Any]:
    answer = await call(app, "POST", "/api/companies", auth=auth, json_body=body)
    assert answer.status == 201, answer.body
    created: dict[str, Any] = answer.json()
    return created


async def test_creating_a_company_answers_201_with_its_company_id_and_thuliums_fields(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    created = await create(
        app, personas["admin"], name="Kwiaciarnia Róża", nip="779-000-00-00", address="Poznań"
    )

    fetched = await call(
        app, "GET", f"/api/companies/{created['company_id']}?{INCLUDE_ALL}", auth=personas["admin"]
    )

    assert list(fetched.json()) == COMPANY_KEYS
    assert fetched.json() == created
    assert created["name"] == "Kwiaciarnia Róża"
    assert (created["nip"], created["group"]) == ("779-000-00-00", "")
    # kolejka's earlier one-line address is taken as the street of Thulium's address object.
    assert created["address"]["street"] == "Poznań"
    assert isinstance(created["company_id"], int)
    assert isinstance(created["customer_id"], int)


async def test_a_companys_customer_card_carries_its_name_and_numbers_with_company_flag_1(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    company = await create(app, personas["admin"], name="ACME", phone_number="+48 61 345 98 52")

    card = await call(
        app, "GET", f"/api/customers/{company['customer_id']}", auth=personas["admin"]
    )

    assert card.json()["company_flag"] == 1
    assert (card.json()["name"], card.json()["surname"]) == ("ACME", "")
    assert card.json()["phone_numbers"] == ["613459852"]


async def test_a_company_needs_a_name(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await call(
        app, "POST", "/api/companies", auth=personas["admin"], json_body={"nip": "1"}
    )

    assert answer.status == 400
    assert answer.json()["errors"][0]["message"] == "Invalid field name: is required."


async def test_put_renames_a_company_and_its_card(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    company = await create(app, personas["admin"], name="ACME", nip="1")

    answer = await call(
        app, "PUT", f"/api/companies/{company['company_id']}", auth=personas["admin"],
        json_body={"name": "ACME S.A."},
    )  # fmt: skip
    card = await call(
        app, "GET", f"/api/customers/{company['customer_id']}", auth=personas["admin"]
    )
    renamed = await call(
        app, "GET", f"/api/companies/{company['company_id']}", auth=personas["admin"]
    )

    assert (answer.status, answer.body) == (204, b"")
    assert (renamed.json()["name"], renamed.json()["nip"]) == ("ACME S.A.", "1")
    assert card.json()["name"] == "ACME S.A."


async def test_deleting_a_company_removes_its_card_and_frees_its_members(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    company = await create(app, personas["admin"], name="ACME")
    member = await call(
        app, "POST", "/api/customers", auth=personas["admin"],
        json_body={"surname": "Nowak", "company_id": company["company_id"]},
    )  # fmt: skip

    removed = await call(
        app, "DELETE", f"/api/companies/{company['company_id']}", auth=personas["admin"]
    )
    card = await call(
        app, "GET", f"/api/customers/{company['customer_id']}", auth=personas["admin"]
    )
    still = await call(
        app, "GET", f"/api/customers/{member.json()['customer_id']}", auth=personas["admin"]
    )

    assert (removed.status, removed.body) == (204, b"")
    assert card.status == 404
    assert still.status == 200
    assert still.json()["company_id"] == ""


async def test_a_companys_card_is_deleted_through_the_company(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    company = await create(app, personas["admin"], name="ACME")

    answer = await call(
        app, "DELETE", f"/api/customers/{company['customer_id']}", auth=personas["admin"]
    )

    assert answer.status == 409
    assert answer.json()["errors"][0]["code"] == 409003


async def test_unknown_companies_are_404(app: KolejkaApp, personas: dict[str, str]) -> None:
    for method in ("GET", "PUT", "DELETE"):
        body = {"name": "X"} if method == "PUT" else None
        answer = await call(
            app, method, "/api/companies/77", auth=personas["admin"], json_body=body
        )
        assert answer.status == 404
        assert answer.json()["errors"] == [
            {"message": "Company 77 does not exist.", "code": 404005}
        ]


async def test_companies_list_with_pagination_order_and_phone_filter(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    acme = await create(app, personas["admin"], name="ACME", phone_number="613459852")
    await create(app, personas["admin"], name="Zeta")
    await create(app, personas["admin"], name="Beta")

    by_name = await call(app, "GET", "/api/companies?order=-name&limit=2", auth=personas["admin"])
    by_number = await call(
        app, "GET", "/api/companies?phone_number=%2B48613459852", auth=personas["admin"]
    )

    assert [c["name"] for c in by_name.json()] == ["Zeta", "Beta"]
    assert [c["company_id"] for c in by_number.json()] == [acme["company_id"]]


async def test_a_companys_card_takes_no_surname(app: KolejkaApp, personas: dict[str, str]) -> None:
    company = await create(app, personas["admin"], name="ACME")

    answer = await call(
        app, "PUT", f"/api/customers/{company['customer_id']}", auth=personas["admin"],
        json_body={"surname": "Kowalski"},
    )  # fmt: skip

    assert answer.status == 409
    assert answer.json()["errors"][0] == {
        "message": (
            "Field surname conflicts with the stored record: must be empty on a company's card."
        ),
        "code": 409004,
    }


async def test_a_company_added_to_the_phone_book_directly_is_a_whole_company(
    app: KolejkaApp, components: Components, personas: dict[str, str]
) -> None:
    # As the demo and the tests' factory add companies, through the CRM: the card and its row.
    company = await add_company(components.crm, "Zieliński Transport", "0048 602 300 400")
    card_id = company.customer_id
    listed = await call(app, "GET", "/api/companies", auth=personas["admin"])
    assert [(c["customer_id"], c["name"]) for c in listed.json()] == [
        (card_id, "Zieliński Transport")
    ]


async def test_a_name_of_what_the_openapi_patterns_call_controls_or_blanks_is_refused_alike(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    # schemathesis sent {"name": "\u0085"}: the document's pattern allowed it (JSON Schema's \s
    # has no U+0085), and the server stripped it to nothing and answered "is required". C1
    # controls are now controls on both sides, and U+FEFF is a blank on both.
    for name, problem in [
        ("\u0085", "must not contain control characters."),
        ("Ró\u009bża", "must not contain control characters."),
        ("\ufeff", "is required."),
        (" \ufeff ", "is required."),
    ]:
        answer = await call(
            app, "POST", "/api/companies", auth=personas["admin"], json_body={"name": name}
        )
        assert answer.status == 400, (name, answer.body)
        assert answer.json()["errors"][0]["message"] == f"Invalid field name: {problem}", name
    created = await create(app, personas["admin"], name="\ufeffKwiaciarnia ")
    assert created["name"] == "Kwiaciarnia"
