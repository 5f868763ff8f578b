"""A small router: path templates compiled to regexes, each route with its permission.

Twenty lines instead of a framework: the hot path (`GET /api/queues/2/waiting_list`) is one regex
match and one dict lookup. Permissions are named as Thulium names them, from the template:
`/api/queues/{id}/waiting_list` is `GET queues/:id/waiting_list`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    handler: Handler
    public: bool = False
    pattern: re.Pattern[str] = field(init=False)
    permission: str = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))
        path = re.sub(r"\{(\w+)\}", r":\1", self.template).removeprefix("/api/").strip("/")
        object.__setattr__(self, "permission", f"{self.method} {path}")


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, path params, []) on a match; (None, {}, allowed methods) otherwise."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed
