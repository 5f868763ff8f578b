"""A batch of 1,000 customers does not hold up the waiting list (issue 10, item 1).

The batch is checked, written and shown while the event loop keeps answering: a read of the
waiting list sent meanwhile is answered in a turn, not when the batch is done. The assertion is
about order, not milliseconds, so a loaded machine cannot make it pass or fail by chance: a
reader keeps reading, one request after another, while the batch is in flight, and no read
may take as long as half the batch. While the batch ran in one stretch on the loop, the read
sent as that stretch began waited for all of it.
"""

from __future__ import annotations

import threading
import time

from tests.e2e.client import as_json, request
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.support import Answer, LiveServer

SEED = (SEED_USER, SEED_PASSWORD)
LIST_PATH = "/api/queues/2/waiting_list"


def test_waiting_list_reads_are_answered_while_1000_customers_are_written(
    server: LiveServer,
) -> None:
    assert request(server.url, "GET", LIST_PATH, user=SEED).status == 200  # checks the password
    batch = [
        {
            "identifier": f"K-{i}",
            "surname": f"Kowalski {i}",
            "phone_number": f"+48 61 {i // 1000:03d} {i % 1000:03d}0",
            "email": f"k{i}@example.pl",
        }
        for i in range(1000)
    ]
    posted: list[Answer] = []
    posting = threading.Thread(
        target=lambda: posted.append(
            request(server.url, "POST", "/api/batch/customers", user=SEED, body=batch)
        )
    )
    reads: list[float] = []
    started = time.monotonic()
    posting.start()
    while posting.is_alive():
        sent = time.monotonic()
        assert request(server.url, "GET", LIST_PATH, user=SEED).status == 200
        reads.append(time.monotonic() - sent)
    posting.join()
    batch_seconds = time.monotonic() - started

    assert [answer.status for answer in posted] == [201]
    assert [c["identifier"] for c in as_json(posted[0])] == [f"K-{i}" for i in range(1000)]
    assert len(reads) >= 3, f"{len(reads)} reads in a batch of {batch_seconds:.3f} s"
    assert max(reads) < batch_seconds / 2, (
        f"a read took {max(reads):.3f} s of a batch of {batch_seconds:.3f} s"
    )
