"""What can go wrong in the trade's terms. The HTTP adapter maps each class to a status and code."""

from __future__ import annotations

import enum
from collections.abc import Mapping


class DomainError(Exception):
    """Base of the errors a client can cause; never a bug."""


class UnknownQueue(DomainError):
    def __init__(self, queue_id: int) -> None:
        super().__init__(f"queue {queue_id} does not exist")
        self.queue_id = queue_id


class UnknownCaller(DomainError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} is not waiting")
        self.call_id = call_id


class CallerAlreadyWaiting(DomainError):
    """The call waits in another queue; it must leave that one first."""

    def __init__(self, call_id: str, queue_id: int) -> None:
        super().__init__(f"call {call_id!r} is already waiting in queue {queue_id}")
        self.call_id = call_id
        self.queue_id = queue_id


class FieldProblem(enum.Enum):
    """What can be wrong with one field; the value is the English, `{low}`-style gaps and all.

    The HTTP adapter keys its Polish by the member (adapters/http/errors.py), and a test there
    fails when a member has none.
    """

    REQUIRED = "is required."
    NOT_A_STRING = "must be a string."
    NOT_AN_OBJECT = "must be an object."
    NOT_A_COUNT = "must be a non-negative integer."
    TOO_LONG = "is too long."
    NOT_AN_OUTCOME = "must be 'answered' or 'abandoned'."
    CONTROL_CHARACTERS = "must not contain control characters."
    UNKNOWN_FIELD = "is not a known field."
    # A request body's string or key that JSON let through but no text encoder can write.
    LONE_SURROGATE = "must be valid Unicode text: it holds a lone surrogate."
    KEY_LONE_SURROGATE = "has a key that is not valid Unicode text."
    # The same, as an import file's report says it.
    IMPORT_LONE_SURROGATE = "is not valid Unicode (it holds a lone surrogate)."
    IMPORT_KEY_LONE_SURROGATE = "has a key that is not valid Unicode (it holds a lone surrogate)."
    # The CRM's
    NOT_A_PHONE_NUMBER = "is not a phone number."
    TOO_MANY_NUMBERS = "has more than 20 phone numbers."
    NOT_NUMBERS = "must be a string or a list of strings."
    NOT_CUSTOM_FIELDS = "must be an object of up to 20 text values."
    NOT_AN_ID = "must be a positive integer id or empty."
    NOT_A_FLAG = "must be 0 or 1."
    COMPANY_FLAG_HERE = "cannot change here: companies are made through /api/companies."
    MUST_BE_EMPTY = "must be empty on a company's card."
    READ_ONLY = "cannot be changed."
    TOO_MANY_ITEMS = "has more than 1000 items."
    NOT_AN_ARRAY = "must be an array."
    NOT_SORTABLE = "must name sortable fields."
    OUT_OF_RANGE = "must be an integer from {low} to {high}."
    UNKNOWN_PARAMETER = "is not a known parameter."
    IDENTIFIER_REQUIRED = "is required: imports match customers by it."
    ONLY_FOR_COMPANIES = "is only for companies (company_flag 1)."
    # Webhooks'
    UNKNOWN_ACTION = "is not a known action (docs/webhooks.md lists them)."
    NOT_A_URL = "must be an absolute http(s) URL with a host and no user or password."
    HTTPS_REQUIRED = "must be an https URL."

    def text(self, values: Mapping[str, object]) -> str:
        """The English, its gaps filled from `values`."""
        return self.value.format_map(values) if values else self.value


class FieldError(DomainError):
    """A problem with one named field: a member and the values its sentence needs (`low`,
    `high`)."""

    def __init__(self, field: str, problem: FieldProblem, **values: object) -> None:
        self.field = field
        self.problem = problem
        self.values = values
        super().__init__(f"{field}: {self.text()}")

    def text(self) -> str:
        """The problem in English."""
        return self.problem.text(self.values)


class InvalidField(FieldError):
    """A field of a request is missing or malformed; `field` names it for the client."""


class StoreUnavailable(DomainError):
    """A backing store (database, cache) cannot be reached right now."""


class UnknownCustomer(DomainError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"customer {customer_id} does not exist")
        self.customer_id = customer_id


class UnknownCompany(DomainError):
    def __init__(self, company_id: int) -> None:
        super().__init__(f"company {company_id} does not exist")
        self.company_id = company_id


class IdentifierTaken(DomainError):
    """Another customer has this `identifier`; identifiers name one customer each."""

    def __init__(self, identifier: str) -> None:
        super().__init__(f"identifier {identifier!r} belongs to another customer")
        self.identifier = identifier


class CompanyCard(DomainError):
    """The customer card stands for a company, which is changed or deleted as a company."""

    def __init__(self, customer_id: int, company_id: int) -> None:
        super().__init__(f"customer {customer_id} is the card of company {company_id}")
        self.customer_id = customer_id
        self.company_id = company_id


class ConflictingField(FieldError):
    """A well-formed field that the stored record cannot take (a company's card with a surname)."""


class LoginThrottled(DomainError):
    """Too many failed logins from this address or for this user name; retry after `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins; retry in {seconds} s")
        self.seconds = seconds
