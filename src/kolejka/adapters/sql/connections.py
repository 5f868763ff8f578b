"""The call history's SQL, shared by both engines: the columns, a row's values, and a page's query.

The query is built from fixed fragments only; every value a client sent is a bound parameter,
spelt `?` on SQLite and `$1, $2, ...` on PostgreSQL (`Placeholders`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.domain.abandoned import Abandon, AbandonedCalls, Reach
from kolejka.domain.connections import (
    Connection,
    ConnectionQuery,
    Direction,
    DisconnectedBy,
    Disposition,
    count_bound,
    whole_seconds,
)
from kolejka.domain.webhooks import NewEvent
from kolejka.services.ports import HistoryWrite

COLUMNS = (
    "connection_id, queue_id, started_at, src, src_key, dst, direction, disposition,"
    " wait_seconds, talk_seconds, user_login, disconnected_by, transferred_to"
)
WIDTH = 13
ORDER = "ORDER BY started_at DESC, connection_id DESC"


# The departure's columns: those a call that just left its queue may fill. The others keep
# their defaults (an inbound call, no talk, no agent yet), which are what such a row says.
DEPARTURE_COLUMNS = (
    "connection_id, queue_id, started_at, src, src_key, disposition, wait_seconds, disconnected_by"
)
_NO_TALK = timedelta(0)
_INBOUND = Direction.INBOUND  # read once: an Enum member read from its class costs 0.1 µs

# Enum members' `_value_` is a plain attribute; `.value` is a property, which on the AMI
# listener's path (a row per departure) cost more than the tuple around it.


def values(row: Connection) -> tuple[object, ...]:
    return (
        row.connection_id,
        row.queue_id,
        to_micros(row.started_at),
        row.src,
        row.src_key,
        row.dst,
        row.direction._value_,
        row.disposition._value_,
        whole_seconds(row.wait),
        whole_seconds(row.talk),
        row.user_login,
        row.disconnected_by._value_,
        row.transferred_to,
    )


def departure_values(row: Connection) -> tuple[object, ...] | None:
    """`row`'s DEPARTURE_COLUMNS, or None when it fills another column: five values fewer to
    bind for each call the AMI listener records."""
    if (
        row.direction is not _INBOUND
        or row.dst
        or row.user_login
        or row.transferred_to
        or row.talk != _NO_TALK
    ):
        return None
    return (
        row.connection_id,
        row.queue_id,
        to_micros(row.started_at),
        row.src,
        row.src_key,
        row.disposition._value_,
        whole_seconds(row.wait),
        row.disconnected_by._value_,
    )


# A page reads a hundred rows: dict lookups instead of Enum calls halve what decoding costs.
_DIRECTIONS = {member.value: member for member in Direction}
_DISPOSITIONS = {member.value: member for member in Disposition}
_HUNG_UP_BY = {member.value: member for member in DisconnectedBy}


def connection(row: Sequence[Any] | Any) -> Connection:
    return Connection(
        row[0],
        row[1],
        row[3],
        from_micros(row[2]),
        _DISPOSITIONS[row[7]],
        timedelta(seconds=row[8]),
        timedelta(seconds=row[9]),
        row[4],
        row[5],
        _DIRECTIONS[row[6]],
        row[10],
        _HUNG_UP_BY[row[11]],
        row[12],
    )


class Placeholders:
    """Hands out an engine's placeholders while collecting the values they stand for."""

    def __init__(self, numbered: bool) -> None:
        self.numbered = numbered
        self.args: list[object] = []

    def __call__(self, value: object) -> str:
        self.args.append(value)
        return f"${len(self.args)}" if self.numbered else "?"


