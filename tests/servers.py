"""PostgreSQL and Redis for tests: a fresh schema or key prefix per test, and private servers.

The shared servers (127.0.0.1:5432, :6379) serve every engineer's tests at once, so a test
gets a schema of its own in the `test` database, or a Redis key prefix of its own, and removes
it afterwards. Tests that stop a server start a private one on a free port (`PrivateRedis`,
`PrivatePostgres`) and stop that, never the shared ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from tests.support import free_port


def unique_name(kind: str) -> str:
    return f"kolejka_{kind}_{uuid.uuid4().hex[:12]}"


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"search_path={schema}", ""))


@asynccontextmanager
async def fresh_schema(postgres_url: str) -> AsyncIterator[str]:
    """A new, empty schema; yields the database URL that uses it. Dropped afterwards."""
    schema = unique_name("test")
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await connection.close()
    try:
        yield with_schema(postgres_url, schema)
    finally:
        connection = await asyncpg.connect(postgres_url)
        try:
            await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await connection.close()


async def drop_prefix(redis_url: str, prefix: str) -> None:
    """Deletes every key of a test's prefix (`{prefix}:...`)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match="{" + prefix + "}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class PrivateRedis:
    """A redis-server of a test's own, on a free port, that the test may stop and start.

    It keeps an append-only file, as a production Redis holding waiting lists should
    (docs/operations.md), so a restart loses nothing; or, `persistent=False`, it keeps nothing,
    like the machine's own (and CI's) Redis.
    """

    def __init__(self, redis_server: str, folder: Path, persistent: bool = True) -> None:
        self.redis_server = redis_server
        self.folder = folder
        self.persistent = persistent
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                self.redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
            self.process.wait(10)
        self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of a test session's own (initdb), on a free port, stoppable at will.

    The machine's cluster runs as the `postgres` user; so does this one when we are root.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="kolejka-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        )
        return self

    def start(self) -> PrivatePostgres:
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
            )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are (Debian keeps them out of PATH)."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def wait_for_port(port: int, seconds: float = 10) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")
