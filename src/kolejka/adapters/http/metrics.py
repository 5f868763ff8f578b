"""`GET /metrics`: the Prometheus text format, for API users with the `GET metrics` permission.

Prometheus scrapes with HTTP Basic credentials like any client (`basic_auth` in its scrape
config); docs/operations.md shows how. The body names queues by id only, never callers.
"""

from __future__ import annotations

from kolejka.adapters.http.request import Request, TextReply
from kolejka.adapters.http.routing import Route
from kolejka.observability.metrics import TEXT_FORMAT, Metrics


class MetricsApi:
    """The `/metrics` route over a `Metrics` registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def routes(self) -> list[Route]:
        return [Route("GET", "/metrics", self.scrape)]

    async def scrape(self, request: Request) -> TextReply:
        return TextReply(
            await self.metrics.render(), TEXT_FORMAT, headers=((b"cache-control", b"no-store"),)
        )
