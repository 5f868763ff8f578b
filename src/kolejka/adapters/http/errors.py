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
    DomainError,
    InvalidField,
    StoreUnavailable,
    UnknownCaller,
    UnknownQueue,
)


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
INTERNAL = ErrorKind(
    500001,
    500,
    "Internal error; quote the request id when reporting it.",
    "Błąd wewnętrzny; podaj identyfikator żądania, zgłaszając go.",
)
UNAVAILABLE = ErrorKind(
    503001,
    503,
    "A backing store is unavailable; try again shortly.",
    "Magazyn danych jest chwilowo niedostępny; spróbuj ponownie za chwilę.",
)

ALL_KINDS = [
    BAD_ID,
    BAD_JSON,
    BAD_FIELD,
    AUTH_REQUIRED,
    AUTH_FAILED,
    FORBIDDEN,
    NOT_FOUND,
    UNKNOWN_QUEUE,
    UNKNOWN_CALLER,
    METHOD_NOT_ALLOWED,
    CALLER_ELSEWHERE,
    TOO_LARGE,
    INTERNAL,
    UNAVAILABLE,
]

# What InvalidField.problem may say, in both languages.
PROBLEMS_PL = {
    "is required.": "jest wymagane.",
    "must be a string.": "musi być tekstem.",
    "must be an object.": "musi być obiektem.",
    "must be a non-negative integer.": "musi być nieujemną liczbą całkowitą.",
    "is too long.": "jest za długie.",
    "must be 'answered' or 'abandoned'.": "musi mieć wartość 'answered' lub 'abandoned'.",
    "must be a date 'YYYY-MM-DD HH:MM:SS' or ISO 8601 with an offset.": (
        "musi być datą 'RRRR-MM-DD GG:MM:SS' lub ISO 8601 ze strefą."
    ),
    "must not contain control characters.": "nie może zawierać znaków sterujących.",
    "is not a known field.": "nie jest znanym polem.",
}


class ApiError(Exception):
    """An error answer: one kind and the values its message needs."""

    def __init__(self, kind: ErrorKind, **values: object) -> None:
        super().__init__(kind.en)
        self.kind = kind
        self.values = values
        self.headers: list[tuple[bytes, bytes]] = []

    def message(self, language: str) -> str:
        template = self.kind.pl if language == "pl" else self.kind.en
        values = dict(self.values)
        problem = str(values.get("problem", ""))
        values["problem_pl"] = PROBLEMS_PL.get(problem, problem)
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
        return ApiError(BAD_FIELD, field=error.field, problem=error.problem)
    if isinstance(error, StoreUnavailable):
        return ApiError(UNAVAILABLE)
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
