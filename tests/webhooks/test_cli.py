"""`kolejka webhooks list|add|remove`, run as the real command."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli import kolejka
from tests.webhooks.helpers import KEY

ENV = {"KOLEJKA_WEBHOOK_KEY": KEY}


def test_add_list_and_remove_a_webhook(tmp_path: Path) -> None:
    database = tmp_path / "k.db"
    added = kolejka(
        database,
        "webhooks",
        "add",
        "https://crm.example.pl/hook",
        "CALLER_JOINED",
        "CALLER_LEFT",
        "--user",
        "crm",
        stdin="pass-CANARY\n",
        env=ENV,
    )
    assert added.returncode == 0, added.stderr
    assert "added webhook 1" in added.stdout
    assert "secret: whsec_" in added.stdout
    assert "CANARY" not in "\n".join(sqlite3.connect(database).iterdump())
    listed = kolejka(database, "webhooks", "list", env=ENV)
    assert listed.stdout == "1\thttps://crm.example.pl/hook\tCALLER_JOINED CALLER_LEFT\n"
    assert "whsec_" not in listed.stdout
    removed = kolejka(database, "webhooks", "remove", "1", env=ENV)
    assert removed.returncode == 0
    assert kolejka(database, "webhooks", "list", env=ENV).stdout == ""


def test_bad_input_is_refused_with_a_message(tmp_path: Path) -> None:
    database = tmp_path / "k.db"
    unknown = kolejka(database, "webhooks", "add", "https://x.pl/", "NOPE", env=ENV)
    assert unknown.returncode == 1
    assert "actions[0]" in unknown.stderr
    plain = kolejka(database, "webhooks", "add", "http://x.pl/", "CALLER_LEFT", env=ENV)
    assert plain.returncode == 1
    assert "https" in plain.stderr
    missing = kolejka(database, "webhooks", "remove", "7", env=ENV)
    assert missing.returncode == 1
    assert "webhook 7 does not exist" in missing.stderr
    no_key = kolejka(database, "webhooks", "add", "https://x.pl/", "CALLER_LEFT")
    assert no_key.returncode == 1
