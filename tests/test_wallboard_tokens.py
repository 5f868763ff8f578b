"""Wallboard tokens: what they look like, where they are kept, and the `kolejka wallboard` verbs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kolejka.bootstrap import Components
from kolejka.services.wallboard_tokens import PERMISSIONS, USER_PREFIX, WallboardTokens, credentials


async def test_a_token_is_a_read_only_api_user_whose_secret_is_kept_hashed(
    components: Components,
) -> None:
    token = await WallboardTokens(components.api_users).create("hall")
    name, _, secret = token.partition(".")
    assert name == "hall"
    assert len(secret) >= 43
    stored = await components.api_users.users.get(USER_PREFIX + "hall")
    assert stored is not None
    assert stored.permissions == PERMISSIONS == ("GET wallboard/stream",)
    assert secret not in stored.password_hash
    assert stored.password_hash.startswith("$argon2")


async def test_a_token_authenticates_as_its_user_and_a_revoked_one_does_not(
    components: Components,
) -> None:
    tokens = WallboardTokens(components.api_users)
    token = await tokens.create("hall")
    header = credentials(token)
    assert header is not None
    principal = await components.authenticator.authenticate(header)
    assert principal is not None
    assert principal.may("GET wallboard/stream")
    assert not principal.may("GET queues/:id/waiting_list")
    await tokens.revoke("hall")
    assert await components.authenticator.authenticate(header) is None
    assert await tokens.names() == []


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hall",
        "hall.",
        ".abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq",
        "Hall.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq",
        "hall.short",
        "hall.abcdefghijklmnopqrstuvwxyzabcdefghijklmn:pq",
        "ha ll.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq",
        "hall." + "a" * 200,
    ],
)
def test_anything_not_shaped_like_a_token_stands_for_no_credentials(token: str) -> None:
    assert credentials(token) is None


async def test_names_are_short_lower_case_words(components: Components) -> None:
    tokens = WallboardTokens(components.api_users)
    for bad in ("", "Hall", "hall tv", "a" * 33, "-hall", "hall/2"):
        with pytest.raises(ValueError, match="wallboard name"):
            await tokens.create(bad)
    await tokens.create("hall-2")
    with pytest.raises(ValueError, match="exists"):
        await tokens.create("hall-2")
    with pytest.raises(ValueError, match="no wallboard token"):
        await tokens.revoke("kitchen")


def kolejka(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kolejka", *args],
        capture_output=True,
        text=True,
        env={"KOLEJKA_DATABASE_URL": f"sqlite:///{database}", "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )


def test_the_command_line_makes_lists_and_revokes_tokens(database_path: Path) -> None:
    made = kolejka(database_path, "wallboard", "token", "hall")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert credentials(token) is not None
    assert f"/wallboard?token={token}" in made.stderr
    listed = kolejka(database_path, "wallboard", "list")
    assert listed.stdout.split() == ["hall"]
    again = kolejka(database_path, "wallboard", "token", "hall")
    assert again.returncode == 1
    assert "exists" in again.stderr
    revoked = kolejka(database_path, "wallboard", "revoke", "hall")
    assert revoked.returncode == 0
    assert kolejka(database_path, "wallboard", "list").stdout == ""
