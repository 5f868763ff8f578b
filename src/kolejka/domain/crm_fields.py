"""The rules a customer's and a company's fields follow, as Thulium names them.

The same rules check a customer sent to the HTTP API and a row of an import file, so both accept
and refuse the same things with the same words. Each refusal is an `InvalidField` or a
`ConflictingField` that names the field and its `FieldProblem`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any, TypeVar

from kolejka.domain.crm import (
    ADDRESS_KEYS,
    ADDRESS_KINDS,
    DETAIL_TEXTS,
    MAX_ADDRESS,
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_VALUE,
    MAX_NIP,
    MAX_NOTE,
    MAX_NUMBERS,
    MAX_TEXT,
    NO_DETAILS,
    Address,
    CompanyFields,
    CustomerFields,
    Details,
    Order,
    PhoneNumber,
)
from kolejka.domain.customers import CustomerKind
from kolejka.domain.errors import ConflictingField, FieldProblem, InvalidField, InvalidFields
from kolejka.domain.phone import MAX_PHONE_INPUT, PhoneNumbers
from kolejka.domain.queues import MAX_ID
from kolejka.domain.text import has_control

_T = TypeVar("_T")

# A phone number as written: digits and the usual punctuation, at least one digit. One that the
# numbering plan does not know (too short, no such country) is kept as written and names nobody;
# anything else ("call me maybe") is refused. openapi.yaml states the same pattern.
PHONE_SYNTAX = re.compile(r"[-0-9+() ./]*[0-9][-0-9+() ./]*")
# Several numbers in one cell of an import file.
NUMBER_SEPARATORS = re.compile(r"[,;|]")


def text(
    values: Mapping[str, Any], name: str, limit: int = MAX_TEXT, *, lines: bool = False
) -> str | None:
    """A text field stripped of surrounding blanks; None when absent (null counts as absent).

    With `lines` (a note), tabs and line breaks are text, not control characters.
    """
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(name, FieldProblem.NOT_A_STRING)
    if len(value) > limit:
        raise InvalidField(name, FieldProblem.TOO_LONG)
    if (_LINES_CONTROL.search(value) is not None) if lines else has_control(value):
        raise InvalidField(name, FieldProblem.CONTROL_CHARACTERS)
    return _without_blanks(value)


def _without_blanks(value: str) -> str:
    # Python's blanks and U+FEFF, which JSON Schema's \s counts as a blank and str.strip() not.
    while True:
        stripped = value.strip().strip("\ufeff")
        if stripped == value:
            return value
        value = stripped


# What text.has_control refuses, but for tab, line feed and carriage return.
_LINES_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def phone_number(value: object, phones: PhoneNumbers, name: str) -> PhoneNumber:
    """One number as written; refused unless it is digits and phone punctuation."""
    if not isinstance(value, str) or len(value) > MAX_PHONE_INPUT:
        raise InvalidField(name, FieldProblem.NOT_A_PHONE_NUMBER)
    if not PHONE_SYNTAX.fullmatch(value):
        raise InvalidField(name, FieldProblem.NOT_A_PHONE_NUMBER)
    raw = value.strip()
    return PhoneNumber(raw, phones.normalise(raw))


def phone_numbers(value: object, phones: PhoneNumbers, name: str) -> tuple[PhoneNumber, ...]:
    """One number (a string; `""` for none) or a list of them, without repeats."""
    if value is None or value == "":
        return ()
    pieces = [value] if isinstance(value, str) else value
    if not isinstance(pieces, list):
        raise InvalidField(name, FieldProblem.NOT_NUMBERS)
    if len(pieces) > MAX_NUMBERS:
        raise InvalidField(name, FieldProblem.TOO_MANY_NUMBERS)
    return distinct(phone_number(piece, phones, name) for piece in pieces)


def split_numbers(cell: str, phones: PhoneNumbers, name: str) -> tuple[PhoneNumber, ...]:
    """Numbers in one cell of an import file, separated by `,`, `;` or `|`."""
    pieces = [piece for piece in NUMBER_SEPARATORS.split(cell) if piece.strip()]
    if len(pieces) > MAX_NUMBERS:
        raise InvalidField(name, FieldProblem.TOO_MANY_NUMBERS)
    return distinct(phone_number(piece, phones, name) for piece in pieces)


def distinct(numbers: Iterable[PhoneNumber]) -> tuple[PhoneNumber, ...]:
    """Every spelling of a number once, the first spelling kept."""
    found: dict[str, PhoneNumber] = {}
    for number in numbers:
        found.setdefault(number.key, number)
    return tuple(found.values())


def custom_fields(values: Mapping[str, Any], name: str = "custom_fields") -> dict[str, str] | None:
    """An object of text values; None when absent."""
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_CUSTOM_FIELDS:
        raise InvalidField(name, FieldProblem.NOT_CUSTOM_FIELDS)
    for item in value.values():
        if not isinstance(item, str) or len(item) > MAX_CUSTOM_VALUE or has_control(item):
            raise InvalidField(name, FieldProblem.NOT_CUSTOM_FIELDS)
    return {str(key): item for key, item in value.items()}


def optional_id(values: Mapping[str, Any], name: str) -> tuple[bool, int | None]:
    """(given, id): a positive integer, or "" for none; null counts as not given."""
    value = values.get(name)
    if value is None:
        return False, None
    if value == "":
        return True, None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidField(name, FieldProblem.NOT_AN_ID)
    return True, value


def flag(values: Mapping[str, Any], name: str) -> int | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or value not in (0, 1) or not isinstance(value, int):
        raise InvalidField(name, FieldProblem.NOT_A_FLAG)
    return int(value)


def boolean(values: Mapping[str, Any], name: str) -> bool | None:
    """Thulium's flags (`vip`): true or false (1 or 0 taken too); None when absent."""
    value = values.get(name)
    if value is None:
        return None
    if value in (0, 1) and isinstance(value, int):
        return bool(value)
    raise InvalidField(name, FieldProblem.NOT_A_BOOLEAN)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def birthdate(values: Mapping[str, Any], name: str = "birthdate") -> str | None:
    """A date as YYYY-MM-DD, or "" for none; None when absent."""
    value = values.get(name)
    if value is None or value == "":
        return value
    if not isinstance(value, str):
        raise InvalidField(name, FieldProblem.NOT_A_STRING)
    if not _DATE.fullmatch(value):
        raise InvalidField(name, FieldProblem.NOT_A_DATE)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise InvalidField(name, FieldProblem.NOT_A_DATE) from None
    return value


