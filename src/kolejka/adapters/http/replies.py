"""Sending an answer over ASGI: JSON, a whole text body, or an event stream until it ends.

Every answer carries its `X-Request-Id`. The kernel's hot path sends JSON itself from
`json_start` (one coroutine fewer per request); everything else comes through `send_reply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

from kolejka.adapters.http.request import (
    AnyReply,
    Message,
    Receive,
    Reply,
    Send,
    StreamReply,
    TextReply,
)

log = logging.getLogger(__name__)

JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
NO_CONTENT = 204


async def send_reply(reply: AnyReply, request_id: str, receive: Receive, send: Send) -> None:
    """Sends any answer: a whole body, or a stream until it ends or the client goes away."""
    if isinstance(reply, Reply):
        await send(json_start(reply, request_id))
        await send({"type": "http.response.body", "body": reply.body})
        return
    if isinstance(reply, TextReply):
        headers = [
            (b"content-type", reply.content_type),
            (b"content-length", str(len(reply.body)).encode()),
            (b"x-request-id", request_id.encode()),
            *reply.headers,
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return
    await _send_stream(reply, request_id, receive, send)


def json_start(reply: Reply, request_id: str) -> Message:
    """The `http.response.start` message of a JSON answer, or of a 204 (Thulium's answer to
    PUT and DELETE), which has no body, so neither a type nor a length (RFC 9110 8.6)."""
    if reply.status == NO_CONTENT:
        headers = [(b"x-request-id", request_id.encode())]
    else:
        headers = [
            JSON_TYPE,
            (b"content-length", b"%d" % len(reply.body)),
            (b"x-request-id", request_id.encode()),
        ]
    if reply.headers:
        headers += reply.headers
    return {"type": "http.response.start", "status": reply.status, "headers": headers}


async def _send_stream(reply: StreamReply, request_id: str, receive: Receive, send: Send) -> None:
    headers = [
        (b"content-type", reply.content_type),
        (b"x-request-id", request_id.encode()),
        *reply.headers,
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    pump = asyncio.ensure_future(_pump(reply.chunks, send))
    watch = asyncio.ensure_future(_until_disconnect(receive))
    # The server cancels open answers when it stops (after its grace period). A stream has no
    # natural end, so that is how it ends: finish the answer properly and return.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
    stalled = pump.cancelled()
    disconnected = watch.done() and not watch.cancelled()
    failure = pump.exception() if pump.done() and not stalled else None
    pump.cancel()
    watch.cancel()
    await asyncio.gather(pump, watch, return_exceptions=True)
    await reply.chunks.aclose()
    if disconnected or stalled:
        # A stalled client would block this write too; returning lets the server close it.
        return
    if failure is not None:
        log.error("a stream failed", exc_info=failure)
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(1.0):
            await send({"type": "http.response.body", "body": b""})


async def _pump(chunks: AsyncGenerator[bytes, None], send: Send) -> None:
    async for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def head_reply(reply: AnyReply, send: Send) -> tuple[AnyReply, Send]:
    """The GET route's answer for a HEAD request: headers and all, without a body (RFC 9110
    9.3.2). A stream is replaced by an empty one before it ever started, so it holds nothing."""
    if isinstance(reply, StreamReply):
        await reply.chunks.aclose()
        reply = StreamReply(_no_events(), reply.content_type, reply.status, reply.headers)
    return reply, _without_body(send)


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b"", "more_body": False}
        await send(message)

    return send_head


async def _no_events() -> AsyncGenerator[bytes, None]:
    return
    yield b""  # makes this an (empty) async generator
