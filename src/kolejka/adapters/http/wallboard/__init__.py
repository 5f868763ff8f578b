"""The wallboard: a page for a supervisor's screen, live over `GET /api/wallboard/stream`.

Plain HTML, CSS and a script, served from this package as they are: there is nothing to build.
The page needs an API user's credentials (the browser asks for them) or a wallboard token in its
link (`/wallboard?token=...`, made by `kolejka wallboard token`); docs/wallboard.md explains both.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from kolejka.adapters.http.auth import HttpAuth
from kolejka.adapters.http.errors import ApiError, from_domain, preferred_language
from kolejka.adapters.http.request import Request, TextReply
from kolejka.adapters.http.routing import Handler, Route
from kolejka.adapters.http.wallboard.board import WALLBOARD_PERMISSIONS
from kolejka.domain.errors import DomainError

if TYPE_CHECKING:  # the stream hub imports this package's board: no import at run time
    from kolejka.adapters.http.stream import EventStreams

HTML = b"text/html; charset=utf-8"
ASSETS = {
    "wallboard.css": b"text/css; charset=utf-8",
    "wallboard.js": b"text/javascript; charset=utf-8",
}
# The token travels in the page's address, so the page must not leak it in a Referer; and it
# loads nothing from elsewhere.
PAGE_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)
ASSET_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-cache"))
ERROR_PAGE = """<!doctype html>
<html lang="{language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kolejka</title><link rel="stylesheet" href="/wallboard/wallboard.css"></head>
<body class="refused"><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""
TITLES = {"en": "The wallboard is not available", "pl": "Tablica jest niedostępna"}


class Wallboard:
    """The page and its two static files.

    Public to the router: the files hold no data, and the page answers a refusal as a page of
    its own (the kernel's would be JSON), after the same check as its stream's.
    """

    def __init__(self, streams: EventStreams) -> None:
        self.streams = streams
        self.auth = HttpAuth(streams.auth)
        files = resources.files(__name__)
        self.page_html = (files / "index.html").read_bytes()
        self.assets = {name: (files / name).read_bytes() for name in ASSETS}

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/wallboard", self.page, public=True),
            *(
                Route("GET", f"/wallboard/{name}", self._asset_handler(name), public=True)
                for name in ASSETS
            ),
        ]

    async def page(self, request: Request) -> TextReply:
        # The page itself holds no data, but asking here lets the browser show its own sign-in
        # prompt; the credentials it keeps then go with the page's EventSource too.
        try:
            await self.auth.check(request.scope, WALLBOARD_PERMISSIONS, token=True)
        except (ApiError, DomainError) as refusal:
            error = refusal if isinstance(refusal, ApiError) else from_domain(refusal)
            language = preferred_language(request.header(b"accept-language"))
            body = ERROR_PAGE.format(
                language=language,
                title=TITLES[language],
                message=_escape(error.message(language)),
            )
            headers = (*PAGE_HEADERS, *error.headers)
            return TextReply(body.encode(), HTML, error.kind.status, headers)
        return TextReply(self.page_html, HTML, headers=PAGE_HEADERS)

    def _asset_handler(self, name: str) -> Handler:
        body = self.assets[name]
        content_type = ASSETS[name]

        async def asset(request: Request) -> TextReply:
            return TextReply(body, content_type, headers=ASSET_HEADERS)

        return asset


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