def address(values: Mapping[str, Any], name: str) -> Address | None:
    """An address object (Thulium's ten keys, each text or null); `{}` or "" empties it.

    None when absent. An address sent replaces the whole address: keys it leaves out are empty.
    """
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        # kolejka took an address as one line of text before it took Thulium's object: such a
        # line is the street, as the migration made the lines stored then.
        return Address(street=text(values, name, MAX_ADDRESS) or "")
    if not isinstance(value, dict):
        raise InvalidField(name, FieldProblem.NOT_AN_OBJECT)
    for key in value:
        if key not in ADDRESS_KEYS:
            raise InvalidField(f"{name}.{str(key)[:64]}", FieldProblem.UNKNOWN_FIELD)
    return Address(**{key: text(value, key) or "" for key in ADDRESS_KEYS})


def details(values: Mapping[str, Any], base: Details, *, person: bool = True) -> Details:
    """`base` with the documented detail fields `values` carries; a company has only addresses."""
    changes: dict[str, Any] = {}
    if person:
        for name in DETAIL_TEXTS:
            if name == "birthdate":
                found = birthdate(values)
            else:
                found = (
                    text(values, name, MAX_NOTE, lines=True)
                    if name == "note"
                    else text(values, name)
                )
            if found is not None:
                changes[name] = found
        vip = boolean(values, "vip")
        if vip is not None:
            changes["vip"] = vip
    for kind in ADDRESS_KINDS:
        found_address = address(values, kind)
        if found_address is not None:
            changes[kind] = found_address
    return replace(base, **changes) if changes else base


def read_only_id(values: Mapping[str, Any], name: str, current: int) -> None:
    """Clients send back what GET gave them: a read-only id may come back, unchanged."""
    if name not in values:
        return
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidField(name, FieldProblem.NOT_AN_ID)
    if value != current:
        raise ConflictingField(name, FieldProblem.READ_ONLY)


CUSTOMER_FIELDS = frozenset(
    {
        "name",
        "surname",
        "phone_number",
        "phone_numbers",
        "email",
        "company_id",
        "identifier",
        "type",
        "group",
        "account_manager",
        "custom_fields",
        "company_flag",
        # The rest of what `POST customers` documents.
        "nip",
        "gender",
        "homepage",
        "birthdate",
        "note",
        "pesel",
        "job",
        "job_title",
        "vip",
        "fill_read_only_custom_fields",
        *ADDRESS_KINDS,
    }
)
# PUT also takes back the read-only fields GET shows.
CUSTOMER_UPDATE_FIELDS = CUSTOMER_FIELDS | {"customer_id", "updated_at"}
COMPANY_FIELDS = frozenset(
    {
        "name",
        "nip",
        "type",
        "group",
        "custom_fields",
        "phone_number",
        "phone_numbers",
        "identifier",
        "email",
        "account_manager",
        *ADDRESS_KINDS,
    }
)
COMPANY_UPDATE_FIELDS = COMPANY_FIELDS | {"company_id", "customer_id"}


def unknown_field(values: Mapping[str, Any], known: frozenset[str]) -> str | None:
    for key in values:
        if key not in known:
            return str(key)[:64]
    return None


def undocumented(values: Mapping[str, Any], known: frozenset[str]) -> list[str]:
    """The fields of `values` that Thulium does not document here, sorted: a write ignores
    them (clients in the wild send `note`, `external_id`...) and says so."""
    return sorted(str(key) for key in values if key not in known)


