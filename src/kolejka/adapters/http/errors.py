"""The error envelope: every error kind with its status, stable code and messages.

`{"request_id": "...", "errors": [{"message": "...", "code": 404002}]}` is Thulium's documented
shape. Codes are the status times 1000 plus a number, and never change meaning once released;
docs/api.md lists them. Messages are English, or Polish for `Accept-Language: pl`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kolejka.domain.errors import (
    CallerAlreadyWaiting,
    CompanyCard,
    ConflictingField,
    DomainError,
    FieldProblem,
    IdentifierTaken,
    InvalidField,
    LoginThrottled,
    StoreUnavailable,
    UnknownCaller,
    UnknownCompany,
    UnknownCustomer,
    UnknownQueue,
)
from kolejka.domain.webhooks import UnknownParkedEvent, UnknownWebhook, WebhooksOff


@dataclass(frozen=True, slots=True)
class ErrorKind:
    code: int
    status: int
    en: str
    pl: str


BAD_ID = ErrorKind(
    400001,
    400,
    "Invalid {field}: expected a positive integer.",
    "Nieprawidłowy parametr {field}: oczekiwano dodatniej liczby całkowitej.",
)
BAD_JSON = ErrorKind(
    400002, 400, "The request body is not valid JSON.", "Treść żądania nie jest poprawnym JSON-em."
)
BAD_FIELD = ErrorKind(
    400003, 400, "Invalid field {field}: {problem}", "Nieprawidłowe pole {field}: {problem_pl}"
)
AUTH_REQUIRED = ErrorKind(
    401001,
    401,
    "Authentication required: send HTTP Basic credentials of an API user.",
    "Wymagane uwierzytelnienie: podaj dane użytkownika API (HTTP Basic).",
)
AUTH_FAILED = ErrorKind(
    401002,
    401,
    "Wrong API user name or password.",
    "Nieprawidłowa nazwa użytkownika API lub hasło.",
)
BAD_TOKEN = ErrorKind(
    401003,
    401,
    "The wallboard token is wrong or was revoked.",
    "Token tablicy jest nieprawidłowy lub został unieważniony.",
)
FORBIDDEN = ErrorKind(
    403001,
    403,
    "API user {user} may not call {permission}.",
    "Użytkownik API {user} nie ma uprawnienia {permission}.",
)
NOT_FOUND = ErrorKind(404001, 404, "No such endpoint.", "Nie ma takiego zasobu API.")
UNKNOWN_QUEUE = ErrorKind(
    404002, 404, "Queue {queue_id} does not exist.", "Kolejka {queue_id} nie istnieje."
)
UNKNOWN_CALLER = ErrorKind(
    404003,
    404,
    "Call {call_id} is not waiting in this queue.",
    "Połączenie {call_id} nie oczekuje w tej kolejce.",
)
METHOD_NOT_ALLOWED = ErrorKind(
    405001,
    405,
    "Method {method} is not allowed here; allowed: {allowed}.",
    "Metoda {method} nie jest tu dozwolona; dozwolone: {allowed}.",
)
CALLER_ELSEWHERE = ErrorKind(
    409001,
    409,
    "Call {call_id} is already waiting in queue {queue_id}.",
    "Połączenie {call_id} oczekuje już w kolejce {queue_id}.",
)
TOO_LARGE = ErrorKind(
    413001,
    413,
    "The request body is larger than {limit} bytes.",
    "Treść żądania przekracza {limit} bajtów.",
)
NOT_JSON_TYPE = ErrorKind(
    415001,
    415,
    "The request body must be sent as Content-Type: application/json.",
    "Treść żądania musi mieć nagłówek Content-Type: application/json.",
)
INTERNAL = ErrorKind(
    500001,
    500,
    "Internal error; quote the request id when reporting it.",
    "Błąd wewnętrzny; podaj identyfikator żądania, zgłaszając go.",
)
UNKNOWN_CUSTOMER = ErrorKind(
    404004, 404, "Customer {customer_id} does not exist.", "Klient {customer_id} nie istnieje."
)
UNKNOWN_COMPANY = ErrorKind(
    404005, 404, "Company {company_id} does not exist.", "Firma {company_id} nie istnieje."
)
IDENTIFIER_TAKEN = ErrorKind(
    409002,
    409,
    "Another customer has the identifier {identifier}.",
    "Inny klient ma już identyfikator {identifier}.",
)
COMPANY_CARD = ErrorKind(
    409003,
    409,
    "Customer {customer_id} stands for company {company_id}; delete the company instead.",
    "Klient {customer_id} reprezentuje firmę {company_id}; usuń firmę zamiast niego.",
)
CONFLICTING_FIELD = ErrorKind(
    409004,
    409,
    "Field {field} conflicts with the stored record: {problem}",
    "Pole {field} jest sprzeczne z zapisanym rekordem: {problem_pl}",
)
BAD_HTTP = ErrorKind(
    400004, 400, "The request is not valid HTTP.", "Żądanie nie jest poprawnym żądaniem HTTP."
)
REQUEST_TIMEOUT = ErrorKind(
    408001,
    408,
    "The request did not arrive in time.",
    "Żądanie nie dotarło w wyznaczonym czasie.",
)
HEADERS_TOO_LARGE = ErrorKind(
    431001,
    431,
    "The request headers are larger than {limit} bytes.",
    "Nagłówki żądania przekraczają {limit} bajtów.",
)
THROTTLED = ErrorKind(
    429001,
    429,
    "Too many failed logins; try again in {seconds} s.",
    "Zbyt wiele nieudanych logowań; spróbuj ponownie za {seconds} s.",
)
UNAVAILABLE = ErrorKind(
    503001,
    503,
    "A backing store is unavailable; try again shortly.",
    "Magazyn danych jest chwilowo niedostępny; spróbuj ponownie za chwilę.",
)

UNKNOWN_WEBHOOK = ErrorKind(
    404016, 404, "Webhook {webhook_id} does not exist.", "Webhook {webhook_id} nie istnieje."
)
UNKNOWN_PARKED_EVENT = ErrorKind(
    404017,
    404,
    "Event {event_id} is not parked for webhook {webhook_id}.",
    "Zdarzenie {event_id} nie czeka wstrzymane dla webhooka {webhook_id}.",
)
WEBHOOKS_OFF = ErrorKind(
    503016,
    503,
    "Webhooks are off: the service has no KOLEJKA_WEBHOOK_KEY.",
    "Webhooki są wyłączone: usługa nie ma ustawionego KOLEJKA_WEBHOOK_KEY.",
)

ALL_KINDS = [
    BAD_HTTP,
    REQUEST_TIMEOUT,
    HEADERS_TOO_LARGE,
    THROTTLED,
    BAD_ID,
    BAD_JSON,
    BAD_FIELD,
    AUTH_REQUIRED,
    AUTH_FAILED,
    BAD_TOKEN,
    FORBIDDEN,
    NOT_FOUND,
    UNKNOWN_QUEUE,
    UNKNOWN_CALLER,
    METHOD_NOT_ALLOWED,
    CALLER_ELSEWHERE,
    TOO_LARGE,
    NOT_JSON_TYPE,
    INTERNAL,
    UNAVAILABLE,
    UNKNOWN_CUSTOMER,
    UNKNOWN_COMPANY,
    IDENTIFIER_TAKEN,
    COMPANY_CARD,
    CONFLICTING_FIELD,
    UNKNOWN_WEBHOOK,
    UNKNOWN_PARKED_EVENT,
    WEBHOOKS_OFF,
]

# Every FieldProblem in Polish, with the same `{gaps}` as the English.
PROBLEMS_PL: dict[FieldProblem, str] = {
    FieldProblem.REQUIRED: "jest wymagane.",
    FieldProblem.NOT_A_STRING: "musi być tekstem.",
    FieldProblem.NOT_AN_OBJECT: "musi być obiektem.",
    FieldProblem.NOT_A_COUNT: "musi być nieujemną liczbą całkowitą.",
    FieldProblem.TOO_LONG: "jest za długie.",
    FieldProblem.NOT_AN_OUTCOME: "musi mieć wartość 'answered' lub 'abandoned'.",
    FieldProblem.CONTROL_CHARACTERS: "nie może zawierać znaków sterujących.",
    FieldProblem.UNKNOWN_FIELD: "nie jest znanym polem.",
    FieldProblem.LONE_SURROGATE: "musi być poprawnym tekstem Unicode: zawiera samotny surogat.",
    FieldProblem.KEY_LONE_SURROGATE: "ma klucz, który nie jest poprawnym tekstem Unicode.",
    FieldProblem.IMPORT_LONE_SURROGATE: "nie jest poprawnym Unicode (zawiera samotny surogat).",
    FieldProblem.IMPORT_KEY_LONE_SURROGATE: (
        "ma klucz, który nie jest poprawnym Unicode (zawiera samotny surogat)."
    ),
    FieldProblem.NOT_A_PHONE_NUMBER: "nie jest numerem telefonu.",
    FieldProblem.TOO_MANY_NUMBERS: "ma więcej niż 20 numerów telefonu.",
    FieldProblem.NOT_NUMBERS: "musi być tekstem lub listą tekstów.",
    FieldProblem.NOT_CUSTOM_FIELDS: "musi być obiektem o najwyżej 20 wartościach tekstowych.",
    FieldProblem.NOT_AN_ID: "musi być dodatnim identyfikatorem lub puste.",
    FieldProblem.NOT_A_FLAG: "musi mieć wartość 0 lub 1.",
    FieldProblem.COMPANY_FLAG_HERE: (
        "nie może się tu zmienić: firmy tworzy się przez /api/companies."
    ),
    FieldProblem.MUST_BE_EMPTY: "musi być puste na karcie firmy.",
    FieldProblem.READ_ONLY: "nie może być zmienione.",
    FieldProblem.TOO_MANY_ITEMS: "ma więcej niż 1000 elementów.",
    FieldProblem.NOT_AN_ARRAY: "musi być tablicą.",
    FieldProblem.NOT_SORTABLE: "musi wymieniać pola, po których można sortować.",
    FieldProblem.OUT_OF_RANGE: "musi być liczbą całkowitą od {low} do {high}.",
    FieldProblem.UNKNOWN_PARAMETER: "nie jest znanym parametrem.",
    FieldProblem.IDENTIFIER_REQUIRED: "jest wymagane: import dopasowuje klientów po nim.",
    FieldProblem.ONLY_FOR_COMPANIES: "dotyczy tylko firm (company_flag 1).",
    FieldProblem.UNKNOWN_ACTION: "nie jest znaną akcją (wymienia je docs/webhooks.md).",
    FieldProblem.NOT_A_URL: (
        "musi być bezwzględnym adresem http(s) z nazwą hosta, bez użytkownika i hasła."
    ),
    FieldProblem.HTTPS_REQUIRED: "musi być adresem https.",
}


class ApiError(Exception):
    """An error answer: one kind and the values its message needs (`problem`, a member, for the
    kinds about a field)."""

    def __init__(
        self, kind: ErrorKind, *, problem: FieldProblem | None = None, **values: object
    ) -> None:
        super().__init__(kind.en)
        self.kind = kind
        self.problem = problem
        self.values = values
        self.headers: list[tuple[bytes, bytes]] = []

    def message(self, language: str) -> str:
        template = self.kind.pl if language == "pl" else self.kind.en
        if self.problem is None:
            return template.format(**self.values)
        values = dict(self.values)
        values["problem"] = self.problem.text(self.values)
        values["problem_pl"] = PROBLEMS_PL[self.problem].format_map(self.values)
        return template.format(**values)


def from_domain(error: DomainError) -> ApiError:
    """The one place that turns the trade's errors into HTTP answers."""
    if isinstance(error, UnknownQueue):
        return ApiError(UNKNOWN_QUEUE, queue_id=error.queue_id)
    if isinstance(error, UnknownCaller):
        return ApiError(UNKNOWN_CALLER, call_id=json.dumps(error.call_id))
    if isinstance(error, CallerAlreadyWaiting):
        call_id = json.dumps(error.call_id)
        return ApiError(CALLER_ELSEWHERE, call_id=call_id, queue_id=error.queue_id)
    if isinstance(error, InvalidField):
        return ApiError(BAD_FIELD, field=error.field, problem=error.problem, **error.values)
    if isinstance(error, UnknownCustomer):
        return ApiError(UNKNOWN_CUSTOMER, customer_id=error.customer_id)
    if isinstance(error, UnknownCompany):
        return ApiError(UNKNOWN_COMPANY, company_id=error.company_id)
    if isinstance(error, IdentifierTaken):
        return ApiError(
            IDENTIFIER_TAKEN, identifier=json.dumps(error.identifier, ensure_ascii=False)
        )
    if isinstance(error, ConflictingField):
        return ApiError(CONFLICTING_FIELD, field=error.field, problem=error.problem, **error.values)
    if isinstance(error, CompanyCard):
        return ApiError(COMPANY_CARD, customer_id=error.customer_id, company_id=error.company_id)
    if isinstance(error, LoginThrottled):
        throttled = ApiError(THROTTLED, seconds=error.seconds)
        throttled.headers.append((b"retry-after", str(error.seconds).encode()))
        return throttled
    if isinstance(error, StoreUnavailable):
        return ApiError(UNAVAILABLE)
    if isinstance(error, UnknownWebhook):
        return ApiError(UNKNOWN_WEBHOOK, webhook_id=error.webhook_id)
    if isinstance(error, UnknownParkedEvent):
        return ApiError(UNKNOWN_PARKED_EVENT, webhook_id=error.webhook_id, event_id=error.event_id)
    if isinstance(error, WebhooksOff):
        return ApiError(WEBHOOKS_OFF)
    return ApiError(INTERNAL)


def envelope(request_id: str, errors: list[ApiError], language: str) -> bytes:
    body = {
        "request_id": request_id,
        "errors": [{"message": e.message(language), "code": e.kind.code} for e in errors],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def preferred_language(accept_language: bytes | None) -> str:
    """`pl` when the client prefers Polish over English, else `en`."""
    if not accept_language:
        return "en"
    best, best_q = "en", 0.0
    for part in accept_language.decode("latin-1")[:512].split(","):
        tag, _, params = part.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        if language not in ("pl", "en", "*"):
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = ("en" if language == "*" else language), q
    return best
