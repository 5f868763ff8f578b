"""The error envelope: every error kind with its status, stable code and messages.

`{"request_id": "...", "errors": [{"message": "...", "code": 404002}]}` is Thulium's documented
shape. Codes are the status times 1000 plus a number, and never change meaning once released;
docs/api.md lists them. Messages are English, or Polish for `Accept-Language: pl`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kolejka.domain.errors import (
    AgentExists,
    AgentLoggedOut,
    CallbackNotPending,
    CallerAlreadyWaiting,
    CompanyCard,
    ConflictingField,
    DomainError,
    FieldProblem,
    IdentifierTaken,
    InvalidField,
    InvalidFields,
    LoginThrottled,
    NoNumberToCall,
    NoPbxInterface,
    NoQueuesToLogIn,
    NotAbandoned,
    PbxRefused,
    PbxUnavailable,
    StaleClaim,
    StoreUnavailable,
    UnknownAgent,
    UnknownCallback,
    UnknownCaller,
    UnknownCompany,
    UnknownConnection,
    UnknownCustomer,
    UnknownPause,
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
UNKNOWN_CONNECTION = ErrorKind(
    404008,
    404,
    "Call {connection_id} is not in the call history.",
    "Połączenia {connection_id} nie ma w historii połączeń.",
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
UNKNOWN_AGENT = ErrorKind(
    404006, 404, "Agent {login} does not exist.", "Agent {login} nie istnieje."
)
AGENT_EXISTS = ErrorKind(
    409005, 409, "Another agent has the login {login}.", "Inny agent ma już login {login}."
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

# Agents' control through the PBX (issue 13). UNKNOWN_AGENT (404006) is beside the agents' store.
UNKNOWN_PAUSE = ErrorKind(
    404007,
    404,
    "Pause {pause_id} does not exist; GET /api/system/pauses lists them.",
    "Pauza {pause_id} nie istnieje; listę podaje GET /api/system/pauses.",
)
AGENT_LOGGED_OUT = ErrorKind(
    409006,
    409,
    "Agent {login} is not logged in to any queue.",
    "Agent {login} nie jest zalogowany do żadnej kolejki.",
)
PBX_REFUSED = ErrorKind(
    409007,
    409,
    "The PBX refused {action}: {reason}. Nothing was changed.",
    "Centrala odmówiła {action}: {reason}. Nic nie zostało zmienione.",
)
NO_PBX_INTERFACE = ErrorKind(
    409008,
    409,
    "The PBX has not reported agent {login} yet, and KOLEJKA_AMI_MEMBER_INTERFACE is not set:"
    " no interface to log the agent in with.",
    "Centrala nie zgłosiła jeszcze agenta {login}, a KOLEJKA_AMI_MEMBER_INTERFACE nie jest"
    " ustawione: nie ma interfejsu, którym można go zalogować.",
)
NO_QUEUES = ErrorKind(
    409009,
    409,
    "Agent {login} has no configured queues: name them in queues.",
    "Agent {login} nie ma przypisanych kolejek: podaj je w queues.",
)
PBX_UNAVAILABLE = ErrorKind(
    503002,
    503,
    "The PBX cannot be reached: {reason}. Nothing was changed; try again.",
    "Centrala jest nieosiągalna: {reason}. Nic nie zostało zmienione; spróbuj ponownie.",
)
PBX_UNCONFIRMED = ErrorKind(
    503003,
    503,
    "The PBX did not confirm in time; the agent's status shows whether it happened.",
    "Centrala nie potwierdziła na czas; status agenta pokaże, czy to nastąpiło.",
)

# Callbacks (issue 15): codes numbered after the issue, as the other waves' are.
UNKNOWN_CALLBACK = ErrorKind(
    404015,
    404,
    "Scheduled call {callback_id} does not exist in queue {queue_id}.",
    "Zaplanowane połączenie {callback_id} nie istnieje w kolejce {queue_id}.",
)
CALLBACK_NOT_PENDING = ErrorKind(
    409015,
    409,
    "Scheduled call {callback_id} is {state}: only a pending call can be cancelled.",
    "Zaplanowane połączenie {callback_id} ma stan {state}: anulować można tylko oczekujące.",
)
STALE_CLAIM = ErrorKind(
    409115,
    409,
    "The claim on scheduled call {callback_id} is not held any more (it lapsed, or was"
    " reported already); nothing was recorded.",
    "Zajęcie zaplanowanego połączenia {callback_id} już nie obowiązuje (wygasło lub zostało"
    " już zgłoszone); nic nie zapisano.",
)
NO_NUMBER_TO_CALL = ErrorKind(
    409040,
    409,
    "Call {call_id} has no phone number to call back (withheld, or not a number).",
    "Połączenie {call_id} nie ma numeru, pod który można oddzwonić (zastrzeżony lub"
    " nieprawidłowy).",
)

# Abandoned callers to call back (issue 14 part 3, issue 15 part 5).
NOT_ABANDONED = ErrorKind(
    404020,
    404,
    "Number {phone_number} is not on queue {queue_id}'s abandoned list: it did not abandon the"
    " queue today, or it was reached since.",
    "Numeru {phone_number} nie ma na liście porzuconych połączeń kolejki {queue_id}: nie"
    " porzucił dziś tej kolejki albo już się z nim połączono.",
)

# Webhooks (issue 16).
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
    NOT_ABANDONED,
    UNKNOWN_CALLBACK,
    CALLBACK_NOT_PENDING,
    STALE_CLAIM,
    NO_NUMBER_TO_CALL,
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
    UNKNOWN_CONNECTION,
    METHOD_NOT_ALLOWED,
    CALLER_ELSEWHERE,
    TOO_LARGE,
    NOT_JSON_TYPE,
    INTERNAL,
    UNAVAILABLE,
    UNKNOWN_PAUSE,
    AGENT_LOGGED_OUT,
    PBX_REFUSED,
    NO_PBX_INTERFACE,
    NO_QUEUES,
    PBX_UNAVAILABLE,
    PBX_UNCONFIRMED,
    UNKNOWN_CUSTOMER,
    UNKNOWN_COMPANY,
    IDENTIFIER_TAKEN,
    COMPANY_CARD,
    CONFLICTING_FIELD,
    UNKNOWN_AGENT,
    AGENT_EXISTS,
    UNKNOWN_WEBHOOK,
    UNKNOWN_PARKED_EVENT,
    WEBHOOKS_OFF,
]

# Every FieldProblem in Polish, with the same `{gaps}` as the English.
PROBLEMS_PL: dict[FieldProblem, str] = {
    FieldProblem.NOT_A_DATE_OR_TIME: "musi być datą: RRRR-MM-DD lub RRRR-MM-DD GG:MM[:SS].",
    FieldProblem.NOT_A_QUERY_FLAG: "musi być 0, 1, true lub false.",
    FieldProblem.REQUIRED: "jest wymagane.",
    FieldProblem.NOT_A_STRING: "musi być tekstem.",
    FieldProblem.NOT_AN_OBJECT: "musi być obiektem.",
    FieldProblem.NOT_A_COUNT: "musi być nieujemną liczbą całkowitą.",
    FieldProblem.TOO_LONG: "jest za długie.",
    FieldProblem.NOT_AN_OUTCOME: "musi mieć wartość 'answered' lub 'abandoned'.",
    FieldProblem.CONTROL_CHARACTERS: "nie może zawierać znaków sterujących.",
    FieldProblem.BLANK_AT_AN_END: (
        "nie może zaczynać się ani kończyć spacją ani znakiem niewidocznym."
    ),
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
    FieldProblem.REPEATED_TOO_OFTEN: "można podać najwyżej {high} razy.",
    FieldProblem.GIVEN_TWICE: "można podać tylko raz.",
    FieldProblem.NOT_AN_ARRAY: "musi być tablicą.",
    FieldProblem.NOT_SORTABLE: "musi wymieniać pola, po których można sortować.",
    FieldProblem.OUT_OF_RANGE: "musi być liczbą całkowitą od {low} do {high}.",
    FieldProblem.UNKNOWN_PARAMETER: "nie jest znanym parametrem; ten zasób przyjmuje {supported}.",
    FieldProblem.IDENTIFIER_REQUIRED: "jest wymagane: import dopasowuje klientów po nim.",
    FieldProblem.ONLY_FOR_COMPANIES: "dotyczy tylko firm (company_flag 1).",
    FieldProblem.NOT_A_BOOLEAN: "musi mieć wartość true lub false.",
    FieldProblem.NOT_A_DATE: "musi być datą w postaci RRRR-MM-DD.",
    FieldProblem.NOT_A_MEMBER_EVENT: (
        "musi mieć jedną z wartości added, removed, paused, unpaused, ringing, ring_no_answer,"
        " connected, completed."
    ),
    FieldProblem.NOT_A_COMPLETER: "musi mieć wartość 'agent', 'caller' lub 'transfer'.",
    FieldProblem.NOT_A_LOGIN: (
        "musi mieć 1-64 litery, cyfry lub . _ @ + - i zaczynać się literą lub cyfrą."
    ),
    FieldProblem.NOT_A_WIRE_DATE: "musi być datą w postaci RRRR-MM-DD GG:MM:SS.",
    FieldProblem.TOO_FAR_AHEAD: "wypada dalej niż za {days} dni.",
    FieldProblem.NOT_A_DIAL_OUTCOME: (
        "musi mieć wartość 'answered', 'busy', 'no_answer', 'congestion', 'rejected' lub 'failed'."
    ),
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
    if isinstance(error, UnknownConnection):
        connection_id = json.dumps(error.connection_id, ensure_ascii=False)
        return ApiError(UNKNOWN_CONNECTION, connection_id=connection_id)
    if isinstance(error, CallerAlreadyWaiting):
        call_id = json.dumps(error.call_id)
        return ApiError(CALLER_ELSEWHERE, call_id=call_id, queue_id=error.queue_id)
    if isinstance(error, InvalidField):
        return ApiError(BAD_FIELD, field=error.field, problem=error.problem, **error.values)
    if isinstance(error, UnknownCustomer):
        return ApiError(UNKNOWN_CUSTOMER, customer_id=error.customer_id)
    if isinstance(error, UnknownAgent):
        return ApiError(UNKNOWN_AGENT, login=json.dumps(error.login, ensure_ascii=False))
    if isinstance(error, AgentExists):
        return ApiError(AGENT_EXISTS, login=json.dumps(error.login, ensure_ascii=False))
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
    if isinstance(error, UnknownCallback):
        return ApiError(UNKNOWN_CALLBACK, callback_id=error.callback_id, queue_id=error.queue_id)
    if isinstance(error, CallbackNotPending):
        return ApiError(CALLBACK_NOT_PENDING, callback_id=error.callback_id, state=error.state)
    if isinstance(error, StaleClaim):
        return ApiError(STALE_CLAIM, callback_id=error.callback_id)
    if isinstance(error, NotAbandoned):
        number = json.dumps(error.phone_number, ensure_ascii=False)
        return ApiError(NOT_ABANDONED, phone_number=number, queue_id=error.queue_id)
    if isinstance(error, NoNumberToCall):
        return ApiError(NO_NUMBER_TO_CALL, call_id=json.dumps(error.call_id))
    if isinstance(error, UnknownWebhook):
        return ApiError(UNKNOWN_WEBHOOK, webhook_id=error.webhook_id)
    if isinstance(error, UnknownParkedEvent):
        return ApiError(UNKNOWN_PARKED_EVENT, webhook_id=error.webhook_id, event_id=error.event_id)
    if isinstance(error, WebhooksOff):
        return ApiError(WEBHOOKS_OFF)
    agent_error = _agent_control(error)
    return agent_error if agent_error is not None else ApiError(INTERNAL)


def _agent_control(error: DomainError) -> ApiError | None:
    """The errors of `POST agents/:login/pause|free|login|logout` (issue 13)."""
    if isinstance(error, UnknownPause):
        return ApiError(UNKNOWN_PAUSE, pause_id=error.pause_id)
    if isinstance(error, AgentLoggedOut):
        return ApiError(AGENT_LOGGED_OUT, login=json.dumps(error.login, ensure_ascii=False))
    if isinstance(error, PbxRefused):
        reason = json.dumps(error.reason, ensure_ascii=False)
        return ApiError(PBX_REFUSED, action=error.action, reason=reason)
    if isinstance(error, NoQueuesToLogIn):
        return ApiError(NO_QUEUES, login=json.dumps(error.login, ensure_ascii=False))
    if isinstance(error, NoPbxInterface):
        return ApiError(NO_PBX_INTERFACE, login=json.dumps(error.login, ensure_ascii=False))
    if isinstance(error, PbxUnavailable):
        if not error.confirmed_nothing:
            return ApiError(PBX_UNCONFIRMED)
        return ApiError(PBX_UNAVAILABLE, reason=error.reason)
    return None


def api_errors(error: DomainError) -> list[ApiError]:
    """`from_domain`, one answer's worth: several malformed fields are one error each."""
    if isinstance(error, InvalidFields):
        return [from_domain(field) for field in error.errors]
    return [from_domain(error)]


def error_list(errors: list[ApiError], language: str) -> list[dict[str, object]]:
    """The envelope's `errors`: `{"message", "code"}` for each."""
    return [{"message": e.message(language), "code": e.kind.code} for e in errors]


def envelope(request_id: str, errors: list[ApiError], language: str) -> bytes:
    body = {
        "request_id": request_id,
        "errors": error_list(errors, language),
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
