"""API users: HTTP Basic credentials checked against argon2 hashes, with a cache.

An argon2 check costs tens of milliseconds by design; a wallboard polling every second must not
pay it each time. Verified credentials are kept (keyed by the exact header value) for
`cache_seconds`, and dropped at once when any API user changes.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kolejka.domain.errors import LoginThrottled
from kolejka.domain.permissions import Permissions
from kolejka.services.password_checks import PasswordChecks
from kolejka.services.ports import ApiUserStore, Change, ChangeFeed, StoredApiUser, Topic
from kolejka.services.single_flight import SingleFlight
from kolejka.services.throttle import LoginThrottle

log = logging.getLogger(__name__)

MAX_USERNAME = 64
MAX_PASSWORD = 256
# A hash of a password nobody has: unknown users cost as much as known ones, so timing
# does not tell which user names exist.
_DUMMY_PASSWORD = "kolejka: no such user"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    permissions: Permissions

    def may(self, permission: str) -> bool:
        return self.permissions.allows(permission)


def parse_basic(header: bytes) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` value, or None if it is not one."""
    scheme, _, encoded = header.strip().partition(b" ")
    if scheme.lower() != b"basic" or not encoded or len(encoded) > 1024:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    if not colon or not username or len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        return None
    return username, password


class Authenticator:
    def __init__(
        self,
        users: ApiUserStore,
        changes: ChangeFeed,
        hasher: PasswordHasher | None = None,
        cache_seconds: float = 60.0,
        cache_size: int = 4096,
        throttle: LoginThrottle | None = None,
        checks: PasswordChecks | None = None,
    ) -> None:
        self.users = users
        self.throttle = throttle
        self.checks = checks or PasswordChecks()
        self.hasher = hasher or PasswordHasher()
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._verified: dict[bytes, tuple[Principal, float]] = {}
        # Checks under way: thirty clients presenting the same new credential pay one hash.
        self._checking: SingleFlight[bytes, Principal | None] = SingleFlight()
        self._generation = 0
        # Credentials rechecked, and the stored hash they matched (see `recheck`).
        self._proven: dict[bytes, str] = {}
        self._dummy_hash = self.hasher.hash(_DUMMY_PASSWORD)
        # Addresses the throttle refused for their own failures, until when (monotonic). Their
        # requests skip the cache: a guess that equals a cached credential would otherwise get
        # 200 where every other guess gets 429, and tell the attacker it is the password.
        self._refused: dict[str, float] = {}
        changes.subscribe(self._forget)

    def _forget(self, change: Change) -> None:
        if change.topic in (Topic.USERS, Topic.ALL):
            self._generation += 1
            self._verified.clear()

    def cached(self, header: bytes, address: str = "") -> Principal | None:
        """The principal for a header verified recently; no I/O, for the hot path. None from an
        address the login throttle refuses: its requests go through the throttle."""
        if self._refused and self._still_refused(address):
            return None
        entry = self._verified.get(header)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._verified[header]
            return None
        return entry[0]

    async def authenticate(self, header: bytes | None, address: str = "") -> Principal | None:
        """The API user the header proves, or None when it is missing or wrong.

        Raises LoginThrottled when `address` or the user name failed too often lately.
        """
        if not header:
            return None
        principal = self.cached(header, address)
        if principal is not None:
            return principal
        refused = bool(self._refused) and self._still_refused(address)
        if not refused and self._checking.running(header):
            # The same credentials are being checked for another request (a client's parallel
            # first requests, or all of them when its cached entry lapses): that one check is
            # the attempt, counted once, and its answer is this request's too. Counting each
            # refused a right password with 429 once ten were under way at once.
            return await self._checking.run(header, lambda: self._check(header, address))
        credentials = parse_basic(header)
        username = credentials[0] if credentials else None
        who = {"username": username, "client_address": address}
        reservation = None
        if self.throttle is not None:
            # Counted before the password is checked: simultaneous guesses cannot all pass.
            reservation = await self.throttle.reserve(address, username)
            if reservation.wait:
                log.warning("login throttled", extra=who)
                if reservation.address_refused:
                    self._refuse(address, reservation.wait)
                raise LoginThrottled(reservation.wait)
            if refused:
                self._refused.pop(address, None)  # the throttle lets it try again
                principal = self.cached(header, address)
                if principal is not None:
                    await self.throttle.succeeded(reservation)
                    return principal
        try:
            principal = await self._checking.run(header, lambda: self._check(header, address))
        except Exception:
            # A store failed, so no password was checked: not a failure. (A client that hangs
            # up mid-check keeps its attempt counted: its hash runs on regardless.)
            if self.throttle is not None and reservation is not None:
                await self.throttle.release(reservation)
            raise
        if principal is None:
            # Never the password: only who tried, from where. The reservation stays: a failure.
            log.warning("failed login", extra=who)
            if self.throttle is not None:
                # At its limit now, the address's next request (a guess equal to a credential
                # cached for another client) goes through the throttle, not the cache.
                wait = await self.throttle.address_wait(address)
                if wait:
                    self._refuse(address, wait)
        elif self.throttle is not None and reservation is not None:
            await self.throttle.succeeded(reservation)
        return principal

    def _still_refused(self, address: str) -> bool:
        until = self._refused.get(address)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._refused[address]
        return False

    def _refuse(self, address: str, seconds: int) -> None:
        if len(self._refused) >= self.cache_size:
            now = time.monotonic()
            self._refused = {a: until for a, until in self._refused.items() if until > now}
            if len(self._refused) >= self.cache_size:
                # Bounded: each is still refused by the throttle itself, and a right guess from
                # one of them is answered from the cache again until it fails once more.
                self._refused.clear()
        self._refused[address] = time.monotonic() + seconds

    async def recheck(self, header: bytes) -> Principal | None:
        """The API user that credentials accepted earlier still prove, or None.

        For open streams, judged again whenever API users may have changed: an import in
        another process can ask for that several times a second, so a password is hashed again
        only when the user's stored hash changed (a hash and a password always agree or always
        not). It is not a sign-in, so the login throttle neither stops it (guesses at a revoked
        user's password must not keep its streams open) nor counts it.
        """
        credentials = parse_basic(header)
        if credentials is None:
            return None
        username, password = credentials
        user = await self.users.get(username)
        if user is None:
            return None
        if self._proven.get(header) != user.password_hash:
            # Through the same bounded checks as sign-ins: a recheck must not outrun them.
            right = await self.checks.run("", lambda: self._verify(user.password_hash, password))
            if not right:
                return None
            if len(self._proven) >= self.cache_size:
                self._proven.clear()
            self._proven[header] = user.password_hash
        return Principal(user.username, Permissions.of(user.permissions))

    async def _check(self, header: bytes, address: str) -> Principal | None:
        credentials = parse_basic(header)
        if credentials is None:
            return None
        username, password = credentials
        generation = self._generation
        user = await self.users.get(username)
        stored_hash = user.password_hash if user else self._dummy_hash
        right = await self.checks.run(address, lambda: self._verify(stored_hash, password))
        if not right or user is None:
            return None
        principal = Principal(user.username, Permissions.of(user.permissions))
        if generation != self._generation:
            return principal  # API users changed meanwhile: answer, but do not remember it
        if len(self._verified) >= self.cache_size:
            self._verified.clear()
        self._verified[header] = (principal, time.monotonic() + self.cache_seconds)
        return principal

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class ApiUsers:
    """Administration of API users (the `kolejka users` commands)."""

    def __init__(self, users: ApiUserStore, changes: ChangeFeed, hasher: PasswordHasher) -> None:
        self.users = users
        self.changes = changes
        self.hasher = hasher

    async def add(self, username: str, password: str, permissions: Iterable[str]) -> None:
        _check_username(username)
        _check_password(password)
        if await self.users.get(username) is not None:
            raise ValueError(f"API user {username!r} exists already")
        granted = Permissions.of(permissions).as_list()
        await self.users.put(StoredApiUser(username, self.hasher.hash(password), tuple(granted)))
        await self.changes.publish(Change(Topic.USERS))

    async def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        user = await self._existing(username)
        await self.users.put(StoredApiUser(username, self.hasher.hash(password), user.permissions))
        await self.changes.publish(Change(Topic.USERS))

    async def set_permissions(self, username: str, permissions: Iterable[str]) -> None:
        granted = tuple(Permissions.of(permissions).as_list())
        user = await self._existing(username)
        await self.users.put(StoredApiUser(username, user.password_hash, granted))
        await self.changes.publish(Change(Topic.USERS))

    async def remove(self, username: str) -> None:
        if not await self.users.remove(username):
            raise ValueError(f"no API user {username!r}")
        await self.changes.publish(Change(Topic.USERS))

    async def all(self) -> Sequence[StoredApiUser]:
        return await self.users.all()

    async def _existing(self, username: str) -> StoredApiUser:
        user = await self.users.get(username)
        if user is None:
            raise ValueError(f"no API user {username!r}")
        return user


def _check_username(username: str) -> None:
    too_long = len(username) > MAX_USERNAME
    if not username or too_long or ":" in username or not username.isprintable():
        raise ValueError("a user name is 1-64 printable characters without ':'")


def _check_password(password: str) -> None:
    if not password or len(password) > MAX_PASSWORD:
        raise ValueError(f"a password is 1-{MAX_PASSWORD} characters")
