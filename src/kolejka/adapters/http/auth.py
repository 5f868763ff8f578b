"""Who is asking: the one way in for every route that is not public.

HTTP Basic credentials, as Thulium's API takes them; or, on a route that takes one (the event
streams), a wallboard token as `?token=`, because the browser's EventSource cannot send an
`Authorization` header. A token stands for Basic credentials of its own API user
(services/wallboard_tokens.py), so both are verified, cached and revoked alike. Then the route's
permission, or any of its `also`, must be granted.
"""

from __future__ import annotations

from collections.abc import Sequence

from kolejka.adapters.http.errors import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    BAD_TOKEN,
    FORBIDDEN,
    ApiError,
)
from kolejka.adapters.http.request import Scope, query_parameter
from kolejka.adapters.http.routing import Route
from kolejka.services import wallboard_tokens
from kolejka.services.auth import Authenticator, Principal

CHALLENGE = (b"www-authenticate", b'Basic realm="kolejka", charset="UTF-8"')


class HttpAuth:
    """The principal of a request, over the Authenticator's verified-credential cache."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def cached(self, header: bytes | None, route: Route, address: str = "") -> Principal | None:
        """The principal of Basic credentials verified lately that may use `route`; no I/O.

        The hot path (a wallboard polling) ends here. None sends the request to `principal`,
        which answers every other case, refusals included.
        """
        if header is None:
            return None
        principal = self.authenticator.cached(header, address)
        if principal is None or not principal.may(route.permission):
            return None
        return principal

    async def principal(self, scope: Scope, route: Route) -> tuple[bytes, Principal]:
        """The credentials and API user of a request for `route`, or the ApiError refusing it."""
        return await self.check(scope, route.permissions, token=route.token)

    async def check(
        self, scope: Scope, permissions: Sequence[str], *, token: bool
    ) -> tuple[bytes, Principal]:
        """The credentials and API user of a request that may do any of `permissions`.

        401 with a Basic challenge without credentials or with wrong ones; 401 BAD_TOKEN for a
        token that is malformed or wrong (no challenge: a browser must not ask for a password
        then); 403 naming the first permission when the user may do none of them.
        """
        header = authorization(scope)
        from_token = False
        if header is None:
            value = query_parameter(scope, "token") if token else None
            if value is None:
                raise challenge(ApiError(AUTH_REQUIRED))
            header = wallboard_tokens.credentials(value)
            if header is None:
                raise ApiError(BAD_TOKEN)
            from_token = True
        client = scope.get("client")
        principal = await self.authenticator.authenticate(header, client[0] if client else "")
        if principal is None:
            raise ApiError(BAD_TOKEN) if from_token else challenge(ApiError(AUTH_FAILED))
        if not any(principal.may(permission) for permission in permissions):
            raise ApiError(FORBIDDEN, user=principal.username, permission=permissions[0])
        return header, principal


def authorization(scope: Scope) -> bytes | None:
    """The `Authorization` header, or None; b"" (credentials no user has) when it is given
    twice: which of two a proxy or a server would read differs, so neither is believed."""
    found = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            if found is not None:
                return b""
            found = bytes(value)
    return found


def challenge(error: ApiError) -> ApiError:
    """`error` with the Basic challenge, so that a browser asks for credentials."""
    error.headers.append(CHALLENGE)
    return error