def where(query: ConnectionQuery, bind: Placeholders) -> str:
    """The WHERE clause of `query` (never empty). Terms on a partially indexed column repeat the
    index's condition, which is how both planners know the partial index applies."""
    terms = ["true"]
    if query.connection_id is not None:
        terms.append(f"connection_id = {bind(query.connection_id)}")
    if query.queue_id is not None:
        terms.append(f"queue_id = {bind(query.queue_id)}")
    if query.date_from is not None:
        terms.append(f"started_at >= {bind(to_micros(query.date_from))}")
    if query.date_to is not None:
        terms.append(f"started_at <= {bind(to_micros(query.date_to))}")
    if query.src_keys is not None:
        numbers = ", ".join(bind(number) for number in query.src_keys)
        terms.append(f"src_key IN ({numbers}) AND src_key <> ''")
    if query.customer_keys is not None:
        src_keys = ", ".join(bind(number) for number in query.customer_keys)
        dst_keys = ", ".join(bind(number) for number in query.customer_keys)
        terms.append(
            f"((src_key IN ({src_keys}) AND src_key <> '')"
            f" OR (dst IN ({dst_keys}) AND dst <> '' AND direction = 'OUTBOUND'))"
        )
    if query.dst_keys is not None:
        numbers = ", ".join(bind(number) for number in query.dst_keys)
        terms.append(f"dst IN ({numbers}) AND dst <> ''")
    if query.user_login is not None:
        terms.append(f"user_login = {bind(query.user_login)} AND user_login <> ''")
    if query.after is not None:
        at, connection_id = query.after
        terms.append(
            f"(started_at, connection_id) < ({bind(to_micros(at))}, {bind(connection_id)})"
        )
    return " AND ".join(terms)


def page_sql(query: ConnectionQuery, numbered: bool) -> tuple[str, list[object]]:
    bind = Placeholders(numbered)
    sql = (
        f"SELECT {COLUMNS} FROM connections WHERE {where(query, bind)} {ORDER}"  # noqa: S608
        f" LIMIT {bind(query.limit)} OFFSET {bind(query.offset)}"
    )
    return sql, bind.args


def count_sql(query: ConnectionQuery, numbered: bool) -> tuple[str, list[object]]:
    """Counts the matching rows, stopping at `count_bound(query)`: a bounded index range."""
    bind = Placeholders(numbered)
    sql = (
        "SELECT COUNT(*) FROM (SELECT 1 FROM connections"  # noqa: S608
        f" WHERE {where(query, bind)} LIMIT {bind(count_bound(query))}) AS bounded"
    )
    return sql, bind.args


def _updates() -> str:
    return ", ".join(
        f"{column.strip()} = excluded.{column.strip()}" for column in COLUMNS.split(",")[1:]
    )


def _marks(count: int, numbered: bool) -> str:
    return ", ".join(f"${n}" if numbered else "?" for n in range(1, count + 1))


# What an INSERT into `connections` does when its call has a row: a write of the row whole
# replaces it; a recorded row replaces only a FAILED one.
SAVED_OVER = f" ON CONFLICT (connection_id) DO UPDATE SET {_updates()}"
RECORDED_OVER = f"{SAVED_OVER} WHERE connections.disposition = 'FAILED'"


def upsert_sql(numbered: bool) -> str:
    """Writes a row whole: a second write of one call replaces what the first said."""
    return (
        f"INSERT INTO connections ({COLUMNS}) VALUES ({_marks(WIDTH, numbered)})"  # noqa: S608
        f"{SAVED_OVER}"
    )


def insert_sql(numbered: bool, columns: str = COLUMNS) -> str:
    """Writes a row unless the call has one: a duplicate departure changes nothing. Only a
    FAILED row (outcome unknown: lost in a gap, or moved to another queue) gives way to the
    call's later departure. With `columns` (DEPARTURE_COLUMNS), the others take their
    defaults, which the update copies too (`excluded` is the row with its defaults)."""
    marks = _marks(columns.count(",") + 1, numbered)
    return (
        f"INSERT INTO connections ({columns}) VALUES ({marks})"  # noqa: S608
        f"{RECORDED_OVER}"
    )


def prune_sql(numbered: bool) -> str:
    """Deletes up to a batch of the oldest rows started before an instant (args: before, batch)."""
    before, batch = ("$1", "$2") if numbered else ("?", "?")
    return (
        "DELETE FROM connections WHERE connection_id IN"  # noqa: S608
        f" (SELECT connection_id FROM connections WHERE started_at < {before}"
        f" ORDER BY started_at LIMIT {batch})"
    )


