"""`kolejka history export`: the calls of a period in one file, run as the real command."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from kolejka.bootstrap import build
from kolejka.domain.queues import Outcome, Queue
from kolejka.services.history import EXPORT_BATCH
from kolejka.settings import Settings
from tests.cli import kolejka
from tests.support import FAST_HASHER, FrozenClock

# 2014-08-06 14:30:35 in Warsaw; every call waits 10 s and the next joins 10 s later.
START = datetime(2014, 8, 6, 12, 30, 35, tzinfo=UTC)


def record(database: Path, calls: list[tuple[str, int, str, Outcome]]) -> None:
    """(call id, queue id, number, outcome), one after another, through the waiting lists."""
    clock = FrozenClock(START)
    components = build(Settings(database_url=f"sqlite:///{database}"), clock, FAST_HASHER)

    async def run() -> None:
        for queue_id in (2, 3):
            await components.queues.put(Queue(queue_id, f"Q{queue_id}"))
        for call_id, queue_id, number, outcome in calls:
            await components.lists.join(queue_id, call_id, number)
            clock.advance(10)
            await components.lists.leave(call_id, outcome)
        await components.history.flush()  # as a clean stop does

    try:
        asyncio.run(run())
    finally:
        components.close()


def test_a_csv_export_has_the_apis_fields_newest_first_and_neutralised_formulas(
    tmp_path: Path,
) -> None:
    database = tmp_path / "kolejka.db"
    record(
        database,
        [
            ("c1", 2, "613459851", Outcome.ANSWERED),
            ("c2", 3, "746842523", Outcome.ABANDONED),
            ("c3", 2, "=HYPERLINK(1)", Outcome.ABANDONED),
        ],
    )
    out = tmp_path / "calls.csv"
    done = kolejka(
        database, "history", "export", "--from", "2014-08-06", "--to", "2014-08-06", "--queue",
        "2", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "exported 2 calls" in done.stderr
    with out.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["connection_id"], r["date"], r["src"], r["disposition"]) for r in rows] == [
        ("c3", "2014-08-06 14:30:55", "'=HYPERLINK(1)", "NO ANSWER"),
        ("c1", "2014-08-06 14:30:35", "613459851", "ANSWERED"),
    ]
    assert (rows[1]["duration"], rows[1]["billsec"], rows[1]["customer_id"]) == ("10", "0", "")
    assert list(rows[0]) == [
        "connection_id", "date", "src", "dst", "type", "disposition", "duration", "billsec",
        "user", "user_login", "queue_id", "topic_id", "customer_id", "tags", "disconnected_by",
        "transferred_to", "operator", "filename",
    ]  # fmt: skip


def test_a_jsonl_export_of_more_than_a_batch_is_whole_and_in_order(tmp_path: Path) -> None:
    database = tmp_path / "kolejka.db"
    count = EXPORT_BATCH * 2 + 5
    record(database, [(f"c{i:05d}", 2, "613459851", Outcome.ANSWERED) for i in range(count)])
    done = kolejka(
        database, "history", "export", "--from", "2014-08-06 14:30", "--to", "2014-08-07",
        "--format", "jsonl",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["connection_id"] for row in rows] == [f"c{i:05d}" for i in reversed(range(count))]
    assert rows[0]["type"] == "INBOUND"
    # Progress runs back from --to; the oldest call is 90% of the way back to --from.
    assert "exported 90% of the period" in done.stderr


def test_bad_dates_and_queues_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    database = tmp_path / "kolejka.db"
    record(database, [])
    for args in (
        ("--from", "yesterday", "--to", "2014-08-06"),
        ("--from", "2014-08-07", "--to", "2014-08-06"),
    ):
        done = kolejka(database, "history", "export", *args)
        assert done.returncode == 2
        assert done.stdout == ""
    done = kolejka(database, "history", "export", "--from", "2014-08-06", "--to", "2014-08-06",
                   "--queue", "abc")  # fmt: skip
    assert done.returncode == 2
    assert "not a queue id" in done.stderr
