"""Shared pieces of the benchmark scripts: servers under uvicorn, wrk runs, and tables."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CEILING_DIR = ROOT.parent / "shared" / "bench"
UVICORN_FLAGS = ["--no-access-log", "--loop", "uvloop", "--http", "httptools", "--workers", "1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


@contextmanager
def uvicorn(
    target: list[str], env: Mapping[str, str], app_dir: Path | None = None
) -> Iterator[str]:
    """Runs `uvicorn TARGET` with the benchmark flags; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", *target, "--port", str(port), *UVICORN_FLAGS]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    with _serving(command, port, env) as url:
        yield url


@contextmanager
def kolejka_serve(env: Mapping[str, str], *args: str) -> Iterator[str]:
    """`kolejka serve` as operators run it: uvicorn, uvloop, httptools plus kolejka's guards."""
    port = free_port()
    command = [sys.executable, "-m", "kolejka", "serve", "--port", str(port), *args]
    with _serving(command, port, {"KOLEJKA_LOG_LEVEL": "WARNING", **env}) as url:
        yield url


@contextmanager
def _serving(command: list[str], port: int, env: Mapping[str, str]) -> Iterator[str]:
    """Runs a server `command` listening on `port`; yields its base URL, then stops it."""
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.requests_per_second:,.0f} | {self.p50_ms:.2f} | {self.p99_ms:.2f} "
            f"| {self.non_2xx} |"
        )


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def warm_up(url: str, authorization: str) -> None:
    """One request first, so the run measures the steady state, not the first password check."""
    request = urllib.request.Request(url, headers={"Authorization": authorization})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def wrk(url: str, authorization: str, seconds: int, connections: int = 32) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    warm_up(url, authorization)
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: {authorization}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(rps, p50, p99, int(bad.group(1)) if bad else 0)


def ceiling(body: bytes, authorization: str, workdir: Path) -> AbstractContextManager[str]:
    """The shared yardstick serving `body`, under the same server and flags."""
    body_file = workdir / "ceiling-body.json"
    body_file.write_bytes(body)
    return uvicorn(
        ["ceiling:app"],
        {"CEILING_BODY_FILE": str(body_file), "CEILING_AUTH": authorization},
        app_dir=CEILING_DIR,
    )


def against_ceiling(
    env: Mapping[str, str],
    path: str,
    authorization: str,
    workdir: Path,
    seconds: int,
    rounds: int,
    connections: int,
) -> None:
    """`kolejka serve` and the ceiling serving the same bytes take turns under the same wrk
    load, `rounds` times; prints the table and the ratio app/ceiling per round."""
    with kolejka_serve(env) as url:
        request = urllib.request.Request(url + path, headers={"Authorization": authorization})
        with urllib.request.urlopen(request) as response:
            body = response.read()
    print(f"body: {len(body):,} bytes")
    rows, ratios = [], []
    for round_number in range(1, rounds + 1):
        with ceiling(body, authorization, workdir) as url:
            top = wrk(url + path, authorization, seconds, connections)
        with kolejka_serve(env) as url:
            app = wrk(url + path, authorization, seconds, connections)
        ratios.append(app.requests_per_second / top.requests_per_second)
        rows += [
            top.row(f"ceiling, round {round_number}"),
            app.row(f"kolejka, round {round_number}"),
        ]
        assert app.non_2xx == 0, "kolejka answered errors under load"
    print("| server | requests/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print(
        f"\nratio kolejka/ceiling per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f} (bar >= 0.5)"
    )


async def paced_gets(
    base: str,
    paths: list[str],
    authorization: str,
    rate: float,
    seconds: float,
    connections: int = 8,
) -> tuple[list[float], int]:
    """Open-loop GETs of `paths` (chosen at random) at `rate`/s over keep-alive connections.

    Each latency counts from when the request was due, not when it was sent, so a server that
    falls behind shows it (no coordinated omission). Returns (latencies in s, non-200 answers).
    """
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.monotonic() + 0.2
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        rng = random.Random()
        while not queue.empty():
            index = queue.get_nowait()
            due = start + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(
                f"GET {rng.choice(paths)} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: {authorization}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.monotonic() - due)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL at `url`, dropped afterwards; yields a URL that uses it."""
    import asyncpg

    schema = f"kolejka_bench_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(url)
    inside = urlunsplit((parts.scheme, parts.netloc, parts.path, f"search_path={schema}", ""))

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE SCHEMA "{schema}"'))
    try:
        yield inside
    finally:
        asyncio.run(run(f'DROP SCHEMA "{schema}" CASCADE'))


def callgrind_instructions(module_args: list[str], out: Path, *valgrind_args: str) -> int:
    """Runs `python -m <module_args>` under callgrind; the instructions it executed (the same
    every run for the same input, whatever else the machine is doing)."""
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            *valgrind_args,
            sys.executable,
            "-m",
            *module_args,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    assert found is not None
    return int(found.group(1))
