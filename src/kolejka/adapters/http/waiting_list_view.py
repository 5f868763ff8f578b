"""Each queue's waiting list as ready JSON bytes, for the poll that nearly every client makes."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from kolejka.adapters.http import wire
from kolejka.services.ports import Change, ChangeFeed, Topic
from kolejka.services.waiting_lists import WaitingLists


class WaitingListView:
    """Each queue's waiting list as ready JSON bytes, dropped when the queue or the CRM changes.

    Reads vastly outnumber changes (a wallboard polls every second; a caller joins every few),
    so a read is a dict lookup and the rendering cost is paid once per change.
    """

    def __init__(self, lists: WaitingLists, changes: ChangeFeed, time_zone: ZoneInfo) -> None:
        self.lists = lists
        self.time_zone = time_zone
        self._ready: dict[int, bytes] = {}
        self._generation = 0
        changes.subscribe(self._forget)

    def _forget(self, change: Change) -> None:
        self._generation += 1
        if change.topic is Topic.QUEUE and change.queue_id is not None:
            self._ready.pop(change.queue_id, None)
        elif change.topic in (Topic.QUEUE, Topic.CRM, Topic.ALL):
            self._ready.clear()

    def ready(self, queue_id: int) -> bytes | None:
        """The queue's list if it is ready, without asking the store."""
        return self._ready.get(queue_id)

    async def waiting_list_json(self, queue_id: int) -> bytes:
        ready = self._ready.get(queue_id)
        if ready is not None:
            return ready
        generation = self._generation
        entries = await self.lists.waiting_list(queue_id)
        body = wire.to_json(wire.waiting_list(entries, self.time_zone))
        # A change may have landed while we awaited the store: then this body may be stale.
        if generation == self._generation:
            self._ready[queue_id] = body
        return body
