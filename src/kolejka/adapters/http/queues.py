"""Thulium's queue API: a queue's waiting list and stats, and the list of queues."""

from __future__ import annotations

from kolejka.adapters.http import wire
from kolejka.adapters.http.request import Reply, Request
from kolejka.adapters.http.routing import Route
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.services.waiting_lists import WaitingLists


class QueuesApi:
    """`GET /api/queues`, `.../{id}/waiting_list` (the hot path) and `.../{id}/waiting_stats`."""

    def __init__(self, lists: WaitingLists, view: WaitingListView) -> None:
        self.lists = lists
        self.view = view

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/queues/{id}/waiting_list", self.waiting_list),
            Route("GET", "/api/queues/{id}/waiting_stats", self.waiting_stats),
            Route("GET", "/api/queues", self.queues),
        ]

    async def waiting_list(self, request: Request) -> Reply:
        queue_id = request.path_id("id")
        # Nearly every poll finds the list ready: no await of the store for it.
        ready = self.view.ready(queue_id)
        return Reply(ready if ready is not None else await self.view.waiting_list_json(queue_id))

    async def waiting_stats(self, request: Request) -> Reply:
        stats = await self.lists.stats(request.path_id("id"))
        return Reply(wire.to_json(wire.waiting_stats(stats)))

    async def queues(self, request: Request) -> Reply:
        queues = await self.lists.all_queues()
        return Reply(wire.to_json(wire.queue_list(queues)))
