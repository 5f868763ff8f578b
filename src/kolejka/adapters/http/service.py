"""The service's own endpoints, open to anyone: the OpenAPI document and health."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import yaml

from kolejka.adapters.http.request import Reply, Request
from kolejka.adapters.http.routing import Route
from kolejka.adapters.http.wire import to_json
from kolejka.observability.health import HealthCheck, run_checks
from kolejka.observability.links import LinkState


class ServiceApi:
    """`GET /api/openapi.json` and `GET /health`, the two public routes."""

    def __init__(
        self, links: Sequence[LinkState] = (), health_checks: Sequence[HealthCheck] = ()
    ) -> None:
        self.links = links
        self.health_checks = health_checks
        self._openapi: bytes | None = None

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/openapi.json", self.openapi, public=True),
            Route("GET", "/health", self.health, public=True),
        ]

    async def openapi(self, request: Request) -> Reply:
        if self._openapi is None:
            self._openapi = to_json(openapi_document())
        return Reply(self._openapi)

    async def health(self, request: Request) -> Reply:
        # Always 200: the API still answers (from the last known state) when the PBX link is
        # down, so a liveness probe must not restart it; "degraded" tells a human or an alert.
        healthy = all(link.up for link in self.links)
        body: dict[str, object] = {"status": "ok" if healthy else "degraded"}
        body.update((link.name, link.as_wire()) for link in self.links)
        if self.health_checks:
            # The stores (and, with several instances, the AMI lease) each say whether they are
            # well; one that is down makes the service degraded, still 200 (see above).
            well, report = await run_checks(self.health_checks)
            body.update(report)
            body["status"] = "ok" if healthy and well else "degraded"
        return Reply(to_json(body))


def openapi_document() -> dict[str, Any]:
    text = (resources.files("kolejka.adapters.http") / "openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document
