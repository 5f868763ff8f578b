"""A stored card as an import row: what `kolejka crm export` writes, from either engine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kolejka.domain.customers import CustomerKind


def export_row(row: Sequence[Any], numbers: list[str]) -> dict[str, object]:
    """One card as an import row (its `customer_id` lets a card without an identifier be matched
    when the row comes back unchanged). `row`: customer_id, kind, name, surname, company_name,
    email, identifier, type, group_name, account_manager, custom_fields, and the company's nip,
    address, custom_fields (NULL on a person's card)."""
    is_company = row[1] == CustomerKind.COMPANY.value
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
        "nip": row[11] or "",
        "address": row[12] or "",
        "custom_fields": json.loads(row[13] if is_company else row[10] or "{}"),
    }
