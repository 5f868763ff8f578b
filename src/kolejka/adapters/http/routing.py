"""A small router: path templates matched on the path as sent, each route with its permission.

It routes on ASGI's `raw_path`, before anything is percent-decoded, and decodes each parameter
after matching: so `%2F` inside a segment is part of that segment, never a separator. Asterisk's
channel names (`PJSIP/1001-00000001`) are call ids, and a caller that joined with one must be
able to leave through `.../callers/PJSIP%2F1001-00000001/leave`. Literal segments match as sent
(`/api/%71ueues` is no path of ours).

Twenty lines instead of a framework: the hot path (`GET /api/queues/2/waiting_list`) is one regex
match and one dict lookup. Permissions are named as Thulium names them, from the template:
`/api/queues/{id}/waiting_list` is `GET queues/:id/waiting_list`. `HEAD` is answered by a path's
`GET` route (the app sends no body). A route is public only when it names no API user at all
(`/health`, the OpenAPI document); every other one is authenticated by the kernel (auth.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from kolejka.adapters.http.request import AnyReply, Request

Handler = Callable[[Request], Awaitable[AnyReply]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    handler: Handler
    public: bool = False
    # Further permissions that grant this route: whoever may read a waiting list may stream it.
    also: tuple[str, ...] = ()
    # Takes a wallboard token as `?token=`, for the browser's EventSource (it sends no headers).
    token: bool = False
    # Matched against the raw path: a parameter is one segment, still percent-encoded.
    pattern: re.Pattern[str] = field(init=False)
    permission: str = field(init=False)
    # `permission`, then `also`: any of them grants the route.
    permissions: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        regex = "".join(
            f"(?P<{piece[1:-1]}>[^/]+)" if piece.startswith("{") else re.escape(piece)
            for piece in re.split(r"(\{\w+\})", self.template)
        )
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))
        path = re.sub(r"\{(\w+)\}", r":\1", self.template).removeprefix("/api/").strip("/")
        object.__setattr__(self, "permission", f"{self.method} {path}")
        object.__setattr__(self, "permissions", (self.permission, *self.also))


Match = tuple[Route | None, dict[str, str], list[str]]


class Router:
    # Wallboards poll the same few paths over and over: a found route is remembered by method
    # and path, which spares the regexes. Paths come from clients, so the memory is bounded.
    remembered_paths = 1024

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._found: dict[tuple[str, bytes], Match] = {}

    def match(self, method: str, raw_path: bytes) -> Match:
        """(route, decoded path params, []) on a match; (None, {}, allowed methods) otherwise.

        The params dict may be shared between requests for the same path: read it, never write.
        """
        found = self._found.get((method, raw_path))
        if found is not None:
            return found
        found = self._search(method, raw_path)
        if found[0] is not None:
            if len(self._found) >= self.remembered_paths:
                self._found.clear()
            self._found[(method, raw_path)] = found
        return found

    @property
    def remembered(self) -> int:
        """How many matches the router holds now (never above `remembered_paths`)."""
        return len(self._found)

    def _search(self, method: str, raw_path: bytes) -> Match:
        wanted = "GET" if method == "HEAD" else method
        path = raw_path.decode("latin-1")  # byte for byte; nothing is decoded yet
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == wanted:
                params = found.groupdict()
                for name, value in params.items():
                    if "%" in value or not value.isascii():
                        params[name] = _decoded(value)
                return route, params, []
            allowed.append(route.method)
            if route.method == "GET":
                allowed.append("HEAD")
        return None, {}, allowed


def _decoded(segment: str) -> str:
    # Bytes that are not UTF-8 become U+FFFD, as uvicorn decodes `scope["path"]`: such a
    # segment then names no id and no waiting call, and never raises.
    return unquote_to_bytes(segment.encode("latin-1")).decode("utf-8", "replace")
