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
from kolejka.domain.queues import Departure, WaitingCaller
from kolejka.domain.webhooks import Action, NewEvent, StoredEvent, Subscription
from kolejka.services.ports import DeliveryAttempt, ParkedEvent

T = TypeVar("T")

# The callers' events, which the AMI listener writes for every caller who joins or leaves, are
# stored in typed columns named after their fields (migration 0013), so the listener encodes no
# JSON and formats no instant: delivery renders the wire's body from them once. The columns are in
# the wire's order; a field an action lacks is NULL. Other actions' fields are JSON in `body`.
CALLER_COLUMNS = (
    "queue_id",
    "call_id",
    "phone_number",
    "caller_name",
    "outcome",
    "started_at",
    "waited",
)
_INSTANT_COLUMN = CALLER_COLUMNS.index("started_at")

INSERT_EVENT = "INSERT INTO webhook_events (action, occurred_at, body) VALUES (?, ?, ?)"
# A relayed event (from the Redis stream): once, however often the relay meets it. The WHERE
# names the partial unique index (migration 0012); PostgreSQL's full one matches it as well.
INSERT_RELAYED = (
    "INSERT INTO webhook_events"  # noqa: S608
    f" (action, occurred_at, body, {', '.join(CALLER_COLUMNS)}, source)"
    f" VALUES (?, ?, ?, {', '.join('?' for _ in CALLER_COLUMNS)}, ?)"
    " ON CONFLICT (source) WHERE source IS NOT NULL DO NOTHING"
)


def _stored_value(value: object) -> object:
    """What JSON cannot write, as the outbox stores it: an instant as ISO 8601 (read back into a
    datetime by `JsonFields`, for the fields named `*_at`)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"an event's field cannot hold {type(value).__name__}")


# One C encoder for every outbox row, made once: `JSONEncoder.encode` builds a new one per call
# (with a dict of the containers seen, against cycles), which was about half of encoding a row
# (callgrind, bench/ami_instructions.py --webhooks). The same output as json.dumps(fields,
# ensure_ascii=False, separators=(",", ":"), default=_stored_value); an event's fields are values
# the domain builds, so no check for cycles is needed.
_ROW_JSON = make_encoder(None, _stored_value, encode_basestring, None, ":", ",", False, False, True)


def row_json(fields: Mapping[str, object]) -> str:
    """An event's fields as the outbox stores them: compact JSON, non-ASCII as is."""
    return "".join(_ROW_JSON(fields if type(fields) is dict else dict(fields), 0))


def _caller_insert(action: Action, columns: Sequence[str]) -> str:
    """The statement that adds a caller's event: its fields each in its column and only those (a
    column left out is NULL without a parameter: sqlite3 binds None through a failed adapter
    lookup), the action written in (a constant, one parameter fewer)."""
    assert set(columns) <= set(CALLER_COLUMNS)
    assert action.isidentifier()
    return (
        f"INSERT INTO webhook_events (action, occurred_at, {', '.join(columns)})"  # noqa: S608
        f" VALUES ('{action}', ?, {', '.join('?' for _ in columns)})"
    )


# The fields of each caller's event, in the order `event_insert` gives their values.
CALLER_FIELDS = {
    Action.CALLER_JOINED: ("queue_id", "call_id", "phone_number", "caller_name", "started_at"),
    Action.CALLER_LEFT: ("queue_id", "call_id", "phone_number", "outcome", "started_at", "waited"),
}
_JOINED, _LEFT = Action.CALLER_JOINED, Action.CALLER_LEFT
INSERT_JOINED = _caller_insert(_JOINED, CALLER_FIELDS[_JOINED])
INSERT_LEFT = _caller_insert(_LEFT, CALLER_FIELDS[_LEFT])


def joined_row(caller: WaitingCaller, started_micros: int) -> tuple[object, ...]:
    """INSERT_JOINED's values for `caller`'s join (`caller_joined`), straight from the caller:
    for a store that writes the event with the join on the AMI listener's path, which converted
    the start to microseconds already. `event_insert` of `caller_joined(caller)` gives the same
    (a contract test compares them)."""
    return (
        started_micros,
        caller.queue_id,
        caller.call_id,
        caller.phone_number,
        caller.caller_name,
        started_micros,
    )


def left_row(departure: Departure, left_micros: int, started_micros: int) -> tuple[object, ...]:
    """INSERT_LEFT's values for `departure` (`caller_left`), as `joined_row` gives a join's."""
    return (
        left_micros,
        departure.queue_id,
        departure.call_id,
        departure.phone_number,
        str(departure.outcome),  # str() of a StrEnum is its value, cheaper than `.value`
        started_micros,
        int(departure.hold_time.total_seconds()),
    )


def _micros(instant: object) -> int:
    if not isinstance(instant, datetime):
        raise TypeError(f"an instant, not {type(instant).__name__}")
    return to_micros(instant)


