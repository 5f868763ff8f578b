"""End-to-end fixtures: a real `kolejka serve` in a subprocess, over HTTP or HTTPS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from kolejka.bootstrap import build
from kolejka.settings import Settings
from tests.cli import kolejka as kolejka  # also for the e2e modules that import it from here
from tests.conftest import FAST_HASHER
from tests.support import LiveServer

SEED_USER, SEED_PASSWORD = "api_user", "api_pass"


@pytest.fixture
def seeded_database(database_path: Path) -> Path:
    """Queue 2 and the seed's API user `api_user:api_pass`, made through the CLI."""
    assert kolejka(database_path, "queues", "add", "2", "Obsługa klienta").returncode == 0
    added = kolejka(database_path, "users", "add", SEED_USER, "-p", "*", stdin=SEED_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    return database_path


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    authority.cert_pem.write_to_path(str(paths["ca"]))
    server.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    for blob in server.cert_chain_pems[1:]:
        blob.write_to_path(str(paths["cert"]), append=True)
    server.private_key_pem.write_to_path(str(paths["key"]))
    return paths


@pytest.fixture
def server(seeded_database: Path) -> Iterator[LiveServer]:
    live = LiveServer(seeded_database).start()
    yield live
    live.stop()


@pytest.fixture
def https_server(seeded_database: Path, tls: dict[str, Path]) -> Iterator[LiveServer]:
    live = LiveServer(
        seeded_database,
        args=["--ssl-certfile", str(tls["cert"]), "--ssl-keyfile", str(tls["key"])],
        scheme="https",
    ).start()
    yield live
    live.stop()


def add_customer_directly(database: Path, name: str, surname: str, number: str, cid: int) -> None:
    """Writes to the CRM from this process, as an import would; the server notices by polling."""
    from kolejka.domain.customers import CustomerKind

    components = build(Settings(database_url=f"sqlite:///{database}"), hasher=FAST_HASHER)
    try:
        components.customers.add(
            CustomerKind.PERSON,
            [(number, components.phones.normalise(number))],
            name=name,
            surname=surname,
            customer_id=cid,
            updated_at=asyncio.run(_now(components)),
        )
    finally:
        components.close()


async def _now(components: object) -> datetime:
    return datetime.now(UTC)
