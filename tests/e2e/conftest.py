"""End-to-end fixtures: a real `kolejka serve` in a subprocess, over HTTP or HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.cli import kolejka
from tests.e2e.seed import SEED_PASSWORD, SEED_USER
from tests.support import LiveServer


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