def event_insert(event: NewEvent) -> tuple[str, Sequence[object]]:
    """The statement that adds `event` to the outbox, and its values: a caller's event in its
    columns (occurred_at, then CALLER_FIELDS' values), any other with its fields as JSON.

    A field the domain adds to a caller's event and not here is caught by the outbox's contract
    test, which reads every caller's event back whole."""
    action = event.action
    occurred_at = event.occurred_at
    fields = event.fields
    if action is _JOINED:
        micros = to_micros(occurred_at)
        started_at = fields["started_at"]
        return INSERT_JOINED, (
            micros,
            fields["queue_id"],
            fields["call_id"],
            fields["phone_number"],
            fields["caller_name"],
            # A join's start is its occurrence: the same object, converted once.
            micros if started_at is occurred_at else _micros(started_at),
        )
    if action is _LEFT:
        return INSERT_LEFT, (
            to_micros(occurred_at),
            fields["queue_id"],
            fields["call_id"],
            fields["phone_number"],
            fields["outcome"],
            _micros(fields["started_at"]),
            fields["waited"],
        )
    # str() of a StrEnum is its value, without the Python-level property `.value` goes through.
    return INSERT_EVENT, (str(action), to_micros(occurred_at), row_json(fields))


def event_inserts(events: Sequence[NewEvent]) -> list[tuple[str, list[Sequence[object]]]]:
    """`events`' statements and values, consecutive ones of one statement together, in order:
    the outbox numbers events in the order they are added."""
    runs: list[tuple[str, list[Sequence[object]]]] = []
    for statement, values in map(event_insert, events):
        if runs and runs[-1][0] == statement:
            runs[-1][1].append(values)
        else:
            runs.append((statement, [values]))
    return runs


def event_text(event: NewEvent) -> str:
    """An event as one string (the Redis stream's entry), read back by `relayed_row`:
    [action, occurred_at µs, body] as before migration 0013 for an event stored as JSON, and
    [action, occurred_at µs, null, {column: value}] for a caller's event."""
    _, values = event_insert(event)
    names = CALLER_FIELDS.get(event.action)
    if names is not None:
        columns = dict(zip(names, values[1:], strict=True))
        values = [str(event.action), values[0], None, columns]
    return "".join(_ROW_JSON(values, 0))


def relayed_row(text: str | bytes, source: str) -> tuple[object, ...]:
    """INSERT_RELAYED's values for a stream entry (`event_text`)."""
    action, occurred_at, body, *rest = json.loads(text)
    columns: dict[str, object] = rest[0] if rest else {}
    return (
        str(action),
        int(occurred_at),
        body,
        *(columns.get(name) for name in CALLER_COLUMNS),
        source,
    )


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


class StoredFields(Mapping[str, object]):
    """An outbox row's fields, decoded at the first look. Delivery sends most events as the body
    stored at their first rendering and never looks at their fields, and ten subscriptions read
    each event: decoding every row read was about 5% of delivery's time."""

    __slots__ = ("_decoded",)

    def __init__(self) -> None:
        self._decoded: dict[str, object] | None = None

    @property
    def decoded(self) -> bool:
        return self._decoded is not None

    def _decode(self) -> dict[str, object]:
        raise NotImplementedError

    def _fields(self) -> dict[str, object]:
        if self._decoded is None:
            self._decoded = self._decode()
        return self._decoded

    def __getitem__(self, key: str) -> object:
        return self._fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())


class JsonFields(StoredFields):
    """The fields of a row stored as JSON, its `*_at` fields' ISO 8601 strings as datetimes."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _decode(self) -> dict[str, object]:
        fields: dict[str, object] = json.loads(self._text)
        for key, value in fields.items():
            if key.endswith("_at") and isinstance(value, str):
                fields[key] = datetime.fromisoformat(value)
        return fields

    def __repr__(self) -> str:
        return f"JsonFields({self._text!r})"


class ColumnFields(StoredFields):
    """The fields of a caller's event, from its row's CALLER_COLUMNS (NULL: no such field)."""

    __slots__ = ("_values",)

    def __init__(self, values: Sequence[object]) -> None:
        super().__init__()
        self._values = values

    def _decode(self) -> dict[str, object]:
        fields = {
            name: value
            for name, value in zip(CALLER_COLUMNS, self._values, strict=True)
            if value is not None
        }
        started_at = self._values[_INSTANT_COLUMN]
        if isinstance(started_at, int):
            fields["started_at"] = from_micros(started_at)
        return fields

    def __repr__(self) -> str:
        return f"ColumnFields({self._values!r})"


_EVENT_COLUMNS = ("event_id", "action", "occurred_at", "body", "rendered", *CALLER_COLUMNS)
_EVENT = ", ".join(_EVENT_COLUMNS)
_PARKED_EVENT = ", ".join(f"e.{column}" for column in _EVENT_COLUMNS)


def _event(row: tuple[Any, ...]) -> StoredEvent:
    """A row of `_EVENT`'s columns as a StoredEvent."""
    body = row[3]
    rendered = row[4]
    return StoredEvent(
        int(row[0]),
        str(row[1]),
        from_micros(int(row[2])),
        ColumnFields(row[5:]) if body is None else JsonFields(str(body)),
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
            for statement, rows in event_inserts(events):
                await sql.many(statement, rows)

        await self.sql.atomically(append)

    async def relay(self, rows: Sequence[tuple[object, ...]]) -> None:
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
            f"SELECT {_EVENT} FROM webhook_events"  # noqa: S608
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
            f"SELECT {_PARKED_EVENT}, p.parked_at, p.attempts, p.redeliver"  # noqa: S608
            " FROM webhook_parked p"
            " JOIN webhook_events e ON e.event_id = p.event_id"
            " WHERE p.webhook_id = ? ORDER BY p.event_id LIMIT ?",
            webhook_id,
            limit,
        )
        return [
            ParkedEvent(_event(row[:-3]), from_micros(int(row[-3])), int(row[-2]), bool(row[-1]))
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
