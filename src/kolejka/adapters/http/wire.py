"""Thulium's JSON on the wire, in one place: dates, the waiting list's four keys, stats, queues
and the CRM's customers and companies. Compact, UTF-8, keys in the order Thulium gives them.

Every function here reads domain values and returns what `to_json` turns into bytes; the bytes
are pinned by tests/http/test_waiting_list_api.py (Thulium's documented example, byte for byte).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kolejka.domain.agents import AgentStatus
from kolejka.domain.connections import Connection
from kolejka.domain.crm import (
    ADDRESS_KEYS,
    ADDRESS_KINDS,
    DETAIL_TEXTS,
    EVERYTHING,
    Address,
    Company,
    Customer,
    Details,
    Included,
    PhoneNumber,
)
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import Queue
from kolejka.domain.wait_estimate import format_hms
from kolejka.services.waiting_lists import WaitingListEntry, WaitingStats

# Thulium's dates: local time in the configured zone, no offset.
WIRE_DATE = "%Y-%m-%d %H:%M:%S"


def to_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def wire_time(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime(WIRE_DATE)


def connection(
    row: Connection, zone: ZoneInfo, src: str, customer_id: int | None, user: str
) -> dict[str, object]:
    """A call of the history as Thulium's `GET connections` lists its fields, in the page's
    order; what kolejka does not record is Thulium's empty value. `src` as displayed."""
    local = row.started_at.astimezone(zone)
    billsec = row.billsec
    # The enums are str: json writes their values (no `.value` lookups for a hundred rows).
    return {
        "connection_id": row.connection_id,
        "date": "%04d-%02d-%02d %02d:%02d:%02d"  # noqa: UP031 (faster than strftime, per row)
        % (local.year, local.month, local.day, local.hour, local.minute, local.second),
        "src": src,
        "dst": row.dst,
        "type": row.direction,
        "disposition": row.disposition,
        "duration": row.duration,
        "billsec": billsec,
        "user": user,
        "user_login": row.user_login,
        "queue_id": row.queue_id,
        "topic_id": None,
        "customer_id": customer_id,
        "tags": [],
        "disconnected_by": row.disconnected_by,
        "transferred_to": row.transferred_to,
        "operator": "",
        "filename": "",
    }


# Dates a client may write: a day, a minute or a second, with the length of what each names.
_DATE_FORMS = (
    ("%Y-%m-%d", timedelta(days=1)),
    ("%Y-%m-%d %H:%M", timedelta(minutes=1)),
    ("%Y-%m-%d %H:%M:%S", timedelta(seconds=1)),
    ("%Y-%m-%dT%H:%M", timedelta(minutes=1)),
    ("%Y-%m-%dT%H:%M:%S", timedelta(seconds=1)),
)
_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?")
MIN_YEAR, MAX_YEAR = 1900, 9999  # instants both engines store, in any zone


def wire_date(text: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """The instant a Thulium date names in `zone` (`YYYY-MM-DD`, `... HH:MM`, `... HH:MM:SS`);
    with `end`, the last instant of the day, minute or second it names. None if it is none."""
    text = text.strip()
    # strptime's blank takes any whitespace (a newline, a tab): the shape is checked first.
    if _DATE_SHAPE.fullmatch(text) is None:
        return None
    for pattern, unit in _DATE_FORMS:
        try:
            local = datetime.strptime(text, pattern)
        except ValueError:
            continue
        if not MIN_YEAR <= local.year <= MAX_YEAR:
            return None
        if end:
            local += unit - timedelta(microseconds=1)
        return local.replace(tzinfo=zone)
    return None


def waiting_list(entries: Iterable[WaitingListEntry], zone: ZoneInfo) -> list[dict[str, object]]:
    """`GET /api/queues/:id/waiting_list`: exactly Thulium's four keys per caller."""
    return [
        {
            "phone_number": entry.phone_number,
            "started_at": wire_time(entry.started_at, zone),
            "customer_id": entry.customer.customer_id if entry.customer else None,
            "customer_label": entry.customer.label if entry.customer else None,
        }
        for entry in entries
    ]


def waiting_stats(stats: WaitingStats) -> dict[str, object]:
    """`GET /api/queues/:id/waiting_stats`: the wait as H:MM:SS."""
    return {"in_queue": stats.in_queue, "approx_wait_time": format_hms(stats.approx_wait_time)}


def queue_list(queues: Iterable[Queue]) -> list[dict[str, object]]:
    return [{"queue_id": queue.queue_id, "name": queue.name} for queue in queues]


def customer(
    customer: Customer, phones: PhoneNumbers, zone: ZoneInfo, include: Included = EVERYTHING
) -> dict[str, object]:
    """A customer as Thulium shows one: empty values are `""`, never null; the numbers shown as
    the waiting list shows them, the first of them as `phone_number`. Thulium's example's keys
    first, in its order; then the other fields `POST customers` documents; then what `include`
    asks for."""
    card = customer.fields
    numbers = _numbers(card.phone_numbers, phones)
    found: dict[str, object] = {
        "customer_id": customer.customer_id,
        "name": card.name,
        "surname": card.surname,
        "phone_number": numbers[0] if numbers else "",
        "phone_numbers": numbers,
        "email": card.email,
        "company_id": card.company_id if card.company_id is not None else "",
        "identifier": card.identifier,
        "type": card.type,
        "group": card.group,
        "company_flag": customer.company_flag,
        "account_manager": card.account_manager,
        "updated_at": wire_time(customer.updated_at, zone),
        "nip": card.nip,
        **{name: getattr(card.details, name) for name in DETAIL_TEXTS},
        "vip": card.details.vip,
    }
    return _included(found, card.details, card.custom_fields, include)


def company(
    company: Company, phones: PhoneNumbers, include: Included = EVERYTHING
) -> dict[str, object]:
    """A company as Thulium's `GET companies/:id` shows one, keys in its order, then the fields
    its filters name (identifier, e-mail, numbers), then what `include` asks for."""
    details = company.fields
    numbers = _numbers(details.phone_numbers, phones)
    found: dict[str, object] = {
        "name": details.name,
        "company_id": company.company_id,
        "customer_id": company.customer_id,
        "type": details.type,
        "group": details.group,
        "nip": details.nip,
        "account_manager": details.account_manager,
        "identifier": details.identifier,
        "email": details.email,
        "phone_number": numbers[0] if numbers else "",
        "phone_numbers": numbers,
    }
    return _included(found, details.details, details.custom_fields, include)


def address(found: Address) -> dict[str, str | None]:
    """Thulium's ten keys, an empty one `null` (its `GET companies/:id` example)."""
    return {key: getattr(found, key) or None for key in ADDRESS_KEYS}


def _included(
    found: dict[str, object], details: Details, custom: Mapping[str, str], include: Included
) -> dict[str, object]:
    for kind in ADDRESS_KINDS:
        if getattr(include, kind):
            found[kind] = address(getattr(details, kind))
    if include.custom_fields:
        found["custom_fields"] = dict(custom)
    return found


def _numbers(numbers: Sequence[PhoneNumber], phones: PhoneNumbers) -> list[str]:
    return [phones.display(number.e164 or number.raw) for number in numbers]


def agent_status(status: AgentStatus, zone: ZoneInfo) -> dict[str, object]:
    """`GET agents/:login/status`: Thulium's four keys, `pause_id` null unless PAUSED."""
    return {
        "login": status.login,
        "status": status.state.value,
        "pause_id": status.pause_id,
        "last_change": wire_time(status.last_change, zone),
    }
