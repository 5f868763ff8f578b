"""The customer's own CRM, asked as Thulium asks it: `GET {url}?phone_number=N`.

It answers UTF-8 JSON describing the customer, or 404 when there is none. We accept an object or
an array of objects, each with `customer_id` and either `customer_label`, a person's `name` and
`surname`, or a company's `company_name` (with `company_flag` 1). Two customers in one answer
name nobody: the unambiguous rule applies as for the built-in CRM.

The answer is untrusted input: a name holding a control character (which the built-in CRM refuses
when customers are written) or a lone surrogate (valid JSON, `"\\ud800"`, from a CRM that cut
UTF-16 in half, which UTF-8 cannot encode, so every list showing it would fail) makes the answer
malformed, like one without a name. The log says which field, never the text itself.

The waiting list must answer in time whatever that system does, so every question has one
deadline (`timeout`, default 1 s); a failure (down, slow, an error status, garbage) is logged, names
nobody, and makes the next questions skip the system for a few seconds, so one slow CRM costs
one waiting-list render one timeout, not one timeout per caller. Answers, 404s included, are
kept for `cache_seconds`; the waiting lists are re-rendered at that pace so they follow the CRM.

httpx is the client: it keeps connections alive between questions (a TLS handshake per caller
would eat the deadline), speaks HTTPS with certificate checks, and takes credentials from the
URL's user part.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from kolejka.domain.customers import CustomerMatch, person_label, unambiguous
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import MAX_ID
from kolejka.domain.text import has_control
from kolejka.services.ports import Change, ChangeFeed, Topic
from kolejka.services.single_flight import SingleFlight

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 256 * 1024
MAX_CACHED = 50_000
# After a failure the system is left alone this long (at most; never longer than the cache TTL).
BACKOFF_SECONDS = 5.0
# Besides what the built-in CRM's fields refuse (text.has_control): surrogates, which
# json.loads leaves in a string only when they are lone.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class BadAnswer(ValueError):
    """The external CRM answered something that is not a description of customers."""


def parse_answer(body: bytes) -> list[CustomerMatch]:
    """The customers an answer describes; BadAnswer when it describes none sensibly."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadAnswer("not UTF-8 JSON") from exc
    items = value if isinstance(value, list) else [value]
    matches = []
    for item in items:
        if not isinstance(item, dict):
            raise BadAnswer("not a JSON object or an array of objects")
        matches.append(_match(item))
    return matches


def _match(item: dict[str, Any]) -> CustomerMatch:
    customer_id = item.get("customer_id", item.get("id"))
    if isinstance(customer_id, str) and customer_id.isascii() and customer_id.isdigit():
        customer_id = int(customer_id) if len(customer_id) <= 10 else None
    if isinstance(customer_id, bool) or not isinstance(customer_id, int):
        raise BadAnswer("a customer without an integer customer_id")
    if not 0 < customer_id <= MAX_ID:
        raise BadAnswer("a customer_id out of range")
    label = _text(item, "customer_label")
    if not label and (item.get("company_flag") in (1, "1", True) or item.get("type") == "company"):
        label = _text(item, "company_name") or _text(item, "name")
    if not label:
        label = person_label(_text(item, "name"), _text(item, "surname"))
    if not label:
        label = _text(item, "company_name")
    if not label:
        raise BadAnswer("a customer without a name")
    return CustomerMatch(customer_id, label[:512])


def _text(item: dict[str, Any], key: str) -> str:
    """A name the answer gives, trimmed; "" when absent or not a string. BadAnswer when it holds
    a control character or a lone surrogate: its value is not quoted, so neither reaches the log."""
    value = item.get(key)
    if not isinstance(value, str):
        return ""
    if has_control(value) or _SURROGATE.search(value) is not None:
        raise BadAnswer(f"{key} holds a control character or a lone surrogate")
    return value.strip()


