"""Benchmark: the HTTP clients webhook delivery could use, requests a second.

`--subscriptions` tasks each POST a webhook-sized body `--requests` times, one request at a time
over a kept-alive connection (as delivery sends one subscription's events, in order), to a
receiver in another process that answers 200 at once, each on uvloop as delivery runs. Measured
for httpx, httpcore (httpx's engine, with its public `network_backend`), aiohttp, bare pycurl on
pycurl's AsyncCurlMulti (libcurl, which delivery used before), and delivery's own `HttpPoster`
(adapters/webhooks/http1.py, with its address check, answer cap and headers), which delivery
uses: the cheapest.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.webhook_clients
        [--subscriptions 10] [--requests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpcore
import httpx
import pycurl
import uvloop

from bench.webhooks import Receivers
from kolejka.adapters.webhooks.http1 import HttpPoster

BODY = (
    b'{"action":"CALLER_JOINED","queue_id":2,"call_id":"1795800000.1234",'
    b'"phone_number":"613459851","caller_name":"","started_at":"2026-12-01 06:00:00",'
    b'"customer_id":null,"customer_label":null,"date":"2026-12-01 06:00:00","event_id":1234}'
)
HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "kolejka-webhooks",
    "X-Kolejka-Signature": "t=1795800000,v1=" + "0" * 64,
    "X-Kolejka-Event-Id": "1234",
}

Sender = Callable[[str], Awaitable[None]]


async def with_httpx(urls: list[str], count: int) -> float:
    async with httpx.AsyncClient(trust_env=False) as client:

        async def send(url: str) -> None:
            for _ in range(count):
                async with client.stream("POST", url, content=BODY, headers=HEADERS) as answer:
                    async for _chunk in answer.aiter_raw():
                        pass

        return await _timed(send, urls, count)


async def with_httpcore(urls: list[str], count: int) -> float:
    headers = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
    async with httpcore.AsyncConnectionPool(
        max_connections=100, network_backend=httpcore.AnyIOBackend()
    ) as pool:

        async def send(url: str) -> None:
            for _ in range(count):
                async with pool.stream("POST", url, content=BODY, headers=headers) as answer:
                    async for _chunk in answer.aiter_stream():
                        pass

        return await _timed(send, urls, count)


async def with_aiohttp(urls: list[str], count: int) -> float:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(url: str) -> None:
            for _ in range(count):
                async with session.post(
                    url, data=BODY, headers=HEADERS, allow_redirects=False
                ) as answer:
                    await answer.content.read(65536)

        return await _timed(send, urls, count)


async def with_kolejka(urls: list[str], count: int) -> float:
    poster = HttpPoster(timeout_seconds=10.0, max_response_bytes=65536, allow_private=True)
    headers = [f"{k}: {v}" for k, v in HEADERS.items() if k != "User-Agent"]
    try:

        async def send(url: str) -> None:
            for _ in range(count):
                await poster.post(url, headers, BODY)

        return await _timed(send, urls, count)
    finally:
        await poster.close()


# The client's CPU time per request, beside the wall-clock rate: on a machine shared with other
# work the rate follows the load, the CPU cost much less.
CPU_PER_REQUEST: dict[str, list[float]] = {}


async def with_pycurl_async_multi(urls: list[str], count: int) -> float:
    """Bare pycurl on AsyncCurlMulti: one handle per subscription, no callbacks of its own."""
    headers = [f"{k}: {v}" for k, v in HEADERS.items()] + ["Accept:", "Expect:"]
    async with pycurl.AsyncCurlMulti() as multi:

        async def send(url: str) -> None:
            curl = pycurl.Curl()
            curl.setopt(pycurl.URL, url)
            curl.setopt(pycurl.HTTPHEADER, headers)
            curl.setopt(pycurl.WRITEFUNCTION, lambda chunk: None)
            for _ in range(count):
                curl.setopt(pycurl.POSTFIELDS, BODY)
                await multi.perform(curl)
            curl.close()

        return await _timed(send, urls, count)


async def _timed(send: Sender, urls: list[str], count: int) -> float:
    started = time.perf_counter()
    cpu = time.process_time()
    await asyncio.gather(*(send(url) for url in urls))
    requests = len(urls) * count
    name = send.__qualname__.split(".")[0].removeprefix("with_")
    CPU_PER_REQUEST.setdefault(name, []).append((time.process_time() - cpu) / requests * 1e6)
    return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=10)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    clients = {
        "httpx": with_httpx,
        "httpcore": with_httpcore,
        "aiohttp": with_aiohttp,
        "kolejka": with_kolejka,
        "pycurl_async_multi": with_pycurl_async_multi,
    }
    rates: dict[str, list[float]] = {name: [] for name in clients}
    with (
        tempfile.TemporaryDirectory() as folder,
        Receivers(args.subscriptions, Path(folder)) as receivers,
    ):
        for _ in range(args.rounds):
            for name, client in clients.items():
                rate = uvloop.run(client(receivers.urls(), args.requests))
                rates[name].append(rate)
        receivers.arrived()
    for name, found in rates.items():
        listed = ", ".join(f"{r:,.0f}" for r in found)
        cpu = statistics.median(CPU_PER_REQUEST[name])
        print(
            f"{name}: {listed} requests/s (median {statistics.median(found):,.0f}); "
            f"{cpu:.0f} µs of the client's CPU a request (median)"
        )


if __name__ == "__main__":
    main()
