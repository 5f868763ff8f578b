"""Test helpers: a frozen clock, personas and customers, an in-process ASGI caller and the error
envelope it should answer with, one polling helper, skipping for a missing service, and a real
server in a subprocess."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from argon2 import PasswordHasher

from kolejka.adapters.http.app import KolejkaApp

ROOT = Path(__file__).resolve().parent.parent
# Part of every password and secret the tests use; the run fails if it shows up in any log.
CANARY = "CANARY-7f3a9"
SHARED = ROOT.parent / "shared"

# Cheap hashes keep the suite fast; production uses argon2-cffi's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

PERSONAS = {
    "admin": ["*"],
    "reader": ["GET queues", "GET queues/:id/waiting_list", "GET queues/:id/waiting_stats"],
    "ingest": ["POST queues/:id/callers", "POST queues/:id/callers/:call_id/leave"],
}

REQUIRE_SERVICES = os.environ.get("KOLEJKA_REQUIRE_SERVICES") == "1"


def unavailable(what: str) -> None:
    """Skips the test because `what` is missing here; under CI (.ci/run) that is a failure."""
    message = f"{what} is not available on this machine; CI runs this test"
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI but missing", pytrace=False)
    pytest.skip(message)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"the {name!r} command")
    assert path is not None
    return path


@dataclass
class FrozenClock:
    instant: datetime = field(default_factory=lambda: datetime(2014, 8, 6, 12, 30, 35, tzinfo=UTC))

    def now(self) -> datetime:
        return self.instant

    def advance(self, seconds: float) -> None:
        self.instant += timedelta(seconds=seconds)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: KolejkaApp,
    method: str,
    path: str,
    *,
    auth: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    json_body: object = None,
    client: str = "127.0.0.1",
    content_type: str | None = "application/json",
) -> Answer:
    """Calls the ASGI app as a server would, without a socket.

    A body goes with `content_type` (JSON unless told; None sends no Content-Type).
    """
    if json_body is not None:
        body = json.dumps(json_body).encode()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body is not None and content_type is not None:
        raw_headers.append((b"content-type", content_type.encode()))
    if auth is not None:
        raw_headers.append((b"authorization", auth.encode()))
    if body is not None:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    raw_path = path.partition("?")[0]
    scope = {
        "type": "http",
        "method": method,
        # As uvicorn gives them: the path percent-decoded, and as sent.
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": path.partition("?")[2].encode(),
        "headers": raw_headers,
        "client": (client, 50000),
    }
    chunks = [body or b""]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {
            "type": "http.request",
            "body": chunks.pop(0) if chunks else b"",
            "more_body": False,
        }

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    answer_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], answer_headers, b"".join(m.get("body", b"") for m in sent[1:]))


def assert_envelope(answer: Answer, status: int, code: int) -> None:
    """One error in Thulium's envelope: status, code, a message, the request id, no traceback."""
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert list(body) == ["request_id", "errors"]
    assert body["request_id"] == answer.headers["x-request-id"]
    assert isinstance(body["request_id"], str)
    assert len(body["errors"]) == 1
    (error,) = body["errors"]
    assert list(error) == ["message", "code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["code"] == code
    assert "Traceback" not in answer.body.decode()


async def eventually(
    check: Callable[[], object], seconds: float = 5.0, step: float = 0.01
) -> float:
    """Polls `check` (sync or async) until it returns something true; returns how long it took.

    An AssertionError from `check` means "not yet". After `seconds` the test fails, naming what
    it waited for and, if `check` asserted, the last assertion's message.
    """
    started = time.monotonic()
    while True:
        failure: AssertionError | None = None
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return time.monotonic() - started
        except AssertionError as error:
            failure = error
        if time.monotonic() - started > seconds:
            detail = f" ({failure})" if failure is not None and str(failure) else ""
            pytest.fail(f"still not true after {seconds} s: {_described(check)}{detail}")
        await asyncio.sleep(step)


def _described(check: Callable[[], object]) -> str:
    """A lambda's source line (what the test waited for), else the function's name."""
    name = getattr(check, "__qualname__", None) or repr(check)
    if name.endswith("<lambda>"):
        with contextlib.suppress(OSError, TypeError):
            return inspect.getsource(check).strip()
    return str(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """`kolejka serve` in its own process, on a real socket."""

    def __init__(
        self,
        database: Path,
        *,
        extra_env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
        scheme: str = "http",
    ) -> None:
        self.port = free_port()
        self.scheme = scheme
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = database.with_suffix(f".{self.port}.log")
        self.env = {
            **os.environ,
            "KOLEJKA_DATABASE_URL": f"sqlite:///{database}",
            "KOLEJKA_PORT": str(self.port),
            "KOLEJKA_CHANGE_POLL_SECONDS": "0.02",
            **(extra_env or {}),
        }
        self.args = args or []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kolejka", "serve", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start in 20 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
