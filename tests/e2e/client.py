"""A small HTTP client on http.client, so tests can send exactly the bytes they mean."""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from tests.support import Answer, basic


def request(
    url: str,
    method: str = "GET",
    path: str = "/",
    *,
    user: tuple[str, str] | None = None,
    body: object = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Answer:
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.netloc, timeout=10, context=context)
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    sent_headers = dict(headers or {})
    if user:
        sent_headers["Authorization"] = basic(*user)
    payload = None if body is None else json.dumps(body).encode()
    if payload is not None:
        sent_headers.setdefault("Content-Type", "application/json")
    try:
        connection.request(method, path, body=payload, headers=sent_headers)
        response = connection.getresponse()
        data = response.read()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, answer_headers, data)
    finally:
        connection.close()


def as_json(answer: Answer) -> Any:
    return json.loads(answer.body)
