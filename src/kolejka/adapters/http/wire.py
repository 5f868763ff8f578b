"""Thulium's JSON on the wire, in one place: dates, the waiting list's four keys, stats, queues
and the CRM's customers and companies. Compact, UTF-8, keys in the order Thulium gives them.

Every function here reads domain values and returns what `to_json` turns into bytes; the bytes
are pinned by tests/http/test_waiting_list_api.py (Thulium's documented example, byte for byte).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from kolejka.domain.agents import AgentStatus
from kolejka.domain.crm import Company, Customer, PhoneNumber
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


def customer(customer: Customer, phones: PhoneNumbers, zone: ZoneInfo) -> dict[str, object]:
    """A customer as Thulium shows one: empty values are `""`, never null; the numbers shown as
    the waiting list shows them, the first of them as `phone_number`."""
    card = customer.fields
    numbers = _numbers(card.phone_numbers, phones)
    return {
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
        "custom_fields": dict(card.custom_fields),
    }


def company(company: Company) -> dict[str, object]:
    details = company.fields
    return {
        "company_id": company.company_id,
        "name": details.name,
        "nip": details.nip,
        "customer_id": company.customer_id,
        "type": details.type,
        "group": details.group,
        "address": details.address,
        "custom_fields": dict(details.custom_fields),
    }


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
