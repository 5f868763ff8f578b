"""Thulium's webhooks endpoints, `/api/webhooks`, and kolejka's deliveries extension.

Thulium's shape: `{"id", "actions", "subscription_url", "http_auth_user", "http_auth_password"}`,
the credentials always `""` (they are sealed, and never shown again, nor logged). The answer to a
registration adds kolejka's `secret`, the key of the signature header, shown that once.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from kolejka.adapters.http.request import Reply, Request, no_query
from kolejka.adapters.http.routing import Route
from kolejka.adapters.http.wire import to_json, wire_time
from kolejka.domain.webhooks import Subscription
from kolejka.services.webhooks import Webhooks


def subscription(found: Subscription) -> dict[str, object]:
    return {
        "id": found.webhook_id,
        "actions": list(found.actions),
        "subscription_url": found.subscription_url,
        "http_auth_user": "",
        "http_auth_password": "",
    }


class WebhooksApi:
    def __init__(self, webhooks: Webhooks, time_zone: ZoneInfo) -> None:
        self.webhooks = webhooks
        self.time_zone = time_zone

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/webhooks", self.list_webhooks),
            Route("POST", "/api/webhooks", self.create_webhook),
            Route("DELETE", "/api/webhooks/{id}", self.delete_webhook),
            Route("GET", "/api/webhooks/{id}/deliveries", self.deliveries),
            Route("POST", "/api/webhooks/{id}/deliveries/{event_id}/redeliver", self.redeliver),
        ]

    async def list_webhooks(self, request: Request) -> Reply:
        no_query(request)
        return Reply(to_json([subscription(s) for s in await self.webhooks.all()]))

    async def create_webhook(self, request: Request) -> Reply:
        no_query(request)
        added, secret = await self.webhooks.register(await request.json_object())
        return Reply(to_json({**subscription(added), "secret": secret}), 201)

    async def delete_webhook(self, request: Request) -> Reply:
        no_query(request)
        await self.webhooks.remove(request.path_id("id"))
        return Reply(b"", 204)

    async def deliveries(self, request: Request) -> Reply:
        no_query(request)
        found = await self.webhooks.deliveries(request.path_id("id"))
        zone = self.time_zone
        return Reply(
            to_json(
                {
                    "attempts": [
                        {
                            "event_id": a.event_id,
                            "attempt": a.attempt,
                            "date": wire_time(a.at, zone),
                            "status": a.status,
                            "error": a.error,
                            "outcome": a.outcome,
                        }
                        for a in found.attempts
                    ],
                    "parked": [
                        {
                            "event_id": p.event.event_id,
                            "action": p.event.action,
                            "date": wire_time(p.event.occurred_at, zone),
                            "parked_at": wire_time(p.parked_at, zone),
                            "attempts": p.attempts,
                            "redelivering": p.redeliver,
                        }
                        for p in found.parked
                    ],
                }
            )
        )

    async def redeliver(self, request: Request) -> Reply:
        no_query(request)
        await self.webhooks.redeliver(request.path_id("id"), request.path_id("event_id"))
        return Reply(b"", 202)
