"""Operating several instances: /health per store, JSON logs, and no secret anywhere."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kolejka.adapters.urls import redacted
from tests.e2e.client import as_json
from tests.multi.deployment import Deployment, call
from tests.servers import with_schema

pytestmark = [pytest.mark.slow, pytest.mark.needs_postgres, pytest.mark.needs_redis]

PASSWORD = "Sekret-PW-7781"


def test_urls_are_shown_without_password_or_query() -> None:
    assert (
        redacted("postgresql://kolejka:" + PASSWORD + "@db:5432/kolejka?password=x")
        == "postgresql://kolejka:***@db:5432/kolejka"
    )
    assert redacted("redis://:" + PASSWORD + "@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redacted("redis://cache:6379/0") == "redis://cache:6379/0"


async def test_health_reports_each_store_and_nothing_shows_the_database_password(
    deployment: Deployment, tmp_path: Path
) -> None:
    schema = deployment.database_url.partition("search_path=")[2]
    # PostgreSQL here trusts local connections, so any password is accepted: a fine secret.
    with_password = with_schema(
        deployment.database_url.replace("postgres@", f"postgres:{PASSWORD}@"), schema
    )
    (server,) = await deployment.start(
        1, KOLEJKA_DATABASE_URL=with_password, KOLEJKA_LOG_FORMAT="json"
    )
    health = await call(server, "GET", "/health")
    for _ in range(50):  # the change feed subscribes just after the server starts listening
        if as_json(health)["status"] == "ok":
            break
        await asyncio.sleep(0.1)
        health = await call(server, "GET", "/health")
    assert health.status == 200
    assert as_json(health) == {
        "status": "ok",
        "stores": {
            "database": {"engine": "postgresql", "state": "up"},
            "live": {"engine": "redis", "state": "up"},
            "changes": {"engine": "redis", "state": "up"},
        },
    }
    metrics = await call(server, "GET", "/metrics")
    assert 'kolejka_store_up{store="database",engine="postgresql"} 1' in metrics.body.decode()
    await call(server, "GET", "/api/queues/99/waiting_list")
    await asyncio.to_thread(server.stop)
    log = server.log()
    for answer in (health, metrics):
        assert PASSWORD.encode() not in answer.body
    assert PASSWORD not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines, log
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("subscribed" in line["message"] for line in lines)