def every_problem(check: Callable[[Mapping[str, Any]], _T], values: Mapping[str, Any]) -> _T:
    """`check(values)`; when it refuses fields, every one of them, not only the first.

    The rules stay where they are (each check raises for the first field it refuses): the
    refused field is set aside and `values` checked again, until the rest passes or a refusal
    names no field of its own (a required one that is missing). One `InvalidField` is raised as
    it is; several as `InvalidFields`, one a field, in the order `values` has them. A conflict
    with the stored record (409) is only told when no field is malformed (400).
    """
    problems: dict[str, InvalidField] = {}
    remaining = dict(values)
    while True:
        try:
            result = check(remaining)
        except InvalidField as error:
            if error.field in problems:
                break
            problems[error.field] = error
            if error.field not in remaining:
                break
            del remaining[error.field]
        except ConflictingField:
            if not problems:
                raise
            break
        else:
            if not problems:
                return result
            break
    if len(problems) == 1:
        raise next(iter(problems.values()))
    # In the order the client wrote them; a missing one (a required field) last.
    order = {str(key): index for index, key in enumerate(values)}
    raise InvalidFields(sorted(problems.values(), key=lambda e: order.get(e.field, len(order))))


def customer_fields(
    values: Mapping[str, Any],
    phones: PhoneNumbers,
    *,
    kind: CustomerKind = CustomerKind.PERSON,
    base: CustomerFields | None = None,
) -> CustomerFields:
    """The card `values` describe; with `base`, a partial update of it (absent fields stay).

    A person needs a surname (Thulium's one required field); a company's card needs a name and
    has no surname.
    """
    old = base or CustomerFields()
    numbers = old.phone_numbers
    if values.get("phone_number") is not None or values.get("phone_numbers") is not None:
        numbers = _both_number_fields(values, phones)
    present, company_id = optional_id(values, "company_id")
    fields = CustomerFields(
        name=_or(text(values, "name"), old.name),
        surname=_or(text(values, "surname"), old.surname),
        phone_numbers=numbers,
        email=_or(text(values, "email"), old.email),
        company_id=company_id if present else old.company_id,
        identifier=_or(text(values, "identifier", 128), old.identifier),
        type=_or(text(values, "type"), old.type),
        group=_or(text(values, "group"), old.group),
        account_manager=_or(text(values, "account_manager"), old.account_manager),
        custom_fields=_or(custom_fields(values), old.custom_fields),
        nip=_or(text(values, "nip", MAX_NIP), old.nip),
        details=details(values, old.details),
    )
    boolean(values, "fill_read_only_custom_fields")  # kolejka has no read-only custom fields
    if kind is CustomerKind.COMPANY:
        # Well-formed for a person, but this card is a company's: a conflict, not a typo.
        if fields.surname:
            raise ConflictingField("surname", FieldProblem.MUST_BE_EMPTY)
        if fields.company_id is not None:
            raise ConflictingField("company_id", FieldProblem.MUST_BE_EMPTY)
        if not fields.name:
            raise ConflictingField("name", FieldProblem.REQUIRED)
    elif not fields.surname:
        raise InvalidField("surname", FieldProblem.REQUIRED)
    return fields


def company_fields(
    values: Mapping[str, Any], phones: PhoneNumbers, base: CompanyFields | None = None
) -> CompanyFields:
    """The company `values` describe; with `base`, a partial update. A company needs a name."""
    old = base or CompanyFields()
    numbers = old.phone_numbers
    if values.get("phone_number") is not None or values.get("phone_numbers") is not None:
        numbers = _both_number_fields(values, phones)
    fields = CompanyFields(
        name=_or(text(values, "name"), old.name),
        nip=_or(text(values, "nip", MAX_NIP), old.nip),
        type=_or(text(values, "type"), old.type),
        group=_or(text(values, "group"), old.group),
        custom_fields=_or(custom_fields(values), old.custom_fields),
        phone_numbers=numbers,
        identifier=_or(text(values, "identifier", 128), old.identifier),
        email=_or(text(values, "email"), old.email),
        account_manager=_or(text(values, "account_manager"), old.account_manager),
        details=details(values, old.details or NO_DETAILS, person=False),
    )
    if not fields.name:
        raise InvalidField("name", FieldProblem.REQUIRED)
    return fields


def parse_order(text_value: str, allowed: frozenset[str]) -> tuple[Order, ...]:
    """`surname,-updated_at` -> ascending surname, then newest first. A repeat changes nothing."""
    orders: dict[str, Order] = {}
    for part in text_value.split(","):
        descending = part.startswith("-")
        name = part.removeprefix("-")
        if name not in allowed:
            raise InvalidField("order", FieldProblem.NOT_SORTABLE)
        orders.setdefault(name, Order(name, descending))
    return tuple(orders.values())


def _both_number_fields(values: Mapping[str, Any], phones: PhoneNumbers) -> tuple[PhoneNumber, ...]:
    """`phone_number` (Thulium's, one or more) and `phone_numbers` (as GET shows them), merged."""
    given = phone_numbers(values.get("phone_number"), phones, "phone_number")
    more = phone_numbers(values.get("phone_numbers"), phones, "phone_numbers")
    return distinct((*given, *more))


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value
