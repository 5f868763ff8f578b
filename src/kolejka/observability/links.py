"""The state of a link to the outside world (the PBX), as `GET /health` reports it.

The listener that owns a link sets its state; the HTTP app only reads it. `detail` is a short,
fixed phrase (never an exception text, which could carry an address or a secret), because
`/health` answers anyone.
"""

from __future__ import annotations

import enum
from datetime import datetime

from kolejka.services.ports import Clock


class LinkStatus(enum.StrEnum):
    CONNECTING = "connecting"  # not yet connected since start, or logging in
    SYNCING = "syncing"  # connected; reading the PBX's queues to reconcile ours with them
    UP = "up"  # connected and reconciled: the waiting lists follow the PBX live
    DOWN = "down"  # not connected; the lists show the last known state


class LinkState:
    """One link's status, since when, and why (when it is not up)."""

    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self.clock = clock
        self.status = LinkStatus.CONNECTING
        self.since: datetime = clock.now()
        self.detail = ""

    @property
    def up(self) -> bool:
        return self.status is LinkStatus.UP

    def set(self, status: LinkStatus, detail: str = "") -> None:
        if status is not self.status:
            self.status = status
            self.since = self.clock.now()
        self.detail = detail

    def as_wire(self) -> dict[str, object]:
        return {
            "state": self.status.value,
            "since": self.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": self.detail,
        }
