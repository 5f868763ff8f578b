"""ports.ApiUserStore, on every database engine."""

from __future__ import annotations

from kolejka.services.ports import StoredApiUser
from tests.contract.stores import SqlStores


async def test_an_unknown_user_is_none(sql: SqlStores) -> None:
    assert await sql.users.get("nobody") is None


async def test_a_user_put_comes_back_with_hash_and_permissions(sql: SqlStores) -> None:
    user = StoredApiUser("wallboard", "$argon2id$x", ("GET queues/:id/waiting_list", "GET queues"))
    await sql.users.put(user)
    assert await sql.users.get("wallboard") == user


async def test_putting_a_user_again_replaces_hash_and_permissions(sql: SqlStores) -> None:
    await sql.users.put(StoredApiUser("a", "h1", ("*",)))
    await sql.users.put(StoredApiUser("a", "h2", ()))
    assert await sql.users.get("a") == StoredApiUser("a", "h2", ())


async def test_users_are_listed_by_name_bytewise(sql: SqlStores) -> None:
    for name in ["zosia", "Zenon", "ala", "Łucja", "Adam"]:
        await sql.users.put(StoredApiUser(name, "h", ()))
    names = [user.username for user in await sql.users.all()]
    assert names == ["Adam", "Zenon", "ala", "zosia", "Łucja"]


async def test_removing_a_user_says_whether_it_existed(sql: SqlStores) -> None:
    await sql.users.put(StoredApiUser("a", "h", ()))
    assert await sql.users.remove("a") is True
    assert await sql.users.remove("a") is False
    assert await sql.users.all() == []
