"""A stored card as an import row: what `kolejka crm export` writes, from either engine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kolejka.adapters.sql.crm_rows import details
from kolejka.domain.crm import ADDRESS_KINDS, DETAIL_TEXTS
from kolejka.domain.customers import CustomerKind


def export_row(row: Sequence[Any], numbers: list[str]) -> dict[str, object]:
    """One card as an import row (its `customer_id` lets a card without an identifier be matched
    when the row comes back unchanged). `row`: EXPORT_SELECT's columns: customer_id, kind, name,
    surname, company_name, email, identifier, type, group_name, account_manager, custom_fields,
    the company's nip, details, custom_fields (NULL on a person's card), the card's nip, details.
    An empty address is written `{}`."""
    is_company = row[1] == CustomerKind.COMPANY.value
    found = details(row[12] if is_company else row[15])
    return {
        "identifier": row[6],
        "customer_id": row[0],
        "company_flag": 1 if is_company else 0,
        "name": row[4] if is_company else row[2],
        "surname": "" if is_company else row[3],
        "phone_number": numbers,
        "email": row[5],
        "type": row[7],
        "group": row[8],
        "account_manager": row[9],
        "nip": (row[11] if is_company else row[14]) or "",
        **{name: getattr(found, name) for name in DETAIL_TEXTS},
        "vip": found.vip,
        **{kind: getattr(found, kind).filled() for kind in ADDRESS_KINDS},
        "custom_fields": json.loads(row[13] if is_company else row[10] or "{}"),
    }


# The columns export_row reads, for both engines (`c` the card, `k` its company row).
EXPORT_SELECT = (
    "SELECT c.customer_id, c.kind, c.name, c.surname, c.company_name, c.email,"
    " c.identifier, c.type, c.group_name, c.account_manager, c.custom_fields,"
    " k.nip, k.details, k.custom_fields, c.nip, c.details"
    " FROM customers c LEFT JOIN companies k ON k.customer_id = c.customer_id"
)