class ExternalCrm:
    """Satisfies ports.CustomerDirectory by asking the customer's own system over HTTP."""

    def __init__(
        self,
        url: str,
        phones: PhoneNumbers,
        changes: ChangeFeed,
        *,
        timeout: float = 1.0,
        cache_seconds: float = 60.0,
        client: httpx.AsyncClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.phones = phones
        self.changes = changes
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.monotonic = monotonic
        self._client = client
        self._cache: dict[str, tuple[float, tuple[CustomerMatch, ...]]] = {}
        # Callers rendered at the same moment share one question.
        self._asking: SingleFlight[str, tuple[CustomerMatch, ...]] = SingleFlight()
        self._down_until = 0.0
        self._failing = False

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                headers={"Accept": "application/json", "User-Agent": "kolejka"},
                follow_redirects=False,
            )
        return self._client

    async def owners(self, e164: str, limit: int = 2) -> Sequence[CustomerMatch]:
        now = self.monotonic()
        cached = self._cache.get(e164)
        if cached is not None and cached[0] > now:
            return cached[1][:limit]
        if now < self._down_until:
            return ()
        return (await self._asking.run(e164, lambda: self._ask(e164)))[:limit]

    async def sole_owners(self, numbers: Sequence[str]) -> Mapping[str, int]:
        """One question per number not in the cache, as the waiting list asks them."""
        found = {}
        for e164 in numbers:
            match = unambiguous(await self.owners(e164))
            if match is not None:
                found[e164] = match.customer_id
        return found

    async def sole_matches(self, numbers: Sequence[str]) -> Mapping[str, CustomerMatch]:
        """As `sole_owners`, with the labels the answers gave."""
        found = {}
        for e164 in numbers:
            match = unambiguous(await self.owners(e164))
            if match is not None:
                found[e164] = match
        return found

    async def _ask(self, e164: str) -> tuple[CustomerMatch, ...]:
        number = self.phones.display(e164)
        # Made before the deadline: the first client loads the CA certificates (0.17 s here, more
        # under load), which is not the CRM being slow and must not use up its time.
        client = self.client
        started = self.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                status, body = await self._get(client, number)
            if status == 404:
                matches: tuple[CustomerMatch, ...] = ()
            elif status == 200:
                matches = tuple(parse_answer(body))
            else:
                raise BadAnswer(f"HTTP status {status}")
        except Exception as error:  # whatever goes wrong out there, the list answers in time
            self._failed(number, error, self.monotonic() - started)
            return ()
        if self._failing:
            self._failing = False
            log.info("external CRM answers again", extra={"crm_url": self._safe_url()})
            await self.changes.publish(Change(Topic.CRM))
        self._remember(e164, matches)
        return matches

    async def _get(self, client: httpx.AsyncClient, number: str) -> tuple[int, bytes]:
        async with client.stream("GET", self.url, params={"phone_number": number}) as response:
            if response.status_code != 200:
                return response.status_code, b""
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise BadAnswer(f"an answer over {MAX_ANSWER_BYTES} bytes")
            return 200, bytes(body)

    def _remember(self, e164: str, matches: tuple[CustomerMatch, ...]) -> None:
        if self.cache_seconds <= 0:
            return
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[e164] = (self.monotonic() + self.cache_seconds, matches)

    def _failed(self, number: str, error: BaseException, seconds: float) -> None:
        reason = (
            "no answer in time"
            if isinstance(error, TimeoutError)
            else str(error) or type(error).__name__
        )
        backoff = min(BACKOFF_SECONDS, max(self.cache_seconds, self.timeout))
        self._down_until = self.monotonic() + backoff
        log.warning(
            "external CRM failed for %s after %.2f s: %s; callers stay unnamed for %.0f s",
            number,
            seconds,
            reason,
            backoff,
            extra={"crm_url": self._safe_url()},
        )
        self._failing = True

    def _safe_url(self) -> str:
        """The URL without credentials, for logs."""
        url = httpx.URL(self.url)
        return str(url.copy_with(username=None, password=None)) if url.userinfo else self.url

    async def follow(self) -> None:
        """Background task: re-renders waiting lists at the cache's pace, so they follow the CRM."""
        try:
            while True:
                await asyncio.sleep(max(self.cache_seconds, 1.0))
                await self.changes.publish(Change(Topic.CRM))
        finally:
            if self._client is not None:
                await self._client.aclose()
