"""What every change feed shared between instances does, whichever server carries it.

A change is delivered to this process first, synchronously, before it is sent to the others: the
instance that made a change answers its very next request from fresh data. Other instances get
it through the server (Redis pub/sub, PostgreSQL NOTIFY) and skip their own messages.

While the link to the server is down this instance cannot hear the others, so it forgets all it
keeps (`Change(Topic.ALL)`) when the link drops and again once it is back; a change it could not
send is made up for with a `Change(Topic.ALL)` to everyone as soon as it can send again.
"""

from __future__ import annotations

import asyncio
import logging
import os

from kolejka.adapters.local.changes import LocalChangeFeed
from kolejka.services.ports import Change, Listener, Topic

log = logging.getLogger(__name__)

ALL = Change(Topic.ALL)


def encode(origin: str, change: Change) -> str:
    queue = "" if change.queue_id is None else str(change.queue_id)
    return f"{origin} {change.topic} {queue}"


def decode(message: str) -> tuple[str, Change] | None:
    """(origin, change), or None for a message that is not one of ours."""
    parts = message.split(" ")
    if len(parts) != 3:
        return None
    origin, word, queue = parts
    if queue and not queue.isdigit():
        return None
    try:
        topic = Topic(word)
    except ValueError:  # a topic nobody here knows
        return None
    return origin, Change(topic, int(queue) if queue else None)


def new_origin() -> str:
    """This process's name on the feed: unique across instances and restarts."""
    return os.urandom(8).hex()


class SharedFeed:
    """The local half of a shared change feed; subclasses carry changes to other instances."""

    server = "the server"  # named in the log when the link drops

    def __init__(self, origin: str | None = None) -> None:
        self.origin = origin or new_origin()
        self.local = LocalChangeFeed()
        self.connected = False
        self.owed = False  # a change we could not send: everyone must forget everything

    def subscribe(self, listener: Listener) -> None:
        self.local.subscribe(listener)

    async def publish(self, change: Change) -> None:
        self.local.deliver(change)
        if self.owed:
            change = ALL
        try:
            await self.send(encode(self.origin, change))
        except Exception:
            # The write this change follows has landed; failing the request would not undo it.
            if not self.owed:
                log.warning("could not tell other instances of a change; will when back")
            self.owed = True
        else:
            self.owed = False

    async def send(self, message: str) -> None:
        raise NotImplementedError

    async def listen(self) -> None:
        """Hears other instances' messages (`heard`) until the link fails."""
        raise NotImplementedError

    async def run(self) -> None:
        """Listens for other instances' changes until cancelled, reconnecting with backoff."""
        backoff = 0.05
        while True:
            try:
                await self.listen()
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                if self.connected:
                    reason = type(failure).__name__
                    log.warning("change feed: lost %s (%s); reconnecting", self.server, reason)
                backoff = 0.05 if self.connected else min(backoff * 2, 1.0)
            finally:
                self.unlinked()
            await asyncio.sleep(backoff)

    def heard(self, message: str) -> None:
        decoded = decode(message)
        if decoded is None:
            log.warning("ignored a change feed message that is not one of ours")
            return
        origin, change = decoded
        if origin != self.origin:
            self.local.deliver(change)

    async def linked(self) -> None:
        """The link is up (again): forget what we may have missed, and settle what we owe."""
        self.connected = True
        self.local.deliver(ALL)
        if self.owed:
            await self.publish(ALL)

    def unlinked(self) -> None:
        if self.connected:
            self.connected = False
            self.local.deliver(ALL)

    def as_wire(self) -> dict[str, object]:
        return {"state": "up" if self.connected else "down"}
