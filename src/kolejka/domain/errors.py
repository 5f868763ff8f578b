"""What can go wrong in the trade's terms. The HTTP adapter maps each class to a status and code."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


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


class NoNumberToCall(DomainError):
    """The waiting call's number cannot be called back: withheld, or not a phone number."""

    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} has no number to call back")
        self.call_id = call_id


class UnknownConnection(DomainError):
    def __init__(self, connection_id: str) -> None:
        super().__init__(f"no call {connection_id!r} in the call history")
        self.connection_id = connection_id


class NotAbandoned(DomainError):
    """The number is not on the queue's abandoned list: it did not abandon the queue today, or
    it was reached since."""

    def __init__(self, queue_id: int, phone_number: str) -> None:
        super().__init__(f"{phone_number} is not on queue {queue_id}'s abandoned list")
        self.queue_id = queue_id
        self.phone_number = phone_number


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
    # The call history's
    NOT_A_DATE_OR_TIME = "must be a date: YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS]."
    NOT_A_QUERY_FLAG = "must be 0, 1, true or false."
    REPEATED_TOO_OFTEN = "may be given at most {high} times."
    GIVEN_TWICE = "may be given only once."
    CONTROL_CHARACTERS = "must not contain control characters."
    BLANK_AT_AN_END = "must not begin or end with a space or an invisible character."
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
    UNKNOWN_PARAMETER = "is not a known parameter; this endpoint takes {supported}."
    IDENTIFIER_REQUIRED = "is required: imports match customers by it."
    ONLY_FOR_COMPANIES = "is only for companies (company_flag 1)."
    NOT_A_BOOLEAN = "must be true or false."
    NOT_A_DATE = "must be a date, YYYY-MM-DD."
    # Agents'
    NOT_A_LOGIN = "must be 1-64 letters, digits or . _ @ + -, starting with a letter or digit."
    # Callbacks'
    NOT_A_WIRE_DATE = "must be a date as YYYY-MM-DD HH:MM:SS."
    TOO_FAR_AHEAD = "is more than {days} days ahead."
    NOT_A_DIAL_OUTCOME = (
        "must be 'answered', 'busy', 'no_answer', 'congestion', 'rejected' or 'failed'."
    )
    NOT_A_MEMBER_EVENT = (
        "must be one of added, removed, paused, unpaused, ringing, ring_no_answer, connected,"
        " completed."
    )
    NOT_A_COMPLETER = "must be 'agent', 'caller' or 'transfer'."
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


class InvalidFields(DomainError):
    """Several fields of one request are missing or malformed: one `InvalidField` a field, so a
    client fixes them all in one round trip."""

    def __init__(self, errors: list[InvalidField]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


class FieldErrors:
    """A body's field errors, gathered so that one 400 names every wrong field (docs/api.md,
    Errors): `take` runs one field's check and keeps its error, `raise_any` ends the checking."""

    def __init__(self, body: Mapping[str, Any], known: set[str] | frozenset[str]) -> None:
        self.found: list[InvalidField] = [
            InvalidField(str(key)[:64], FieldProblem.UNKNOWN_FIELD)
            for key in body
            if key not in known
        ]

    def take(self, check: Callable[[], T], instead: T) -> T:
        """What `check` returns, or `instead` when it finds the field wrong (kept for later)."""
        try:
            return check()
        except InvalidField as error:
            self.found.append(error)
            return instead

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise InvalidFields(self.found)


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


# Agents (issue 13) -----------------------------------------------------------------------------


class UnknownAgent(DomainError):
    def __init__(self, login: str) -> None:
        super().__init__(f"agent {login!r} does not exist")
        self.login = login


class UnknownPause(DomainError):
    """A `pause_id` that names no pause of `system/pauses`."""

    def __init__(self, pause_id: int) -> None:
        super().__init__(f"pause {pause_id} does not exist")
        self.pause_id = pause_id


class AgentLoggedOut(DomainError):
    """Pausing or freeing an agent who is a member of no queue: there is nothing to pause."""

    def __init__(self, login: str) -> None:
        super().__init__(f"agent {login!r} is not logged in to any queue")
        self.login = login


class NoQueuesToLogIn(DomainError):
    """A login without a queue list for an agent with no configured queues."""

    def __init__(self, login: str) -> None:
        super().__init__(f"agent {login!r} has no configured queues")
        self.login = login


class NoPbxInterface(DomainError):
    """kolejka knows no PBX interface (`PJSIP/201`) to log this agent in with."""

    def __init__(self, login: str) -> None:
        super().__init__(f"no PBX interface is known for agent {login!r}")
        self.login = login


class PbxRefused(DomainError):
    """The PBX answered the action, with a refusal; `reason` is its own words."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"the PBX refused {action}: {reason}")
        self.action = action
        self.reason = reason


class PbxUnavailable(DomainError):
    """No action can reach the PBX now: no link is configured, it is down, or it did not answer.

    `confirmed_nothing` is False only when the action went out and no answer came: the PBX may
    then have done it (the agent's status tells)."""

    def __init__(self, reason: str, *, confirmed_nothing: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.confirmed_nothing = confirmed_nothing


class AgentExists(DomainError):
    """Another agent has this login."""

    def __init__(self, login: str) -> None:
        super().__init__(f"an agent with login {login!r} exists")
        self.login = login


# Callbacks (issue 15) --------------------------------------------------------------------------


class UnknownCallback(DomainError):
    """No scheduled call of this id in this queue."""

    def __init__(self, queue_id: int, callback_id: int) -> None:
        super().__init__(f"scheduled call {callback_id} is not in queue {queue_id}")
        self.queue_id = queue_id
        self.callback_id = callback_id


class CallbackNotPending(DomainError):
    """Only a pending callback can be cancelled: one being dialled or finished cannot."""

    def __init__(self, callback_id: int, state: str) -> None:
        super().__init__(f"scheduled call {callback_id} is {state}, not pending")
        self.callback_id = callback_id
        self.state = state


class StaleClaim(DomainError):
    """An outcome reported for a claim that is no longer the callback's (it timed out)."""

    def __init__(self, callback_id: int) -> None:
        super().__init__(f"the claim on scheduled call {callback_id} is not held any more")
        self.callback_id = callback_id
