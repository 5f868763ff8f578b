"""Wallboard tokens: read-only credentials for a screen on the wall, carried in its link.

A TV cannot type a password, and a browser's EventSource cannot send an `Authorization` header,
so the wallboard page passes a token as `?token=NAME.SECRET`. A token is kept as an API user named
`wallboard-NAME` whose password is the random SECRET: it is stored argon2-hashed like every
password, verified and cached by the same Authenticator, and removing it (`kolejka wallboard
revoke NAME`) drops every cache at once. Its one permission is `GET wallboard/stream`, and tokens
are accepted only by GET routes, so a token can show the wallboard and do nothing else.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence

from kolejka.services.auth import ApiUsers

USER_PREFIX = "wallboard-"
PERMISSIONS = ("GET wallboard/stream",)
MAX_TOKEN = 128

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def username(name: str) -> str:
    """The API user that stands for the token called `name`."""
    if not _NAME.match(name):
        raise ValueError(
            f"a wallboard name is 1-32 lower-case letters, digits and '-', not {name!r}"
        )
    return USER_PREFIX + name


def credentials(token: str) -> bytes | None:
    """The Basic credentials a token stands for, or None when it is not shaped like a token."""
    if len(token) > MAX_TOKEN:
        return None
    name, dot, secret = token.partition(".")
    if not dot or not _NAME.match(name) or not _SECRET.match(secret):
        return None
    pair = f"{USER_PREFIX}{name}:{secret}".encode()
    return b"Basic " + base64.b64encode(pair)


class WallboardTokens:
    """Creating, listing and revoking tokens (the `kolejka wallboard` commands)."""

    def __init__(self, users: ApiUsers) -> None:
        self.users = users

    async def create(self, name: str) -> str:
        """A new token; only its hash is kept, so this is the one time it can be read."""
        secret = secrets.token_urlsafe(32)
        await self.users.add(username(name), secret, PERMISSIONS)
        return f"{name}.{secret}"

    async def revoke(self, name: str) -> None:
        user = username(name)
        if not any(stored.username == user for stored in await self.users.all()):
            raise ValueError(f"no wallboard token {name!r}")
        await self.users.remove(user)

    async def names(self) -> Sequence[str]:
        return [
            user.username.removeprefix(USER_PREFIX)
            for user in await self.users.all()
            if user.username.startswith(USER_PREFIX)
        ]
