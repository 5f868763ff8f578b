"""A write on a thread of our own is ours: the data-version watch does not report it as another
process's (Change("all") drops every cached credential), but still reports another process's."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from kolejka.adapters.local.changes import LocalChangeFeed
from kolejka.adapters.sqlite.database import Database
from kolejka.services.ports import Change, Topic


def add_queue(sql: sqlite3.Connection, queue_id: int) -> int:
    sql.execute("INSERT INTO queues (queue_id, name) VALUES (?, 'Q')", (queue_id,))
    return queue_id


async def test_our_own_write_apart_is_not_taken_for_another_processs(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "kolejka.db"))
    db.migrate()
    feed = LocalChangeFeed()
    seen: list[Change] = []
    feed.subscribe(seen.append)
    watch = asyncio.create_task(db.watch(feed, interval=0.01))
    try:
        await asyncio.sleep(0.05)
        assert await db.writing_apart(lambda sql: add_queue(sql, 1)) == 1
        await asyncio.sleep(0.1)
        assert seen == []
        assert db.connection.execute("SELECT queue_id FROM queues").fetchall() == [(1,)]

        other = sqlite3.connect(db.path, isolation_level=None)
        other.execute("INSERT INTO queues (queue_id, name) VALUES (2, 'Q')")
        other.close()
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [Change(Topic.ALL)]
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        db.close()


async def test_a_write_apart_that_fails_leaves_nothing(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "kolejka.db"))
    db.migrate()

    def half(sql: sqlite3.Connection) -> None:
        add_queue(sql, 1)
        add_queue(sql, 1)  # the same id again: refused

    try:
        await db.writing_apart(half)
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("the second insert should have been refused")
    assert db.connection.execute("SELECT count(*) FROM queues").fetchone() == (0,)
    assert await db.writing_apart(lambda sql: add_queue(sql, 3)) == 3  # the connection is free
    db.close()
