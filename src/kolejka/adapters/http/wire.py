"""Thulium's JSON on the wire, in one place: dates, the waiting list's four keys, stats, queues
and the CRM's customers and companies. Compact, UTF-8, keys in the order Thulium gives them.

Every function here reads domain values and returns what `to_json` turns into bytes; the bytes
are pinned by tests/http/test_waiting_list_api.py (Thulium's documented example, byte for byte).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from kolejka.domain.agents import AgentStatus
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
