"""The webhooks' tables, as both SQL engines hold them (ports.WebhookStore), and the outbox rows
other stores write inside their own transactions.

The store is written once against `Sql`, a few async calls each engine answers on its own
connection: SQLite on the event loop's thread (its calls never give the loop away, so a
transaction is the shared connection's), PostgreSQL on one pooled connection a transaction.
Queries use `?` placeholders; the PostgreSQL runner numbers them.
"""

from __future__ import annotations

import json
from _json import make_encoder
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any, Protocol, TypeVar

from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.domain.webhooks import NewEvent, StoredEvent, Subscription
from kolejka.services.ports import DeliveryAttempt, ParkedEvent

T = TypeVar("T")

INSERT_EVENT = "INSERT INTO webhook_events (action, occurred_at, body) VALUES (?, ?, ?)"
# A relayed event (from the Redis stream): once, however often the relay meets it. The WHERE
# names the partial unique index (migration 0012); PostgreSQL's full one matches it as well.
INSERT_RELAYED = (
    "INSERT INTO webhook_events (action, occurred_at, body, source) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (source) WHERE source IS NOT NULL DO NOTHING"
)


# One C encoder for every outbox row, made once: `JSONEncoder.encode` builds a new one per call
# (with a dict of the containers seen, against cycles), which was about half of encoding a row on
# the AMI listener's path (callgrind, bench/ami_instructions.py --webhooks). The same output as
# json.dumps(fields, ensure_ascii=False, separators=(",", ":")); an event's fields are flat values
# the domain builds, so no check for cycles is needed.
_ROW_JSON = make_encoder(
    None, json.JSONEncoder().default, encode_basestring, None, ":", ",", False, False, True
)


def row_json(fields: Mapping[str, object]) -> str:
    """An event's fields as the outbox stores them: compact JSON, non-ASCII as is."""
    return "".join(_ROW_JSON(fields if type(fields) is dict else dict(fields), 0))


def event_row(event: NewEvent) -> tuple[str, int, str]:
    """The outbox row of an event: (action, occurred_at µs, body as JSON)."""
    # str() of a StrEnum is its value, without the Python-level property `.value` goes through.
    return (str(event.action), to_micros(event.occurred_at), row_json(event.fields))


def event_text(event: NewEvent) -> str:
    """An event as one string (the Redis stream's entry), read back by `relayed_row`."""
    return json.dumps(event_row(event), ensure_ascii=False, separators=(",", ":"))


def relayed_row(text: str | bytes, source: str) -> tuple[str, int, str, str]:
    action, occurred_at, body = json.loads(text)
    return (str(action), int(occurred_at), str(body), source)


class Sql(Protocol):
    async def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]: ...

    async def run(self, query: str, *args: object) -> int:
        """Runs a write; how many rows it touched."""
        ...

    async def many(self, query: str, rows: Sequence[Sequence[object]]) -> None: ...

    async def atomically(self, work: Callable[[Sql], Awaitable[T]]) -> T:
        """`work` in one transaction, with the outbox's turn taken (events commit in id order)."""
        ...


_SUBSCRIPTION = "webhook_id, actions, subscription_url"
_ATTEMPT = "event_id, attempt, at, status, error, outcome"


def _subscription(row: tuple[Any, ...]) -> Subscription:
    return Subscription(int(row[0]), tuple(json.loads(row[1])), str(row[2]))


class JsonFields(Mapping[str, object]):
    """An outbox row's fields, decoded from its JSON at the first look. Delivery sends most
    events as the body stored at their first rendering and never looks at their fields, and ten
    subscriptions read each event: decoding every row read was about 5% of delivery's time."""

    __slots__ = ("_decoded", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._decoded: dict[str, object] | None = None

    @property
    def decoded(self) -> bool:
        return self._decoded is not None

    def _fields(self) -> dict[str, object]:
        if self._decoded is None:
            self._decoded = json.loads(self._text)
        return self._decoded

    def __getitem__(self, key: str) -> object:
        return self._fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())

    def __repr__(self) -> str:
        return f"JsonFields({self._text!r})"


def _event(row: tuple[Any, ...]) -> StoredEvent:
    """(event_id, action, occurred_at, body, rendered) as a StoredEvent."""
    rendered = row[4]
    return StoredEvent(
        int(row[0]),
        str(row[1]),
        from_micros(int(row[2])),
        JsonFields(str(row[3])),
        None if rendered is None else str(rendered),
    )


def _attempt(row: tuple[Any, ...]) -> DeliveryAttempt:
    return DeliveryAttempt(
        int(row[0]), int(row[1]), from_micros(int(row[2])), int(row[3]), str(row[4]), str(row[5])
    )


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


