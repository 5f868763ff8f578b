"""What can go wrong in the trade's terms. The HTTP adapter maps each class to a status and code."""

from __future__ import annotations


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


class InvalidField(DomainError):
    """A field of a request is missing or malformed; `field` names it for the client."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


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


class ConflictingField(DomainError):
    """A well-formed field that the stored record cannot take (a company's card with a surname)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class LoginThrottled(DomainError):
    """Too many failed logins from this address or for this user name; retry after `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins; retry in {seconds} s")
        self.seconds = seconds
