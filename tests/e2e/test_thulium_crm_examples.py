"""Thulium's documented CRM example requests, sent as its pages print them (but for host and
credentials) to a live server, and the answers those pages document.

The pages are stored in the research corpus (docs/research/thulium-crm.md quotes them); only
their first ~2,000 characters can be read, so these are the examples that can be seen:
`GET customers/:id`, `GET companies/:id`, `DELETE customers/:id` (PHP and curl), the body
fields' documented example values, and the status codes of "Kody odpowiedzi". Besides them,
the two bodies a real integration sends (issue 12), which must be taken as they are.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

import pytest

from tests.e2e.client import as_json, request
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.factories import add_person_elsewhere
from tests.support import Answer, LiveServer

THULIUM_HOST = "https://your-system-name.thulium.com"
USER = (SEED_USER, SEED_PASSWORD)
# Every PHP example's request headers, as the pages print them.
PHP_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def send(server: LiveServer, method: str, documented_url: str, **kwargs: Any) -> Answer:
    """`documented_url` as printed on Thulium's page, sent to `server` instead."""
    path = documented_url.removeprefix(THULIUM_HOST)
    assert path != documented_url, documented_url
    return request(server.url, method, path, user=USER, **kwargs)


@pytest.fixture
def customer_13(server: LiveServer) -> LiveServer:
    """The customer whose deletion `DELETE customers/:id` shows."""
    add_person_elsewhere(
        server.env["KOLEJKA_DATABASE_URL"], "Jan", "Kowalski", "222333444", customer_id=13
    )
    return server


def test_delete_customers_id_as_the_php_example_sends_it_answers_204_and_empty(
    customer_13: LiveServer,
) -> None:
    # $data = ''; CURLOPT_HTTPHEADER: Content-Type and 'Content-Length: ' . mb_strlen($data);
    # CURLOPT_CUSTOMREQUEST 'DELETE'; CURLOPT_POSTFIELDS $data. "Przykładowy response: pusty".
    answer = send(
        customer_13,
        "DELETE",
        f"{THULIUM_HOST}/api/customers/13",
        headers={**PHP_HEADERS, "Content-Length": "0"},
    )

    assert (answer.status, answer.body) == (204, b"")
    assert "content-type" not in answer.headers
    assert send(customer_13, "GET", f"{THULIUM_HOST}/api/customers/13").status == 404


def test_delete_customers_id_as_the_curl_example_sends_it_answers_204_and_empty(
    customer_13: LiveServer,
) -> None:
    documented = (
        'curl -u api_user:api_pass -k -X DELETE -H "Accept: application/json"'
        f' "{THULIUM_HOST}/api/customers/13"'
    )
    command = shlex.split(documented.replace(THULIUM_HOST, customer_13.url))

    done = subprocess.run(
        [*command, "-s", "-o", "-", "-w", "%{http_code}"],
        capture_output=True,
        timeout=30,
        check=False,
    )

    assert done.stdout == b"204"


def test_the_documented_custom_fields_example_is_taken_by_post_customers(
    server: LiveServer,
) -> None:
    # "custom_fields":{"field_name_1":"value_1","field_name_2":"value_2"} (post_customers)
    body = json.loads(
        '{"surname": "Kowalski",'
        ' "custom_fields":{"field_name_1":"value_1","field_name_2":"value_2"}}'
    )

    created = send(server, "POST", f"{THULIUM_HOST}/api/customers", body=body, headers=PHP_HEADERS)

    assert created.status == 201
    documented = {"field_name_1": "value_1", "field_name_2": "value_2"}
    assert as_json(created)["custom_fields"] == documented


def test_the_batch_page_documents_a_body_of_customers(server: LiveServer) -> None:
    # post_batch_customers: "customers (wymagany): Lista klientów do dodania", surname required.
    body = {"customers": [{"name": "Jan", "surname": "Kowalski"}, {"surname": "Nowak"}]}

    created = send(
        server, "POST", f"{THULIUM_HOST}/api/batch/customers", body=body, headers=PHP_HEADERS
    )

    assert created.status == 201
    assert [c["surname"] for c in as_json(created)] == ["Kowalski", "Nowak"]


