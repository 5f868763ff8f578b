"""Settings with webhooks on: a key, plain http and 127.0.0.1 allowed, fast retries."""

from __future__ import annotations

from pathlib import Path

from kolejka.settings import Settings

KEY = "test-webhook-key-0123456789abcdef"


def webhook_settings(database: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{database}",
        "webhook_key": KEY,
        "webhook_allow_http": 1,
        "webhook_allow_private": 1,
        "webhook_backoff_seconds": 0.01,
        "webhook_backoff_max_seconds": 0.05,
        "webhook_timeout_seconds": 0.5,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]
