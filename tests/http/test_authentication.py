"""HTTP Basic API users with per-method permissions, as personas."""

from __future__ import annotations

from typing import Literal

import pytest
from argon2 import PasswordHasher

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import Components
from kolejka.services import wallboard_tokens
from kolejka.services.auth import Authenticator, parse_basic
from kolejka.services.wallboard_tokens import WallboardTokens
from tests.support import FAST_HASHER, assert_envelope, basic, call

pytestmark = pytest.mark.usefixtures("queue_2")
LIST = "/api/queues/2/waiting_list"


async def test_missing_credentials_are_401_with_a_basic_challenge(app: KolejkaApp) -> None:
    answer = await call(app, "GET", LIST)
    assert_envelope(answer, 401, 401001)
    assert answer.headers["www-authenticate"].startswith("Basic ")


@pytest.mark.parametrize(
    "header",
    [
        basic("stranger", "guess"),
        basic("admin", "wrong"),
        "Basic !!!notbase64",
        "Basic " + "QQ==",  # "A": no colon
        "Bearer abc",
        "Basic",
        "Basic " + "gA==",  # not UTF-8
    ],
)
async def test_wrong_or_malformed_credentials_are_401(
    app: KolejkaApp, personas: dict[str, str], header: str
) -> None:
    answer = await call(app, "GET", LIST, auth=header)
    assert_envelope(answer, 401, 401002)
    assert answer.headers["www-authenticate"].startswith("Basic ")


async def test_two_authorization_headers_are_believed_neither(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    """Found by a black-box attack: the first of two was used, so a request whose proxy reads
    the last one passed here as someone else."""
    right, wrong = personas["admin"], basic("admin", "wrong")
    assert (await call(app, "GET", LIST, auth=right)).status == 200  # now cached, too
    for first, second in ((right, wrong), (wrong, right), (right, right)):
        answer = await call(app, "GET", LIST, auth=second, headers={"Authorization": first})
        assert_envelope(answer, 401, 401002)


async def test_a_wallboard_token_opens_no_json_route(
    app: KolejkaApp, components: Components
) -> None:
    token = await WallboardTokens(components.api_users).create("hall")
    header = wallboard_tokens.credentials(token)
    assert header is not None
    assert await components.authenticator.authenticate(header) is not None  # a good token

    answer = await call(app, "GET", f"{LIST}?token={token}")

    # Only the event streams take `?token=`: elsewhere it is as if no credentials were sent.
    assert_envelope(answer, 401, 401001)
    assert answer.headers["www-authenticate"] == 'Basic realm="kolejka", charset="UTF-8"'


@pytest.mark.parametrize("header", [None, basic("admin", "wrong")])
async def test_a_stream_route_and_a_json_route_refuse_alike(
    app: KolejkaApp, personas: dict[str, str], header: str | None
) -> None:
    json_route = await call(app, "GET", LIST, auth=header)
    stream = await call(app, "GET", f"{LIST}/stream", auth=header)

    assert stream.status == json_route.status == 401
    assert stream.json()["errors"] == json_route.json()["errors"]
    del stream.headers["x-request-id"], json_route.headers["x-request-id"]
    assert stream.headers == json_route.headers


async def test_a_reader_reads_but_may_not_ingest(app: KolejkaApp, personas: dict[str, str]) -> None:
    assert (await call(app, "GET", LIST, auth=personas["reader"])).status == 200
    answer = await call(
        app, "POST", "/api/queues/2/callers", auth=personas["reader"], json_body={"call_id": "c"}
    )
    assert_envelope(answer, 403, 403001)
    assert "POST queues/:id/callers" in answer.json()["errors"][0]["message"]


async def test_an_ingest_user_ingests_but_may_not_read(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    answer = await call(
        app, "POST", "/api/queues/2/callers", auth=personas["ingest"], json_body={"call_id": "c"}
    )
    assert answer.status == 201
    assert_envelope(await call(app, "GET", LIST, auth=personas["ingest"]), 403, 403001)


async def test_a_user_with_one_method_gets_only_that_method(
    app: KolejkaApp, components: Components
) -> None:
    await components.api_users.add("wall", "pw", ["GET queues/:id/waiting_list"])
    assert (await call(app, "GET", LIST, auth=basic("wall", "pw"))).status == 200
    stats = await call(app, "GET", "/api/queues/2/waiting_stats", auth=basic("wall", "pw"))
    assert stats.status == 403


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting how often it verifies."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        CountingHasher.verified += 1
        return super().verify(hash, password)


async def test_a_verified_credential_is_not_hashed_again(components: Components) -> None:
    hasher = CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    auth = Authenticator(components.api_users.users, components.changes, hasher)
    await components.api_users.add("wall", "pw", ["*"])
    CountingHasher.verified = 0

    for _ in range(5):
        assert await auth.authenticate(basic("wall", "pw").encode()) is not None

    assert CountingHasher.verified == 1


async def test_a_new_password_and_a_removal_take_effect_at_once(
    app: KolejkaApp, components: Components
) -> None:
    await components.api_users.add("wall", "old", ["*"])
    assert (await call(app, "GET", LIST, auth=basic("wall", "old"))).status == 200

    await components.api_users.set_password("wall", "new")
    assert (await call(app, "GET", LIST, auth=basic("wall", "old"))).status == 401
    assert (await call(app, "GET", LIST, auth=basic("wall", "new"))).status == 200

    await components.api_users.set_permissions("wall", ["GET queues"])
    assert (await call(app, "GET", LIST, auth=basic("wall", "new"))).status == 403

    await components.api_users.remove("wall")
    assert (await call(app, "GET", LIST, auth=basic("wall", "new"))).status == 401


async def test_passwords_are_stored_as_argon2_hashes(components: Components) -> None:
    await components.api_users.add("wall", "s3cret", ["*"])
    stored = await components.api_users.users.get("wall")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2")
    assert "s3cret" not in stored.password_hash
    assert FAST_HASHER.verify(stored.password_hash, "s3cret")


def test_basic_credentials_may_contain_colons_in_the_password() -> None:
    assert parse_basic(basic("user", "a:b:c").encode()) == ("user", "a:b:c")


async def test_many_clients_presenting_one_new_credential_pay_one_hash(
    components: Components,
) -> None:
    import asyncio

    hasher = CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    auth = Authenticator(components.api_users.users, components.changes, hasher)
    await components.api_users.add("wall", "pw", ["*"])
    CountingHasher.verified = 0
    header = basic("wall", "pw").encode()

    principals = await asyncio.gather(*(auth.authenticate(header) for _ in range(32)))

    assert all(p is not None and p.username == "wall" for p in principals)
    assert CountingHasher.verified == 1
