"""The in-process change feed: one instance's parts tell each other what changed."""

from __future__ import annotations

import logging

from kolejka.services.ports import Change, Listener

log = logging.getLogger(__name__)


class LocalChangeFeed:
    """Delivers each change to every subscriber of this process, synchronously.

    Several instances need a shared feed (Redis pub/sub, PostgreSQL LISTEN/NOTIFY) in its place.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, change: Change) -> None:
        self.deliver(change)

    def deliver(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("change listener failed", extra={"change": change})
