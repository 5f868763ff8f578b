"""The seed page's client examples, run unchanged but for the host, against a live HTTPS server."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.client import as_json, request
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.factories import add_person_elsewhere
from tests.support import SHARED, LiveServer, need_tool

SEED_HOST = "your-system-name.thulium.com"
EXPECTED: list[dict[str, object]] = [
    {"phone_number": "+4915110000001", "customer_id": None, "customer_label": None},
    {"phone_number": "613459851", "customer_id": None, "customer_label": None},
    {"phone_number": "746842523", "customer_id": 123, "customer_label": "Jan Kowalski"},
]


def seed_example(prefix: str) -> str:
    """The seed's example that starts with `prefix`, as the documentation prints it."""
    (page,) = (SHARED / "seed").glob("*.txt")
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} example in the seed page")


@pytest.fixture
def live(https_server: LiveServer, tls: dict[str, Path]) -> LiveServer:
    """Queue 2 with three callers, one of them a known customer: the documented situation."""
    import ssl

    database_url = https_server.env["KOLEJKA_DATABASE_URL"]
    add_person_elsewhere(database_url, "Jan", "Kowalski", "746842523", customer_id=123)
    context = ssl.create_default_context(cafile=str(tls["ca"]))
    for call_id, number in [("1", "746842523"), ("2", "613459851"), ("3", "4915110000001")]:
        answer = request(
            https_server.url,
            "POST",
            "/api/queues/2/callers",
            user=(SEED_USER, SEED_PASSWORD),
            body={"call_id": call_id, "phone_number": number},
            context=context,
        )
        assert answer.status == 201, answer.body
        time.sleep(1.05)  # distinct started_at seconds, as in the documented example
    return https_server


def host_of(server: LiveServer) -> str:
    return server.url.removeprefix("https://")


def check_listing(entries: list[dict[str, object]]) -> None:
    assert [{k: e[k] for k in EXPECTED[0]} for e in entries] == EXPECTED
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", str(entry["started_at"]))


def test_the_curl_example_prints_the_waiting_list(live: LiveServer) -> None:
    need_tool("curl")
    command = seed_example("curl ").replace(SEED_HOST, host_of(live))
    done = subprocess.run(shlex.split(command), capture_output=True, timeout=30, check=True)
    import json

    check_listing(json.loads(done.stdout))


def test_the_httpie_example_prints_the_waiting_list(live: LiveServer, tls: dict[str, Path]) -> None:
    command = shlex.split(seed_example("http ").replace(SEED_HOST, host_of(live)))
    command[0] = str(Path(sys.executable).parent / "http")  # HTTPie from the project's venv
    environment = {
        **os.environ,
        "REQUESTS_CA_BUNDLE": str(tls["ca"]),
        "HOME": str(tls["ca"].parent),
    }
    done = subprocess.run(command, capture_output=True, timeout=60, check=True, env=environment)
    import json

    check_listing(json.loads(done.stdout))


def test_the_php_curl_example_prints_the_decoded_list(
    live: LiveServer, tls: dict[str, Path], tmp_path: Path
) -> None:
    php = need_tool("php")
    script = tmp_path / "example.php"
    script.write_text(seed_example("<?php").replace(SEED_HOST, host_of(live)), encoding="utf-8")
    done = subprocess.run(
        [php, "-d", f"curl.cainfo={tls['ca']}", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # print_r(json_decode(...)): an Array of stdClass Objects, newest first.
    output = done.stdout
    assert output.startswith("Array")
    assert output.count("stdClass Object") == 3
    assert re.search(r"\[customer_label\] => Jan Kowalski", output)
    assert re.search(r"\[customer_id\] => 123\b", output)
    assert output.index("+4915110000001") < output.index("613459851") < output.index("746842523")
    assert re.search(r"\[started_at\] => \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", output)


def test_the_php_example_echoes_the_error_body_when_not_200(
    https_server: LiveServer, tls: dict[str, Path], tmp_path: Path
) -> None:
    php = need_tool("php")
    example = seed_example("<?php").replace(SEED_HOST, host_of(https_server))
    script = tmp_path / "wrong.php"
    script.write_text(example.replace("/api/queues/2/", "/api/queues/77/"), encoding="utf-8")
    done = subprocess.run(
        [php, "-d", f"curl.cainfo={tls['ca']}", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    import json

    body = json.loads(done.stdout)
    assert body["errors"][0]["code"] == 404002


def test_the_examples_credentials_are_refused_over_plain_mismatch(live: LiveServer) -> None:
    import ssl

    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    answer = request(
        live.url,
        "GET",
        "/api/queues/2/waiting_list",
        user=(SEED_USER, "wrong"),
        context=unverified,
    )
    assert answer.status == 401
    assert as_json(answer)["errors"][0]["code"] == 401002
