"""Shared fixtures: settings on a temporary SQLite file, the components, the app, personas."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.bootstrap import CallersWrapper, Components, build, create_app
from kolejka.settings import Settings
from tests.support import CANARY, FAST_HASHER, PERSONAS, FrozenClock, basic, unavailable

# No per-example deadline: on a shared 2-core machine a first example that loads phonenumbers'
# metadata (or meets another process's burst) takes 300 ms, and a deadline only makes that a
# "flaky" failure. A test that hangs is ended by pytest-timeout instead.
hypothesis.settings.register_profile("kolejka", deadline=None)
hypothesis.settings.load_profile("kolejka")


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    return tmp_path / "kolejka.db"


@pytest.fixture
def settings(database_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{database_path}")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def callers_wrapper() -> CallersWrapper | None:
    """What wraps the live store in `components`: none, unless a test parametrizes a fault in."""
    return None


@pytest.fixture
def components(
    settings: Settings, clock: FrozenClock, callers_wrapper: CallersWrapper | None
) -> Iterator[Components]:
    built = build(settings, clock=clock, hasher=FAST_HASHER, callers_wrapper=callers_wrapper)
    yield built
    built.close()


@pytest.fixture
async def personas(components: Components) -> dict[str, str]:
    """Authorization header values for an admin, a reader and an ingest-only API user."""
    headers = {}
    for name, permissions in PERSONAS.items():
        await components.api_users.add(name, f"{name}-{CANARY}", permissions)
        headers[name] = basic(name, f"{name}-{CANARY}")
    headers["stranger"] = basic("stranger", "guess")
    return headers


@pytest.fixture
def app(components: Components) -> KolejkaApp:
    return create_app(components)


@pytest.fixture
async def queue_2(components: Components) -> int:
    from kolejka.domain.queues import Queue

    await components.queues.put(Queue(2, "Obsługa klienta"))
    return 2


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("KOLEJKA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    if not _reachable("127.0.0.1", 5432):
        unavailable("PostgreSQL at 127.0.0.1:5432")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("KOLEJKA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if not _reachable("127.0.0.1", 6379):
        unavailable("Redis at 127.0.0.1:6379")
    return url


# Secrets must never reach a log. Every password and secret the tests use contains CANARY; all
# log output of the run (this process's records and every server's log file) is kept and
# searched for it when the run ends. A leak fails the run.
_LEAK_LOG = "kolejka-test-run.log"


def pytest_configure(config: pytest.Config) -> None:
    import logging
    import tempfile

    path = Path(tempfile.gettempdir()) / f"{_LEAK_LOG}.{os.getpid()}"
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(_EverythingFormatter())
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    config.stash[_leak_key] = path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import logging

    path = session.config.stash.get(_leak_key, None)
    if path is None:
        return
    for handler in logging.getLogger().handlers:
        handler.flush()
    base_temp = session.config.stash.get(_base_temp_key, None)
    logs = [path, *(Path(base_temp).rglob("*.log") if base_temp is not None else ())]
    leaks = [str(log) for log in logs if log.exists() and CANARY in log.read_text(errors="replace")]
    if leaks:
        print(f"\nSECRET LEAK: {CANARY!r} appears in {leaks}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_leak_key = pytest.StashKey[Path]()
_base_temp_key = pytest.StashKey[Path]()


@pytest.fixture(scope="session", autouse=True)
def _remember_base_temp(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Where every test's tmp_path lies, for `pytest_sessionfinish` to search its logs."""
    request.config.stash[_base_temp_key] = tmp_path_factory.getbasetemp()


class _EverythingFormatter(logging.Formatter):
    """The message and every attribute of the record: extras and exceptions included."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{super().format(record)} {vars(record)!r}"