@pytest.mark.parametrize("limit", ["100", "1000", "2000"])
def test_lists_take_the_documented_limits_and_a_larger_one(server: LiveServer, limit: str) -> None:
    # get_customers: "limit ... Domyślnie: 100. Maksymalna wartość: 1000. Przykładowa wartość:
    # 100"; a real client asks for 1000, another for 2000 (issue 12).
    for kind in ("customers", "companies"):
        answer = send(server, "GET", f"{THULIUM_HOST}/api/{kind}?limit={limit}&offset=0")
        assert (answer.status, as_json(answer)) == (200, []), (kind, limit)


def test_the_documented_phone_number_filter_example_finds_the_customer(
    customer_13: LiveServer,
) -> None:
    add_person_elsewhere(customer_13.env["KOLEJKA_DATABASE_URL"], "Anna", "Lis", "555666777")

    answer = send(customer_13, "GET", f"{THULIUM_HOST}/api/customers?phone_number=555666777")

    assert answer.status == 200
    assert [c["surname"] for c in as_json(answer)] == ["Lis"]


def test_the_bodies_a_real_integration_sends_are_created_and_read_back(
    server: LiveServer,
) -> None:
    """A company, then a person in it, with the fields a Zapier-style client sends (issue 12)."""
    company = send(
        server,
        "POST",
        f"{THULIUM_HOST}/api/companies",
        headers=PHP_HEADERS,
        body={
            "name": "Kwiaciarnia Róża",
            "phone_number": "+48 61 345 98 52",
            "email": "biuro@roza.example",
            "note": "lead z formularza",
            "custom_fields": {"kampania": "jesień"},
        },
    )
    assert company.status == 201, company.body
    company_id = as_json(company)["company_id"]
    person = send(
        server,
        "POST",
        f"{THULIUM_HOST}/api/customers",
        headers=PHP_HEADERS,
        body={
            "surname": "Różańska",
            "email": "ewa@roza.example",
            "phone_number": ["601100200"],
            "company_id": company_id,
            "note": "prosi o kontakt po 16",
            "custom_fields": {"kampania": "jesień"},
        },
    )
    assert person.status == 201, person.body
    customer_id = as_json(person)["customer_id"]

    # Thulium shows custom fields only when asked (`include_custom_fields`, default false).
    shown = "include_custom_fields=true"
    company_path = f"{THULIUM_HOST}/api/companies/{company_id}?{shown}"
    read_company = as_json(send(server, "GET", company_path))
    read_person = as_json(
        send(server, "GET", f"{THULIUM_HOST}/api/customers/{customer_id}?{shown}")
    )

    assert read_company["name"] == "Kwiaciarnia Róża"
    assert read_company["custom_fields"] == {"kampania": "jesień"}
    assert (read_person["surname"], read_person["email"]) == ("Różańska", "ewa@roza.example")
    assert (read_person["phone_number"], read_person["company_id"]) == ("601100200", company_id)
    assert read_person["custom_fields"] == {"kampania": "jesień"}
    assert read_person["note"] == "prosi o kontakt po 16"


def test_get_customers_id_as_documented_answers_the_customer(customer_13: LiveServer) -> None:
    # get_customers_id: GET .../api/customers/273?include_custom_fields=true
    add_person_elsewhere(
        customer_13.env["KOLEJKA_DATABASE_URL"],
        "Jan",
        "Kowalski",
        "222333444",
        "213443523",
        customer_id=273,
    )

    answer = send(
        customer_13, "GET", f"{THULIUM_HOST}/api/customers/273?include_custom_fields=true"
    )

    assert answer.status == 200
    got = as_json(answer)
    assert got["customer_id"] == 273
    assert (got["name"], got["surname"]) == ("Jan", "Kowalski")
    assert (got["phone_number"], got["phone_numbers"]) == ("222333444", ["222333444", "213443523"])
    assert (got["company_id"], got["identifier"], got["type"], got["group"]) == ("", "", "", "")
