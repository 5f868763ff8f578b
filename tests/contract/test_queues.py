"""ports.QueueDirectory, on every database engine."""

from __future__ import annotations

from kolejka.domain.queues import Queue
from tests.contract.stores import SqlStores


async def test_an_unknown_queue_is_none(sql: SqlStores) -> None:
    assert await sql.queues.get(2) is None


async def test_a_queue_put_is_found_by_id_and_listed_in_id_order(sql: SqlStores) -> None:
    await sql.queues.put(Queue(7, "Sprzedaż"))
    await sql.queues.put(Queue(2, "Obsługa klienta"))
    assert await sql.queues.get(2) == Queue(2, "Obsługa klienta")
    assert list(await sql.queues.all()) == [Queue(2, "Obsługa klienta"), Queue(7, "Sprzedaż")]


async def test_putting_a_queue_again_renames_it(sql: SqlStores) -> None:
    await sql.queues.put(Queue(2, "Old"))
    await sql.queues.put(Queue(2, "New"))
    assert list(await sql.queues.all()) == [Queue(2, "New")]


async def test_removing_a_queue_says_whether_it_existed(sql: SqlStores) -> None:
    await sql.queues.put(Queue(2, "Q"))
    assert await sql.queues.remove(2) is True
    assert await sql.queues.remove(2) is False
    assert await sql.queues.get(2) is None


async def test_the_largest_id_fits(sql: SqlStores) -> None:
    await sql.queues.put(Queue(2_147_483_647, "Max"))
    assert await sql.queues.get(2_147_483_647) == Queue(2_147_483_647, "Max")