class SqlWebhooks:
    """Satisfies ports.WebhookStore on either SQL engine."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    async def add(
        self, actions: Sequence[str], url: str, sealed: str, created_at: datetime
    ) -> Subscription:
        async def add(sql: Sql) -> Subscription:
            # Under the outbox's turn: no event commits between reading the end and starting.
            rows = await sql.rows(
                "INSERT INTO webhooks (actions, subscription_url, sealed, created_at,"
                " delivered_through) SELECT ?, ?, ?, ?, COALESCE(MAX(event_id), 0)"
                " FROM webhook_events RETURNING webhook_id, actions, subscription_url",
                json.dumps(list(actions)),
                url,
                sealed,
                to_micros(created_at),
            )
            return _subscription(rows[0])

        return await self.sql.atomically(add)

    async def all(self) -> Sequence[Subscription]:
        rows = await self.sql.rows(
            f"SELECT {_SUBSCRIPTION} FROM webhooks ORDER BY webhook_id"  # noqa: S608
        )
        return [_subscription(row) for row in rows]

    async def get(self, webhook_id: int) -> Subscription | None:
        rows = await self.sql.rows(
            f"SELECT {_SUBSCRIPTION} FROM webhooks WHERE webhook_id = ?",  # noqa: S608
            webhook_id,
        )
        return _subscription(rows[0]) if rows else None

    async def sealed(self, webhook_id: int) -> str | None:
        rows = await self.sql.rows("SELECT sealed FROM webhooks WHERE webhook_id = ?", webhook_id)
        return str(rows[0][0]) if rows else None

    async def remove(self, webhook_id: int) -> bool:
        async def remove(sql: Sql) -> bool:
            await sql.run("DELETE FROM webhook_attempts WHERE webhook_id = ?", webhook_id)
            await sql.run("DELETE FROM webhook_parked WHERE webhook_id = ?", webhook_id)
            return await sql.run("DELETE FROM webhooks WHERE webhook_id = ?", webhook_id) > 0

        return await self.sql.atomically(remove)

    async def append(self, events: Sequence[NewEvent]) -> None:
        if not events:
            return

        async def append(sql: Sql) -> None:
            await sql.many(INSERT_EVENT, [event_row(event) for event in events])

        await self.sql.atomically(append)

    async def relay(self, rows: Sequence[tuple[str, int, str, str]]) -> None:
        """Copies events written elsewhere (the Redis stream) into the outbox, each once."""

        async def relay(sql: Sql) -> None:
            await sql.many(INSERT_RELAYED, rows)

        await self.sql.atomically(relay)

    async def claim(self, webhook_id: int, holder: str, now: datetime, until: datetime) -> bool:
        touched = await self.sql.run(
            "UPDATE webhooks SET holder = ?, held_until = ?"
            " WHERE webhook_id = ? AND (holder = ? OR held_until < ?)",
            holder,
            to_micros(until),
            webhook_id,
            holder,
            to_micros(now),
        )
        return touched > 0

    async def release(self, webhook_id: int, holder: str) -> None:
        await self.sql.run(
            "UPDATE webhooks SET holder = '', held_until = 0 WHERE webhook_id = ? AND holder = ?",
            webhook_id,
            holder,
        )

    async def position(self, webhook_id: int) -> int | None:
        rows = await self.sql.rows(
            "SELECT delivered_through FROM webhooks WHERE webhook_id = ?", webhook_id
        )
        return int(rows[0][0]) if rows else None

    async def following(
        self, after: int, actions: Sequence[str], limit: int
    ) -> Sequence[StoredEvent]:
        rows = await self.sql.rows(
            "SELECT event_id, action, occurred_at, body, rendered FROM webhook_events"  # noqa: S608
            f" WHERE event_id > ? AND action IN ({_marks(actions)}) ORDER BY event_id LIMIT ?",
            after,
            *actions,
            limit,
        )
        return [_event(row) for row in rows]

    async def freeze(self, bodies: Sequence[tuple[int, str]]) -> dict[int, str]:
        """Stores each event's rendered body unless one is stored already (another delivery
        rendered it first); the bodies stored now, by event id, which are the ones to send. No
        transaction: a body once stored never changes, so the read after the writes is enough.
        """
        if not bodies:
            return {}
        await self.sql.many(
            "UPDATE webhook_events SET rendered = ? WHERE event_id = ? AND rendered IS NULL",
            [(text, event_id) for event_id, text in bodies],
        )
        ids = [event_id for event_id, _ in bodies]
        rows = await self.sql.rows(
            "SELECT event_id, rendered FROM webhook_events"  # noqa: S608
            f" WHERE event_id IN ({_marks(ids)}) AND rendered IS NOT NULL",
            *ids,
        )
        return {int(row[0]): str(row[1]) for row in rows}

    async def record(
        self, webhook_id: int, holder: str, attempts: Sequence[DeliveryAttempt], advance: bool
    ) -> bool:
        if not attempts:
            return True

        async def record(sql: Sql) -> bool:
            if advance:
                through = max(attempt.event_id for attempt in attempts)
                moved = await sql.run(
                    "UPDATE webhooks SET delivered_through = ?"
                    " WHERE webhook_id = ? AND holder = ? AND delivered_through < ?",
                    through,
                    webhook_id,
                    holder,
                    through,
                )
                if not moved:
                    return False
            await sql.many(
                f"INSERT INTO webhook_attempts (webhook_id, {_ATTEMPT})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        webhook_id,
                        a.event_id,
                        a.attempt,
                        to_micros(a.at),
                        a.status,
                        a.error,
                        a.outcome,
                    )
                    for a in attempts
                ],
            )
            parked = [a for a in attempts if a.outcome == "parked"]
            await sql.many(
                "INSERT INTO webhook_parked (webhook_id, event_id, parked_at, attempts)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (webhook_id, event_id)"
                " DO UPDATE SET parked_at = excluded.parked_at, attempts = excluded.attempts,"
                " redeliver = 0",
                [(webhook_id, a.event_id, to_micros(a.at), a.attempt) for a in parked],
            )
            return True

        return await self.sql.atomically(record)

    async def attempts(self, webhook_id: int, limit: int) -> Sequence[DeliveryAttempt]:
        rows = await self.sql.rows(
            f"SELECT {_ATTEMPT} FROM webhook_attempts WHERE webhook_id = ?"  # noqa: S608
            " ORDER BY attempt_id DESC LIMIT ?",
            webhook_id,
            limit,
        )
        return [_attempt(row) for row in rows]

    async def parked(self, webhook_id: int, limit: int) -> Sequence[ParkedEvent]:
        rows = await self.sql.rows(
            "SELECT e.event_id, e.action, e.occurred_at, e.body, e.rendered, p.parked_at,"
            " p.attempts, p.redeliver FROM webhook_parked p"
            " JOIN webhook_events e ON e.event_id = p.event_id"
            " WHERE p.webhook_id = ? ORDER BY p.event_id LIMIT ?",
            webhook_id,
            limit,
        )
        return [
            ParkedEvent(_event(row[:5]), from_micros(int(row[5])), int(row[6]), bool(row[7]))
            for row in rows
        ]

    async def redeliver(self, webhook_id: int, event_id: int) -> bool:
        touched = await self.sql.run(
            "UPDATE webhook_parked SET redeliver = 1 WHERE webhook_id = ? AND event_id = ?",
            webhook_id,
            event_id,
        )
        return touched > 0

    async def redelivered(self, webhook_id: int, event_id: int) -> None:
        await self.sql.run(
            "DELETE FROM webhook_parked WHERE webhook_id = ? AND event_id = ?",
            webhook_id,
            event_id,
        )

    async def backlog(self, webhook_id: int, actions: Sequence[str]) -> int:
        rows = await self.sql.rows(
            "SELECT COUNT(*) FROM webhook_events e JOIN webhooks w ON w.webhook_id = ?"  # noqa: S608
            f" WHERE e.event_id > w.delivered_through AND e.action IN ({_marks(actions)})",
            webhook_id,
            *actions,
        )
        return int(rows[0][0])

    async def prune(self, keep_attempts: int = 1000) -> int:
        for subscription in await self.all():
            oldest_kept = await self.sql.rows(
                "SELECT attempt_id FROM webhook_attempts WHERE webhook_id = ?"
                " ORDER BY attempt_id DESC LIMIT 1 OFFSET ?",
                subscription.webhook_id,
                keep_attempts - 1,
            )
            if oldest_kept:
                await self.sql.run(
                    "DELETE FROM webhook_attempts WHERE webhook_id = ? AND attempt_id < ?",
                    subscription.webhook_id,
                    oldest_kept[0][0],
                )
        # The newest event always stays: SQLite numbers a row one past the largest left, and a
        # number must never come round again under a subscription's cursor.
        return await self.sql.run(
            "DELETE FROM webhook_events WHERE event_id <= (SELECT COALESCE(MIN(delivered_through),"
            " (SELECT MAX(event_id) FROM webhook_events)) FROM webhooks)"
            " AND event_id < (SELECT MAX(event_id) FROM webhook_events)"
            " AND event_id NOT IN (SELECT event_id FROM webhook_parked)"
        )
