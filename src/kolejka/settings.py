"""Settings, read from `KOLEJKA_*` environment variables.

Any setting can instead be read from a file named by `KOLEJKA_<NAME>_FILE` (for secrets kept in
Docker or Kubernetes secret files). docs/configuration.md lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from zoneinfo import ZoneInfo

from kolejka.domain.phone import PhoneNumbers


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///kolejka.db"
    time_zone: str = "Europe/Warsaw"
    phone_region: str = "PL"
    host: str = "127.0.0.1"
    port: int = 8000
    auth_cache_seconds: float = 60.0
    max_body_bytes: int = 65536
    change_poll_seconds: float = 0.25
    log_format: str = "text"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            name = f"KOLEJKA_{field.name.upper()}"
            raw = env.get(name)
            if raw is None and f"{name}_FILE" in env:
                raw = Path(env[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
            if raw is None:
                continue
            kind = field.type if isinstance(field.type, str) else field.type.__name__
            try:
                converter = {"int": int, "float": float}.get(kind, str)
                values[field.name] = converter(raw)
            except ValueError as exc:
                raise ValueError(f"{name} must be a number, not {raw!r}") from exc
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        ZoneInfo(self.time_zone)
        PhoneNumbers(self.phone_region)
        if self.log_format not in ("text", "json"):
            raise ValueError("KOLEJKA_LOG_FORMAT is 'text' or 'json'")
        if not 0 < self.port < 65536:
            raise ValueError("KOLEJKA_PORT must be 1-65535")
