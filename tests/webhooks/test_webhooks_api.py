"""`/api/webhooks`: Thulium's registration, exactly, and its abuse cases."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components, build, create_app
from tests.support import CANARY, FAST_HASHER, assert_envelope, basic, call
from tests.webhooks.helpers import webhook_settings

HOOK = {
    "actions": ["CUSTOMER_CREATED", "CALLER_JOINED"],
    "subscription_url": "https://example.pl/hook",
    "http_auth_user": "crm",
    "http_auth_password": f"pass-{CANARY}",
}


async def test_registration_answers_thulium_s_shape_and_the_secret_once(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=HOOK)
    assert answer.status == 201
    body = answer.json()
    assert list(body) == [
        "id",
        "actions",
        "subscription_url",
        "http_auth_user",
        "http_auth_password",
        "secret",
    ]
    assert body["actions"] == HOOK["actions"]
    assert body["subscription_url"] == "https://example.pl/hook"
    assert body["http_auth_user"] == ""
    assert body["http_auth_password"] == ""
    assert body["secret"].startswith("whsec_")
    assert len(body["secret"]) > 40
    listed = await call(app, "GET", "/api/webhooks", auth=personas["admin"])
    assert listed.status == 200
    assert listed.json() == [
        {
            "id": body["id"],
            "actions": HOOK["actions"],
            "subscription_url": "https://example.pl/hook",
            "http_auth_user": "",
            "http_auth_password": "",
        }
    ]
    assert body["secret"].encode() not in listed.body


async def test_thulium_s_own_example_request_is_taken(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    raw = b'{"actions":["CUSTOMER_CREATED"],"subscription_url":"https:\\/\\/example.pl"}'
    answer = await call(app, "POST", "/api/webhooks", auth=personas["admin"], body=raw)
    assert answer.status == 201
    assert answer.json()["subscription_url"] == "https://example.pl"


async def test_credentials_and_secret_are_sealed_in_the_database(
    app: KolejkaApp, personas: dict[str, str], database_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=HOOK)
    secret = answer.json()["secret"]
    dump = "\n".join(sqlite3.connect(database_path).iterdump())
    assert CANARY not in dump
    assert secret not in dump
    assert "crm" not in dump.replace("CREATE", "")  # the Basic user is sealed too
    assert CANARY not in caplog.text
    assert secret not in caplog.text


async def test_delete_removes_it_and_an_unknown_id_is_404(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    made = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=HOOK)
    webhook_id = made.json()["id"]
    gone = await call(app, "DELETE", f"/api/webhooks/{webhook_id}", auth=personas["admin"])
    assert gone.status == 204
    assert (await call(app, "GET", "/api/webhooks", auth=personas["admin"])).json() == []
    again = await call(app, "DELETE", f"/api/webhooks/{webhook_id}", auth=personas["admin"])
    assert_envelope(again, 404, 404016)
    deliveries = await call(
        app, "GET", f"/api/webhooks/{webhook_id}/deliveries", auth=personas["admin"]
    )
    assert_envelope(deliveries, 404, 404016)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actions": ["CHAT_CONVERSATION_CREATED"]}, "actions[0]"),
        ({"actions": ["caller_joined"]}, "actions[0]"),
        ({"actions": []}, "actions"),
        ({"actions": "CALLER_JOINED"}, "actions"),
        ({"actions": [1]}, "actions[0]"),
        ({"actions": None}, "actions"),
        ({"subscription_url": "ftp://example.pl/"}, "subscription_url"),
        ({"subscription_url": "https://"}, "subscription_url"),
        ({"subscription_url": "example.pl"}, "subscription_url"),
        ({"subscription_url": "https://u:p@example.pl/"}, "subscription_url"),
        ({"subscription_url": "https://example.pl:99999/"}, "subscription_url"),
        ({"subscription_url": "https://exa mple.pl/"}, "subscription_url"),
        ({"subscription_url": "https://example.pl/\u0085"}, "subscription_url"),
        ({"subscription_url": "https://example.pl/" + "a" * 3000}, "subscription_url"),
        ({"subscription_url": 5}, "subscription_url"),
        ({"subscription_url": None}, "subscription_url"),
        ({"http_auth_user": 5}, "http_auth_user"),
        ({"http_auth_password": "a\u0085b"}, "http_auth_password"),
        ({"http_auth_password": "\ud800"}, "http_auth_password"),
        ({"http_auth_user": "x" * 300}, "http_auth_user"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_malformed_registration_is_400_naming_the_field(
    app: KolejkaApp, personas: dict[str, str], change: dict[str, object], field: str
) -> None:
    body = {**HOOK, **change}
    answer = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=body)
    assert_envelope(answer, 400, 400003)
    assert field in answer.json()["errors"][0]["message"]
    assert (await call(app, "GET", "/api/webhooks", auth=personas["admin"])).json() == []


async def test_every_wrong_field_of_a_registration_is_named_in_one_answer(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    """Found by a black-box attack: an unknown field hid every other error."""
    body = {"zzz": 1, "actions": "x", "subscription_url": 5, "http_auth_user": 1}
    answer = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=body)

    assert answer.status == 400
    named = [error["message"].split(":")[0] for error in answer.json()["errors"]]
    assert named == [
        "Invalid field zzz",
        "Invalid field actions",
        "Invalid field subscription_url",
        "Invalid field http_auth_user",
    ]
    assert (await call(app, "GET", "/api/webhooks", auth=personas["admin"])).json() == []


@pytest.mark.parametrize(
    "body", [b"", b"[]", b"null", b'"x"', b"{", b'{"actions": ["CALLER_JOINED"]'], ids=repr
)
async def test_a_body_that_is_no_object_is_400(
    app: KolejkaApp, personas: dict[str, str], body: bytes
) -> None:
    answer = await call(app, "POST", "/api/webhooks", auth=personas["admin"], body=body)
    assert answer.status == 400
    assert answer.json()["errors"][0]["code"] in (400002, 400003)


async def test_http_is_taken_only_when_configured(
    personas: dict[str, str], app: KolejkaApp
) -> None:
    plain = {**HOOK, "subscription_url": "http://example.pl/"}
    answer = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=plain)
    assert answer.status == 201  # the webhooks conftest allows it


async def test_without_http_allowed_an_http_url_is_refused(tmp_path: Path) -> None:
    components = build(
        webhook_settings(tmp_path / "k.db", webhook_allow_http=0), hasher=FAST_HASHER
    )
    try:
        await components.api_users.add("admin", "secret-pass", ["*"])
        app = create_app(components)
        plain = {**HOOK, "subscription_url": "http://example.pl/"}
        answer = await call(
            app, "POST", "/api/webhooks", auth=basic("admin", "secret-pass"), json_body=plain
        )
        assert_envelope(answer, 400, 400003)
        assert "https" in answer.json()["errors"][0]["message"]
    finally:
        components.close()


async def test_without_a_key_registration_is_503(tmp_path: Path) -> None:
    components = build(webhook_settings(tmp_path / "k.db", webhook_key=""), hasher=FAST_HASHER)
    try:
        await components.api_users.add("admin", "secret-pass", ["*"])
        app = create_app(components)
        answer = await call(
            app, "POST", "/api/webhooks", auth=basic("admin", "secret-pass"), json_body=HOOK
        )
        assert_envelope(answer, 503, 503016)
    finally:
        components.close()


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("GET", "/api/webhooks", "GET webhooks"),
        ("POST", "/api/webhooks", "POST webhooks"),
        ("DELETE", "/api/webhooks/1", "DELETE webhooks/:id"),
        ("GET", "/api/webhooks/1/deliveries", "GET webhooks/:id/deliveries"),
        (
            "POST",
            "/api/webhooks/1/deliveries/1/redeliver",
            "POST webhooks/:id/deliveries/:event_id/redeliver",
        ),
    ],
)
async def test_each_endpoint_needs_its_permission_named_as_thulium_names_it(
    app: KolejkaApp, personas: dict[str, str], method: str, path: str, permission: str
) -> None:
    answer = await call(app, method, path, auth=personas["reader"], json_body=HOOK)
    assert_envelope(answer, 403, 403001)
    assert permission in answer.json()["errors"][0]["message"]
    stranger = await call(app, method, path, auth=personas["stranger"], json_body=HOOK)
    assert stranger.status == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/webhooks/0",
        "/api/webhooks/-1",
        "/api/webhooks/abc",
        "/api/webhooks/99999999999",
        "/api/webhooks/%D9%A3",
    ],
)
async def test_a_bad_id_is_400(app: KolejkaApp, personas: dict[str, str], path: str) -> None:
    answer = await call(app, "DELETE", path, auth=personas["admin"])
    assert_envelope(answer, 400, 400001)


async def test_unknown_query_parameters_are_400(app: KolejkaApp, personas: dict[str, str]) -> None:
    answer = await call(app, "GET", "/api/webhooks?limit=5", auth=personas["admin"])
    assert_envelope(answer, 400, 400003)


async def test_head_answers_like_get_without_a_body(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(app, "HEAD", "/api/webhooks", auth=personas["admin"])
    assert answer.status == 200
    assert answer.body == b""


async def test_concurrent_registrations_each_get_their_own_id(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answers = await asyncio.gather(
        *(
            call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=HOOK)
            for _ in range(8)
        )
    )
    assert {a.status for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 8
    assert len({a.json()["secret"] for a in answers}) == 8


async def test_redelivering_an_event_that_is_not_parked_is_404(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    made = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=HOOK)
    webhook_id = made.json()["id"]
    answer = await call(
        app, "POST", f"/api/webhooks/{webhook_id}/deliveries/5/redeliver", auth=personas["admin"]
    )
    assert_envelope(answer, 404, 404017)


async def test_a_component_set_without_webhooks_routes_still_answers(
    components: Components,
) -> None:
    assert components.webhooks is not None


def test_the_openapi_pattern_of_a_subscription_url_is_the_one_checked() -> None:
    from kolejka.adapters.http.service import openapi_document
    from kolejka.domain.webhooks import URL_PATTERN

    schema = openapi_document()["components"]["schemas"]["WebhookInput"]
    assert schema["properties"]["subscription_url"]["pattern"] == URL_PATTERN


async def test_a_batch_writes_customer_created_for_exactly_the_customers_it_added(
    app: KolejkaApp, personas: dict[str, str], database_path: Path
) -> None:
    hook = {"actions": ["CUSTOMER_CREATED"], "subscription_url": "https://example.pl/hook"}
    registered = await call(app, "POST", "/api/webhooks", auth=personas["admin"], json_body=hook)
    assert registered.status == 201
    await call(
        app, "POST", "/api/customers", auth=personas["admin"],
        json_body={"surname": "Taken", "identifier": "K-1"},
    )  # fmt: skip
    answer = await call(
        app, "POST", "/api/batch/customers", auth=personas["admin"],
        json_body=[
            {"surname": "A"}, {"name": "no surname"}, {"surname": "B", "identifier": "K-1"},
            {"surname": "C"},
        ],
    )  # fmt: skip
    assert answer.status == 207
    statuses = {index: item["http_status"] for index, item in answer.json().items()}
    assert statuses == {"0": 201, "1": 400, "2": 409, "3": 201}
    added = [answer.json()["0"]["customer_id"], answer.json()["3"]["customer_id"]]
    with sqlite3.connect(database_path) as sql:
        rows = sql.execute("SELECT action, body FROM webhook_events ORDER BY event_id").fetchall()
    created = [json.loads(body)["customer_id"] for _, body in rows[1:]]
    assert [action for action, _ in rows] == ["CUSTOMER_CREATED"] * 3
    assert created == added
