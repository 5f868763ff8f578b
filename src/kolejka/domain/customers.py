"""CRM customers as the waiting list sees them, and the unambiguous-match rule."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class CustomerKind(enum.StrEnum):
    PERSON = "person"
    COMPANY = "company"


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    """A customer who owns a phone number: its id and the label the waiting list shows."""

    customer_id: int
    label: str


def person_label(name: str, surname: str) -> str:
    """A person's label is "name surname"; either part may be empty."""
    return " ".join(part for part in (name.strip(), surname.strip()) if part)


def customer_label(kind: CustomerKind, name: str, surname: str, company_name: str) -> str:
    if kind is CustomerKind.COMPANY:
        return company_name.strip()
    return person_label(name, surname)


def unambiguous(owners: Sequence[CustomerMatch]) -> CustomerMatch | None:
    """The one owner of a number, or None when nobody or more than one customer owns it.

    Thulium names a caller only when the CRM finds the number *jednoznacznie*: a number shared
    by two customers (say a person and their company) names nobody.
    """
    distinct = {owner.customer_id: owner for owner in owners}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    return None
