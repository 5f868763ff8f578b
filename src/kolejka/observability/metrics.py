"""Metrics in Prometheus' text format: request latency, the waiting lists, the PBX link, stores.

Written here rather than with prometheus_client: the request histogram sits on the hot path
(a wallboard poll costs the server tens of microseconds), and observing into it is a bisect and
two additions without a lock (one event loop thread writes it). Everything else is read when
Prometheus scrapes, from the live stores and the components' own state.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Sequence

from kolejka.domain.errors import StoreUnavailable
from kolejka.domain.queues import Departure, Joined, WaitingCaller
from kolejka.services.agent_sync import AgentSync
from kolejka.services.history import CallHistory
from kolejka.services.pbx_sync import PbxSync, SyncEvent, Transaction
from kolejka.services.ports import Clock, QueueDirectory, WaitingCallerStore
from kolejka.services.waiting_lists import WaitingLists

# Seconds. The waiting list answers in well under a millisecond from memory; a cold read
# against PostgreSQL and Redis takes a few; the store timeout is 1.5 s.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
TEXT_FORMAT = b"text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[str, dict[str, str], float]
"""(metric name, labels, value)."""


class Histogram:
    """Counts per bucket (not cumulative; rendering adds them up), a sum and a count."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def samples(self, name: str, labels: dict[str, str]) -> Iterable[Sample]:
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            yield f"{name}_bucket", {**labels, "le": _number(bound)}, running
        running += self.counts[-1]
        yield f"{name}_bucket", {**labels, "le": "+Inf"}, running
        yield f"{name}_sum", labels, self.total
        yield f"{name}_count", labels, running


class Family:
    """One metric's HELP and TYPE lines and its samples."""

    def __init__(self, name: str, kind: str, help: str, samples: Iterable[Sample]) -> None:
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = list(samples)

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for name, labels, value in self.samples:
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


Collector = Callable[[], Awaitable[Iterable[Family]]]


class Metrics:
    """The registry: the request histogram, counters, and collectors read at scrape time."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], Histogram] = {}
        self.counters: dict[tuple[str, str], float] = {}
        self.counter_help: dict[str, tuple[str, str]] = {}  # name -> (help, label name)
        self.collectors: list[Collector] = []
        self.started = time.time()

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """The hot path: one dict lookup, a bisect and two additions (Histogram.observe inlined)."""
        histogram = self.requests.get((route, status))
        if histogram is None:
            histogram = self.requests[(route, status)] = Histogram()
        histogram.counts[bisect_left(histogram.bounds, seconds)] += 1
        histogram.total += seconds

    def count(self, name: str, label: str, amount: float = 1) -> None:
        """Adds to counter `name` (declared with `counter`), labelled by `label`."""
        key = (name, label)
        self.counters[key] = self.counters.get(key, 0) + amount

    def counter(self, name: str, help: str, label: str) -> None:
        self.counter_help[name] = (help, label)

    async def render(self) -> bytes:
        families = [
            Family(
                "kolejka_http_request_duration_seconds",
                "histogram",
                "Time from a request's arrival to its answer being ready, by route and status.",
                (
                    sample
                    for (route, status), histogram in sorted(self.requests.items())
                    for sample in histogram.samples(
                        "kolejka_http_request_duration_seconds",
                        {"route": route, "status": str(status)},
                    )
                ),
            ),
        ]
        for name, (help, label_name) in sorted(self.counter_help.items()):
            labelled = sorted((k[1], v) for k, v in self.counters.items() if k[0] == name)
            families.append(
                Family(
                    name,
                    "counter",
                    help,
                    ((name, {label_name: label}, value) for label, value in labelled),
                )
            )
        for collect in self.collectors:
            families.extend(await collect())
        families.append(
            Family(
                "kolejka_process_start_time_seconds",
                "gauge",
                "When this instance started, in seconds since 1970.",
                [("kolejka_process_start_time_seconds", {}, self.started)],
            )
        )
        return "".join(family.render() for family in families).encode()


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


# What the components report ------------------------------------------------------------------

EVENTS = "kolejka_waiting_list_events_total"
PBX_EVENTS = "kolejka_pbx_events_total"


class CountingCallers:
    """A WaitingCallerStore that counts the joins and departures applied through it, whatever
    sent them (the AMI listener, the ingest API, the demo)."""

    def __init__(self, store: WaitingCallerStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        metrics.counter(EVENTS, "Callers who joined or left a waiting list here.", "event")

    async def join(self, caller: WaitingCaller, announce: bool = False) -> Joined:
        joined = await self.store.join(caller, announce)
        if joined.created:
            self.metrics.count(EVENTS, "join")
        return joined

    async def find(self, call_id: str) -> WaitingCaller | None:
        return await self.store.find(call_id)

    async def leave(self, departure: Departure, announce: bool = False) -> bool:
        gone = await self.store.leave(departure, announce)
        if gone:
            self.metrics.count(EVENTS, departure.outcome.value)
        return gone

    async def waiting(self, queue_id: int) -> Sequence[tuple[int, WaitingCaller]]:
        return await self.store.waiting(queue_id)


class CountingPbxSync(PbxSync):
    """PbxSync that counts the PBX events applied and those that could not be."""

    def __init__(
        self,
        lists: WaitingLists,
        queues: QueueDirectory,
        callers: WaitingCallerStore,
        clock: Clock,
        metrics: Metrics,
        transaction: Transaction,
        agents: AgentSync | None = None,
        history: CallHistory | None = None,
    ) -> None:
        super().__init__(
            lists, queues, callers, clock, transaction=transaction, agents=agents, history=history
        )
        self.metrics = metrics
        metrics.counter(PBX_EVENTS, "PBX events handled, by whether they applied.", "result")

    async def apply(self, events: Sequence[SyncEvent]) -> int:
        failed = await super().apply(events)
        self.metrics.count(PBX_EVENTS, "applied", len(events) - failed)
        if failed:
            self.metrics.count(PBX_EVENTS, "failed", failed)
        return failed


def waiting_list_collector(
    queues: QueueDirectory, callers: WaitingCallerStore, clock: Clock
) -> Collector:
    """Callers waiting and the longest wait, per queue, read from the live store at scrape time.

    When a store does not answer these are left out (Prometheus then marks them stale) and
    `kolejka_store_up` says why.
    """

    async def collect() -> Iterable[Family]:
        try:
            every = await queues.all()
            now = clock.now()
            counts, longest = [], []
            for queue in every:
                waiting = await callers.waiting(queue.queue_id)
                labels = {"queue": str(queue.queue_id)}
                counts.append(("kolejka_callers_waiting", labels, float(len(waiting))))
                wait = max((c.waited(now).total_seconds() for _, c in waiting), default=0.0)
                longest.append(("kolejka_longest_wait_seconds", labels, wait))
        except StoreUnavailable:
            return []
        return [
            Family("kolejka_callers_waiting", "gauge", "Callers waiting now, per queue.", counts),
            Family(
                "kolejka_longest_wait_seconds",
                "gauge",
                "How long the longest-waiting caller has waited, per queue (0 when none).",
                longest,
            ),
        ]

    return collect


def gauge(name: str, help: str, read: Callable[[], Iterable[Sample]]) -> Collector:
    """A collector of values this process holds (no I/O)."""

    async def collect() -> Iterable[Family]:
        return [Family(name, "gauge", help, read())]

    return collect
