"""Every field and parameter Thulium's CRM pages document (issue 12), on the wire.

The bodies are what real Thulium clients send (docs/research/thulium-crm.md §8); the requests
are Thulium's documented examples, verbatim but for host and credentials.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from kolejka.adapters.http.app import KolejkaApp
from tests.support import call

ADDRESS_KEYS = [
    "street", "building", "flat", "postcode", "city", "post_office", "borough", "county",
    "voivodship", "country",
]  # fmt: skip
EMPTY_ADDRESS = dict.fromkeys(ADDRESS_KEYS)
INCLUDE_ALL = (
    "include_custom_fields=true&include_address=true&include_invoice_address=true"
    "&include_mail_drop_address=true"
)
# The Zapier-style client: a company, then a customer in it (tests/crm bodies as it sends them).
COMPANY_BODY = {
    "name": "Kwiaciarnia Róża",
    "phone_number": "+48 61 345 98 52",
    "email": "biuro@roza.pl",
    "custom_fields": {"kampania": "jesień"},
}
EVERY_CUSTOMER_FIELD = {
    "name": "Jan",
    "identifier": "K-273",
    "type": "VIP",
    "group": "Poznań",
    "account_manager": "zofia",
    "nip": "6783144527",
    "gender": "M",
    "homepage": "https://jan.example.pl",
    "birthdate": "1980-02-29",
    "pesel": "80022912345",
    "job": "Kwiaciarnia Róża",
    "job_title": "Florysta",
    "vip": True,
    "fill_read_only_custom_fields": True,
    "address": {"street": "Złotej Jesieni", "building": "7", "flat": None, "postcode": "31-827",
                "city": "Kraków", "country": "Polska"},
    "invoice_address": {"street": "Długa", "building": "1", "city": "Poznań"},
    "mail_drop_address": {"postcode": "60-001", "city": "Poznań", "country": "Polska"},
}  # fmt: skip


async def post(app: KolejkaApp, auth: str, path: str, body: object) -> dict[str, Any]:
    answer = await call(app, "POST", path, auth=auth, json_body=body)
    assert answer.status == 201, answer.body
    found: dict[str, Any] = answer.json()
    return found


async def get(app: KolejkaApp, auth: str, path: str) -> Any:
    answer = await call(app, "GET", path, auth=auth)
    assert answer.status == 200, answer.body
    return answer.json()


async def refused(app: KolejkaApp, auth: str, method: str, path: str, body: object = None) -> str:
    answer = await call(app, method, path, auth=auth, json_body=body)
    assert answer.status == 400, answer.body
    (error,) = answer.json()["errors"]
    assert error["code"] == 400003
    message: str = error["message"]
    return message


async def test_a_real_clients_company_and_customer_read_back_with_every_documented_field(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    company = await post(app, admin, "/api/companies", COMPANY_BODY)
    customer = await post(app, admin, "/api/customers", {
        "surname": "Kowalski", "email": "jan.kowalski@foo.bar", "phone_number": ["222333444"],
        "company_id": company["company_id"], "note": "Dzwonić po 16.\nNie w piątki.",
        "custom_fields": {"kampania": "jesień"}, **EVERY_CUSTOMER_FIELD,
    })  # fmt: skip

    read = await get(app, admin, f"/api/customers/{customer['customer_id']}?{INCLUDE_ALL}")
    company_read = await get(app, admin, f"/api/companies/{company['company_id']}?{INCLUDE_ALL}")

    assert read == {
        "customer_id": customer["customer_id"],
        "name": "Jan",
        "surname": "Kowalski",
        "phone_number": "222333444",
        "phone_numbers": ["222333444"],
        "email": "jan.kowalski@foo.bar",
        "company_id": company["company_id"],
        "identifier": "K-273",
        "type": "VIP",
        "group": "Poznań",
        "company_flag": 0,
        "account_manager": "zofia",
        "updated_at": read["updated_at"],
        "nip": "6783144527",
        "gender": "M",
        "homepage": "https://jan.example.pl",
        "birthdate": "1980-02-29",
        "note": "Dzwonić po 16.\nNie w piątki.",
        "pesel": "80022912345",
        "job": "Kwiaciarnia Róża",
        "job_title": "Florysta",
        "vip": True,
        "address": {**EMPTY_ADDRESS, **EVERY_CUSTOMER_FIELD["address"]},  # type: ignore[dict-item]
        "invoice_address": {**EMPTY_ADDRESS, "street": "Długa", "building": "1", "city": "Poznań"},
        "mail_drop_address": {
            **EMPTY_ADDRESS, "postcode": "60-001", "city": "Poznań", "country": "Polska",
        },
        "custom_fields": {"kampania": "jesień"},
    }  # fmt: skip
    assert company_read == {
        "name": "Kwiaciarnia Róża",
        "company_id": company["company_id"],
        "customer_id": company["customer_id"],
        "type": "",
        "group": "",
        "nip": "",
        "account_manager": "",
        "identifier": "",
        "email": "biuro@roza.pl",
        "phone_number": "613459852",
        "phone_numbers": ["613459852"],
        "address": EMPTY_ADDRESS,
        "invoice_address": EMPTY_ADDRESS,
        "mail_drop_address": EMPTY_ADDRESS,
        "custom_fields": {"kampania": "jesień"},
    }


async def test_thuliums_get_customers_id_example_shows_custom_fields_and_no_address(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    """`GET .../api/customers/273?include_custom_fields=true` (get_customers_id)."""
    admin = personas["admin"]
    created = await post(app, admin, "/api/customers", {
        "name": "Jan", "surname": "Kowalski", "phone_number": ["222333444", "213443523"],
        "email": "jan.kowalski@foo.bar",
        "custom_fields": {"Dodatkowe informacje": "Numer dowodu - AXX 121212"},
    })  # fmt: skip

    shown = await get(
        app, admin, f"/api/customers/{created['customer_id']}?include_custom_fields=true"
    )
    plain = await get(app, admin, f"/api/customers/{created['customer_id']}")

    assert shown["custom_fields"] == {"Dodatkowe informacje": "Numer dowodu - AXX 121212"}
    assert shown["phone_numbers"] == ["222333444", "213443523"]
    assert (shown["company_id"], shown["identifier"], shown["account_manager"]) == ("", "", "")
    assert not {"address", "invoice_address", "mail_drop_address"} & set(shown)
    assert "custom_fields" not in plain
    assert {k: v for k, v in shown.items() if k != "custom_fields"} == plain


async def test_thuliums_get_companies_id_example_shows_the_ten_key_address_with_nulls(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    """`GET .../api/companies/28?include_custom_fields=true&include_address=true`."""
    admin = personas["admin"]
    created = await post(app, admin, "/api/companies", {
        "name": "Thulium", "type": "internal", "group": "partner", "nip": "6783144527",
        "address": {"street": "Zlotej Jesieni", "building": "7", "postcode": "31-827",
                    "city": "Krakow", "post_office": "Krakow", "country": "Poland"},
        "custom_fields": {"Additional info": "none"},
    })  # fmt: skip

    shown = await get(
        app,
        admin,
        f"/api/companies/{created['company_id']}?include_custom_fields=true&include_address=true",
    )

    assert list(shown)[:7] == [
        "name", "company_id", "customer_id", "type", "group", "nip", "account_manager",
    ]  # fmt: skip
    assert shown["address"] == {
        "street": "Zlotej Jesieni", "building": "7", "flat": None, "postcode": "31-827",
        "city": "Krakow", "post_office": "Krakow", "borough": None, "county": None,
        "voivodship": None, "country": "Poland",
    }  # fmt: skip
    assert shown["custom_fields"] == {"Additional info": "none"}
    assert "invoice_address" not in shown
    assert "mail_drop_address" not in shown


async def test_get_companies_filters_as_thulium_documents_them(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    thulium = await post(app, admin, "/api/companies", {
        "name": "Thulium", "identifier": "3434558", "email": "biuro@thulium.pl",
        "phone_number": "555666777", "nip": "6783144527", "type": "custom type name",
        "group": "custom group name", "custom_fields": {"Kraj": "POLSKA", "Miasto": "Kraków"},
    })  # fmt: skip
    norway = await post(app, admin, "/api/companies", {
        "name": "Fjord AS", "identifier": "N-1",
        "custom_fields": {"Kraj": "NORWEGIA", "Miasto": "Kraków"},
    })  # fmt: skip
    bare = await post(app, admin, "/api/companies", {"name": "Bez identyfikatora"})
    # A person with the same values is no company: none of these finds it.
    await post(app, admin, "/api/customers", {
        "surname": "Nowak", "email": "biuro@thulium.pl", "type": "custom type name",
        "custom_fields": {"Kraj": "POLSKA", "Miasto": "Kraków"},
    })  # fmt: skip

    async def found(query: str) -> list[int]:
        return [c["company_id"] for c in await get(app, admin, f"/api/companies?{query}")]

    one, two, three = thulium["company_id"], norway["company_id"], bare["company_id"]
    assert await found("identifier=3434558") == [one]
    assert await found("identifier=") == [three]
    assert await found("email=biuro@thulium.pl") == [one]
    assert await found("phone_number=555666777") == [one]
    assert await found("nip=6783144527") == [one]
    assert await found("type=custom%20type%20name") == [one]
    assert await found("group=custom+group+name") == [one]
    assert await found("identifier=3434") == []  # exact, not a prefix
    # The page's own example: Kraj in (POLSKA, NORWEGIA) and Miasto = Kraków.
    documented = (
        "custom_fields[Kraj][0]=POLSKA&custom_fields[Kraj][1]=NORWEGIA"
        "&custom_fields[Miasto]=Krak%C3%B3w"
    )
    assert await found(documented) == [one, two]
    assert await found("custom_fields[Kraj][]=NORWEGIA&custom_fields[Miasto][]=Krak%C3%B3w") == [
        two
    ]
    assert await found(quote("custom_fields[Kraj]") + "=POLSKA&type=custom+type+name") == [one]
    assert await found("custom_fields[Kraj]=SZWECJA") == []
    listed = await get(app, admin, "/api/companies?identifier=3434558&include_address=true")
    assert listed[0]["address"] == EMPTY_ADDRESS
    assert "custom_fields" not in listed[0]


async def test_get_customers_filters_as_thulium_documents_them(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    company = await post(app, admin, "/api/companies", {"name": "ACME", "identifier": "F-1"})
    jan = await post(app, admin, "/api/customers", {
        "surname": "Kowalski", "identifier": "3434558", "email": "jan.kowalski@foo.bar",
        "nip": "6783144527", "company_id": company["company_id"], "type": "custom type name",
        "group": "custom group name", "custom_fields": {"Kraj": "POLSKA", "Miasto": "Kraków"},
    })  # fmt: skip
    anna = await post(app, admin, "/api/customers", {
        "surname": "Nowak", "custom_fields": {"Kraj": "NORWEGIA", "Miasto": "Oslo"},
    })  # fmt: skip

    async def found(query: str) -> list[int]:
        return [c["customer_id"] for c in await get(app, admin, f"/api/customers?{query}")]

    one, two, card = jan["customer_id"], anna["customer_id"], company["customer_id"]
    assert await found("identifier=3434558") == [one]
    assert await found("identifier=") == [two]  # the company's card has "F-1"
    assert await found("email=jan.kowalski%40foo.bar") == [one]
    assert await found("nip=6783144527") == [one]
    assert await found(f"company_id={company['company_id']}") == [one]
    assert await found("company_flag=true") == [card]
    assert await found("company_flag=false") == [one, two]
    assert await found("type=custom+type+name&group=custom+group+name") == [one]
    assert await found("custom_fields[Kraj][0]=POLSKA&custom_fields[Kraj][1]=NORWEGIA") == [
        one,
        two,
    ]
    assert await found("custom_fields[Kraj][]=POLSKA&custom_fields[Miasto]=Oslo") == []
    # An empty value of a filter Thulium gives no empty meaning to is no filter.
    assert await found("email=&nip=&type=&group=&company_id=") == [card, one, two]


async def test_a_custom_field_filter_follows_every_write(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    jan = await post(app, admin, "/api/customers", {
        "surname": "Kowalski", "custom_fields": {"Kraj": "POLSKA"},
    })  # fmt: skip
    company = await post(app, admin, "/api/companies", {
        "name": "ACME", "custom_fields": {"Kraj": "POLSKA"},
    })  # fmt: skip
    query = "?custom_fields[Kraj]=POLSKA"

    await call(app, "PUT", f"/api/customers/{jan['customer_id']}", auth=admin,
               json_body={"custom_fields": {"Kraj": "NORWEGIA"}})  # fmt: skip
    await call(app, "PUT", f"/api/companies/{company['company_id']}", auth=admin,
               json_body={"custom_fields": {"Kraj": "NORWEGIA"}})  # fmt: skip

    assert await get(app, admin, f"/api/customers{query}") == []
    assert await get(app, admin, f"/api/companies{query}") == []
    moved = "?custom_fields[Kraj]=NORWEGIA"
    assert [c["customer_id"] for c in await get(app, admin, f"/api/customers{moved}")] == [
        jan["customer_id"]
    ]
    assert [c["company_id"] for c in await get(app, admin, f"/api/companies{moved}")] == [
        company["company_id"]
    ]
    await call(app, "DELETE", f"/api/customers/{jan['customer_id']}", auth=admin)
    assert await get(app, admin, f"/api/customers{moved}") == []


async def test_put_changes_the_fields_it_carries_and_an_address_it_sends_whole(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    admin = personas["admin"]
    jan = await post(app, admin, "/api/customers", {"surname": "Kowalski", **EVERY_CUSTOMER_FIELD})
    company = await post(app, admin, "/api/companies", {
        "name": "ACME", "address": {"street": "Długa", "city": "Poznań"}, "identifier": "F-1",
    })  # fmt: skip

    await call(app, "PUT", f"/api/customers/{jan['customer_id']}", auth=admin,
               json_body={"note": "nowa", "vip": False, "address": {"city": "Gdańsk"}})  # fmt: skip
    await call(app, "PUT", f"/api/companies/{company['company_id']}", auth=admin,
               json_body={"invoice_address": {"city": "Kraków"}, "email": "a@acme.pl"})  # fmt: skip
    read = await get(app, admin, f"/api/customers/{jan['customer_id']}?{INCLUDE_ALL}")
    company_read = await get(app, admin, f"/api/companies/{company['company_id']}?{INCLUDE_ALL}")

    assert (read["note"], read["vip"], read["job_title"]) == ("nowa", False, "Florysta")
    assert read["address"] == {**EMPTY_ADDRESS, "city": "Gdańsk"}
    assert read["invoice_address"]["street"] == "Długa"  # not sent: kept
    assert company_read["address"] == {**EMPTY_ADDRESS, "street": "Długa", "city": "Poznań"}
    assert company_read["invoice_address"] == {**EMPTY_ADDRESS, "city": "Kraków"}
    assert (company_read["email"], company_read["identifier"]) == ("a@acme.pl", "F-1")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"vip": "tak"}, "Invalid field vip: must be true or false."),
        ({"birthdate": "29.02.1980"}, "Invalid field birthdate: must be a date, YYYY-MM-DD."),
        ({"birthdate": "1981-02-29"}, "Invalid field birthdate: must be a date, YYYY-MM-DD."),
        ({"address": ["Długa 1"]}, "Invalid field address: must be an object."),
        ({"address": {"ulica": "Długa"}}, "Invalid field address.ulica: is not a known field."),
        ({"invoice_address": {"city": 7}}, "Invalid field city: must be a string."),
        ({"nip": 6783144527}, "Invalid field nip: must be a string."),
        ({"note": "a\x00b"}, "Invalid field note: must not contain control characters."),
        ({"job": "a\nb"}, "Invalid field job: must not contain control characters."),
        ({"fill_read_only_custom_fields": "yes"}, "Invalid field fill_read_only_custom_fields:"
         " must be true or false."),
    ],
)  # fmt: skip
async def test_a_documented_field_with_a_wrong_value_is_refused_with_400003(
    app: KolejkaApp, personas: dict[str, str], body: dict[str, Any], message: str
) -> None:
    said = await refused(
        app, personas["admin"], "POST", "/api/customers", {"surname": "Kowalski", **body}
    )

    assert said == message


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/customers?include_address=yes", "Invalid field include_address"),
        ("/api/customers/1?include_custom_fields=2", "Invalid field include_custom_fields"),
        ("/api/customers?company_flag=company", "Invalid field company_flag"),
        ("/api/customers?company_id=0", "Invalid field company_id"),
        ("/api/companies?company_id=1", "Invalid field company_id"),
        ("/api/companies/1?limit=5", "Invalid field limit"),
        ("/api/customers?custom_fields=POLSKA", "Invalid field custom_fields"),
        ("/api/customers?custom_fields[]=POLSKA", "Invalid field custom_fields[]"),
    ],
)
async def test_a_wrong_parameter_is_refused_with_400003(
    app: KolejkaApp, personas: dict[str, str], path: str, message: str
) -> None:
    said = await refused(app, personas["admin"], "GET", path)

    assert said.startswith(message)
