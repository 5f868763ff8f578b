"""What `GET /health` and `/metrics` say about the stores, the change feed and the PBX lease.

`/health` answers anyone, so a check reports fixed words (an engine, up or down, a short phrase)
and never a URL, an address or an error text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from kolejka.observability.links import LinkState
from kolejka.observability.metrics import Family, Sample
from kolejka.services.leadership import Leadership

Report = dict[str, object]


class HealthCheck(Protocol):
    """One part of /health: its name there, and whether it is well."""

    name: str

    async def check(self) -> tuple[bool, Report]: ...


class StoreCheck:
    """A store answers a trivial query within its timeout."""

    def __init__(self, name: str, engine: str, ping: Callable[[], Awaitable[bool]]) -> None:
        self.name = name
        self.engine = engine
        self.ping = ping
        self.up = True

    async def check(self) -> tuple[bool, Report]:
        self.up = await self.ping()
        return self.up, {"engine": self.engine, "state": "up" if self.up else "down"}


class FeedCheck:
    """The change feed to other instances is connected (a local feed always is)."""

    def __init__(self, engine: str, connected: Callable[[], bool]) -> None:
        self.name = "changes"
        self.engine = engine
        self.connected = connected

    async def check(self) -> tuple[bool, Report]:
        up = self.connected()
        return up, {"engine": self.engine, "state": "up" if up else "down"}


class PbxCheck:
    """The PBX link, as its listener reports it, on the instance that holds the AMI lease.

    The others are on standby: well, with nothing to follow until they take the lease.
    """

    def __init__(self, link: LinkState, leadership: Leadership) -> None:
        self.name = link.name
        self.link = link
        self.leadership = leadership

    async def check(self) -> tuple[bool, Report]:
        if not self.leadership.leading:
            return True, {
                "state": "standby",
                "since": self.link.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "detail": "another instance follows the PBX",
            }
        return self.link.up, self.link.as_wire()


class CallbacksCheck:
    """Whether due callbacks can be dialled through the PBX from here: `status()` gives the
    state (`ready`, `waiting` for the link, `denied` by the PBX) and a fixed phrase why. Only
    `denied` is a fault (the AMI user lacks `write = originate`); `waiting` is the PBX link's
    own fault, reported there. Present only where callbacks are dialled over AMI."""

    def __init__(self, status: Callable[[], tuple[str, str]]) -> None:
        self.name = "callbacks"
        self.status = status

    async def check(self) -> tuple[bool, Report]:
        state, detail = self.status()
        return state != "denied", {"state": state, "detail": detail}


async def run_checks(checks: Iterable[HealthCheck]) -> tuple[bool, Report]:
    """Every check at once (each bounded by its store's timeout): (all well, the stores' part)."""
    listed = list(checks)
    results = await asyncio.gather(*(check.check() for check in listed))
    report: Report = {}
    stores: Report = {}
    for check, (_, part) in zip(listed, results, strict=True):
        if isinstance(check, (StoreCheck, FeedCheck)):
            stores[check.name] = part
        else:
            report[check.name] = part
    if stores:
        report["stores"] = stores
    return all(ok for ok, _ in results), report


def store_collector(checks: Iterable[HealthCheck]) -> Callable[[], Awaitable[list[Family]]]:
    """`kolejka_store_up{store=...}`: 1 when the store answered a ping at scrape time."""
    listed = [check for check in checks if isinstance(check, (StoreCheck, FeedCheck))]

    async def collect() -> list[Family]:
        results = await asyncio.gather(*(check.check() for check in listed))
        samples: list[Sample] = [
            ("kolejka_store_up", {"store": check.name, "engine": check.engine}, float(ok))
            for check, (ok, _) in zip(listed, results, strict=True)
        ]
        return [Family("kolejka_store_up", "gauge", "1 when the store answers.", samples)]

    return collect


def pbx_collector(
    link: LinkState, leadership: Leadership | None
) -> Callable[[], Awaitable[list[Family]]]:
    """The PBX link's state (one series per state, 1 for the current one) and the AMI lease."""
    states = ("connecting", "syncing", "up", "down", "standby")

    async def collect() -> list[Family]:
        leading = leadership is None or leadership.leading
        current = link.status.value if leading else "standby"
        families = [
            Family(
                "kolejka_pbx_link_state",
                "gauge",
                "The PBX link's state on this instance: 1 for the current one.",
                [
                    ("kolejka_pbx_link_state", {"state": state}, float(state == current))
                    for state in states
                ],
            ),
            Family(
                "kolejka_pbx_link_up",
                "gauge",
                "1 when this instance follows the PBX live.",
                [("kolejka_pbx_link_up", {}, float(leading and link.up))],
            ),
        ]
        if leadership is not None:
            families.append(
                Family(
                    "kolejka_ami_lease_held",
                    "gauge",
                    "1 when this instance holds the AMI lease (runs the listener).",
                    [("kolejka_ami_lease_held", {}, float(leadership.leading))],
                )
            )
        return families

    return collect