def answered_waits_sql(numbered: bool) -> str:
    """The waits of a queue's latest answered inbound calls that joined since an instant, newest
    first (args: queue id, since, limit): the wait estimate's sample. It walks connections_by_queue
    backwards from now, so it reads the last hour's calls of one queue and no others."""
    queue, since, limit = ("$1", "$2", "$3") if numbered else ("?", "?", "?")
    return (
        "SELECT wait_seconds FROM connections"  # noqa: S608
        f" WHERE queue_id = {queue} AND started_at >= {since}"
        " AND disposition = 'ANSWERED' AND direction = 'INBOUND'"
        f" {ORDER} LIMIT {limit}"
    )


def abandoned_sql(numbered: bool) -> str:
    """Today's abandons of one queue (args: queue, since, until) not followed by an answered
    inbound call from the same number key in that queue: the queue's index gives the day's
    range, and the index by number each caller's later calls."""
    queue, since, until = ("$1", "$2", "$3") if numbered else ("?", "?", "?")
    return (
        "SELECT c.src_key, c.started_at, c.wait_seconds FROM connections AS c"  # noqa: S608
        f" WHERE c.queue_id = {queue} AND c.started_at >= {since} AND c.started_at <= {until}"
        " AND c.disposition = 'NO ANSWER' AND c.direction = 'INBOUND' AND c.src_key <> ''"
        " AND NOT EXISTS (SELECT 1 FROM connections AS a"
        " WHERE a.src_key = c.src_key AND a.src_key <> '' AND a.started_at > c.started_at"
        " AND a.queue_id = c.queue_id AND a.disposition = 'ANSWERED'"
        " AND a.direction = 'INBOUND')"
    )


def callbacks_answered_sql(numbered: bool) -> str:
    """The latest answered callback (an OUTBOUND row) to each number in one queue over a span
    (args: queue, since, until): few rows, from the partial index of outbound calls. SQLite is
    told which index: without statistics it would take the queue's (every call of the day)."""
    queue, since, until = ("$1", "$2", "$3") if numbered else ("?", "?", "?")
    table = "connections" if numbered else "connections INDEXED BY connections_outbound"
    return (
        f"SELECT dst, MAX(started_at) FROM {table}"  # noqa: S608
        f" WHERE queue_id = {queue} AND started_at >= {since} AND started_at <= {until}"
        " AND direction = 'OUTBOUND' AND disposition = 'ANSWERED'"
        " GROUP BY dst"
    )


def abandoned_calls(abandons: Iterable[Any], callbacks: Iterable[Any]) -> AbandonedCalls:
    return AbandonedCalls(
        tuple(Abandon(row[0], from_micros(row[1]), int(row[2])) for row in abandons),
        tuple(Reach(row[0], from_micros(row[1])) for row in callbacks),
    )


@dataclass(slots=True)
class Statement:
    """One statement of a batch of writes, run for each row of `rows` (asyncpg's `executemany`;
    SQLite's store writes many rows a statement, `database.insert_rows`). With `events`, it has
    one row, and the events go to the outbox only when that row was stored."""

    sql: str
    rows: list[tuple[object, ...]] = field(default_factory=list)
    events: tuple[NewEvent, ...] = ()


# Each engine's statements, made once: a burst of the AMI listener's asks for them.
_STATEMENTS = {
    numbered: (insert_sql(numbered, DEPARTURE_COLUMNS), insert_sql(numbered), upsert_sql(numbered))
    for numbered in (False, True)
}


def statements(writes: Sequence[HistoryWrite], numbered: bool) -> list[Statement]:
    """`writes` as the fewest statements that apply them in order: consecutive writes of one
    kind without events share one (a burst's departures are one)."""
    departure, insert, upsert = _STATEMENTS[numbered]
    batch: list[Statement] = []
    last: Statement | None = None  # the statement rows without events may join
    for write in writes:
        row: tuple[object, ...] | None
        if write.whole:
            sql, row = upsert, values(write.row)
        elif (row := departure_values(write.row)) is not None:
            sql = departure
        else:
            sql, row = insert, values(write.row)
        if write.events:
            batch.append(Statement(sql, [row], write.events))
            last = None
        elif last is not None and last.sql is sql:
            last.rows.append(row)
        else:
            last = Statement(sql, [row])
            batch.append(last)
    return batch
