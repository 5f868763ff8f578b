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


Match = tuple[Route | None, dict[str, str], list[str]]


class Router:
    # Wallboards poll the same few paths over and over: a found route is remembered by method
    # and path, which spares the regexes. Paths come from clients, so the memory is bounded.
    remembered_paths = 1024

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._found: dict[tuple[str, str], Match] = {}

    def match(self, method: str, path: str) -> Match:
        """(route, path params, []) on a match; (None, {}, allowed methods) otherwise.

        The params dict may be shared between requests for the same path: read it, never write.
        """
        found = self._found.get((method, path))
        if found is not None:
            return found
        found = self._search(method, path)
        if found[0] is not None:
            if len(self._found) >= self.remembered_paths:
                self._found.clear()
            self._found[(method, path)] = found
        return found

    @property
    def remembered(self) -> int:
        """How many matches the router holds now (never above `remembered_paths`)."""
        return len(self._found)

    def _search(self, method: str, path: str) -> Match:
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed
