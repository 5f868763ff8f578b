"""A real server on a real socket: restarts lose nothing; the CLI administers users and queues."""

from __future__ import annotations

from pathlib import Path

from tests.cli import kolejka
from tests.e2e.client import as_json, request
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.factories import add_person_elsewhere
from tests.support import LiveServer

SEED = (SEED_USER, SEED_PASSWORD)


def test_a_restart_loses_no_waiting_caller_and_no_customer(seeded_database: Path) -> None:
    database_url = f"sqlite:///{seeded_database}"
    add_person_elsewhere(database_url, "Jan", "Kowalski", "746842523", customer_id=123)
    first = LiveServer(seeded_database).start()
    try:
        joined = request(
            first.url,
            "POST",
            "/api/queues/2/callers",
            user=SEED,
            body={"call_id": "c1", "phone_number": "746842523"},
        )
        assert joined.status == 201
        before = as_json(request(first.url, path="/api/queues/2/waiting_list", user=SEED))
    finally:
        first.stop()

    second = LiveServer(seeded_database).start()
    try:
        after = as_json(request(second.url, path="/api/queues/2/waiting_list", user=SEED))
    finally:
        second.stop()

    assert after == before
    assert after[0]["customer_label"] == "Jan Kowalski"


def test_a_crm_write_by_another_process_reaches_the_running_server(server: LiveServer) -> None:
    request(
        server.url,
        "POST",
        "/api/queues/2/callers",
        user=SEED,
        body={"call_id": "c", "phone_number": "500600700"},
    )
    assert (
        as_json(request(server.url, path="/api/queues/2/waiting_list", user=SEED))[0]["customer_id"]
        is None
    )

    database_url = server.env["KOLEJKA_DATABASE_URL"]
    add_person_elsewhere(database_url, "Ewa", "Lis", "+48 500 600 700", customer_id=321)

    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entry = as_json(request(server.url, path="/api/queues/2/waiting_list", user=SEED))[0]
        if entry["customer_id"] == 321:
            break
        time.sleep(0.02)
    assert entry["customer_label"] == "Ewa Lis"


def test_the_cli_manages_api_users_end_to_end(server: LiveServer) -> None:
    database = Path(server.env["KOLEJKA_DATABASE_URL"].removeprefix("sqlite:///"))
    listing = "/api/queues/2/waiting_list"

    added = kolejka(
        database, "users", "add", "wall", "-p", "GET queues/:id/waiting_list", stdin="pw1\n"
    )
    assert added.returncode == 0, added.stderr
    assert request(server.url, path=listing, user=("wall", "pw1")).status == 200
    assert request(server.url, path="/api/queues", user=("wall", "pw1")).status == 403

    listed = kolejka(database, "users", "list")
    assert "wall\tGET queues/:id/waiting_list" in listed.stdout
    assert "pw1" not in listed.stdout

    assert kolejka(database, "users", "passwd", "wall", stdin="pw2\n").returncode == 0
    assert kolejka(database, "users", "permissions", "wall", "GET queues").returncode == 0
    removed = kolejka(database, "users", "remove", "wall")
    assert removed.returncode == 0
    # The server drops cached credentials within KOLEJKA_AUTH_CACHE_SECONDS of a change made by
    # another process; a fresh credential check sees the removal at once.
    assert request(server.url, path=listing, user=("wall", "pw2")).status == 401


def test_the_cli_refuses_bad_input_with_a_message_not_a_traceback(database_path: Path) -> None:
    bad_permission = kolejka(database_path, "users", "add", "x", "-p", "everything", stdin="pw\n")
    assert bad_permission.returncode == 1
    assert "not a permission" in bad_permission.stderr
    assert "Traceback" not in bad_permission.stderr
    bad_queue = kolejka(database_path, "queues", "add", "abc", "Name")
    assert bad_queue.returncode == 1
    assert "positive integer" in bad_queue.stderr
    missing = kolejka(database_path, "users", "remove", "nobody")
    assert missing.returncode == 1
    assert "no API user" in missing.stderr


def test_the_cli_manages_queues(database_path: Path) -> None:
    assert kolejka(database_path, "queues", "add", "7", "Support").returncode == 0
    assert kolejka(database_path, "queues", "add", "7", "Wsparcie").returncode == 0
    assert kolejka(database_path, "queues", "list").stdout == "7\tWsparcie\n"
    assert kolejka(database_path, "queues", "remove", "7").returncode == 0
    assert kolejka(database_path, "queues", "list").stdout == ""


def test_the_demo_prints_its_url_and_credentials_and_serves_live_data(database_path: Path) -> None:
    demo = LiveServer(database_path, args=["--demo"]).start()
    try:
        import time

        time.sleep(0.3)
        entries = as_json(request(demo.url, path="/api/queues/2/waiting_list", user=SEED))
        companies = as_json(request(demo.url, path="/api/companies", user=SEED))
        shared = as_json(request(demo.url, path="/api/customers?phone_number=602300400", user=SEED))
        log = demo.log()
    finally:
        demo.stop()
    assert f"{demo.url}/api/queues/2/waiting_list" in log
    assert "api_user / api_pass" in log
    assert {
        "phone_number": "746842523",
        "customer_id": 123,
        "customer_label": "Jan Kowalski",
    }.items() <= next(e for e in entries if e["phone_number"] == "746842523").items()
    assert [c["name"] for c in companies] == ["Zieliński Transport Sp. z o.o.", "Kwiaciarnia Róża"]
    # The ambiguous case: a person and a company's card share this number.
    assert sorted(c["company_flag"] for c in shared) == [0, 1]
