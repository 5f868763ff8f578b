"""Settings, read from `KOLEJKA_*` environment variables.

Any setting can instead be read from a file named by `KOLEJKA_<NAME>_FILE` (for secrets kept in
Docker or Kubernetes secret files). docs/configuration.md lists them all.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from zoneinfo import ZoneInfo

from kolejka.domain.phone import PhoneNumbers


@dataclass(frozen=True, slots=True)
class Settings:
    # repr=False: a PostgreSQL URL may carry a password, and settings get printed.
    database_url: str = dataclasses.field(default="sqlite:///kolejka.db", repr=False)
    # Several instances (docs/operations.md): the live waiting lists, the change feed and the
    # AMI lease in Redis; empty keeps the live lists in the database.
    live_url: str = dataclasses.field(default="", repr=False)
    redis_prefix: str = "kolejka"
    store_timeout_seconds: float = 1.5
    database_pool_size: int = 10
    lease_seconds: float = 5.0
    instance_name: str = ""
    time_zone: str = "Europe/Warsaw"
    phone_region: str = "PL"
    host: str = "127.0.0.1"
    port: int = 8000
    auth_cache_seconds: float = 60.0
    max_body_bytes: int = 65536
    change_poll_seconds: float = 0.25
    max_header_bytes: int = 16384
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    login_failures_per_minute: int = 10
    # An address that signed in as a user with the right password is spared that user's
    # login limit for this long (0: never spared).
    login_known_address_hours: float = 24.0
    # Proxies whose X-Forwarded-For/-Proto are believed (addresses or CIDRs, comma-separated).
    # None by default: a header any local process can send must not choose the address the
    # login throttle counts.
    trusted_proxies: str = ""
    stream_heartbeat_seconds: float = 15.0
    stream_stall_seconds: float = 60.0
    # The call history keeps calls this many days (docs/configuration.md); older ones are pruned.
    history_days: int = 90
    # The abandoned list of a queue is computed again at most this often while calls keep
    # ending (docs/configuration.md): it may lag a call's end by this much.
    abandoned_refresh_seconds: float = 5.0
    log_format: str = "text"
    log_level: str = "INFO"
    # An external CRM (docs/crm.md) names callers instead of the built-in one when set.
    crm_url: str = dataclasses.field(default="", repr=False)
    crm_timeout_seconds: float = 1.0
    crm_cache_seconds: float = 60.0
    # The AMI listener (docs/pbx-asterisk.md); it runs when ami_host is set.
    ami_host: str = ""
    ami_port: int = 5038
    ami_username: str = ""
    ami_secret: str = dataclasses.field(default="", repr=False)
    ami_auth: str = "md5"
    ami_tls: str = "off"
    ami_tls_ca_path: str = ""
    ami_queues: str = ""
    ami_members: str = ""
    ami_ping_seconds: float = 10.0
    ami_retry_max_seconds: float = 30.0
    ami_auth_retry_seconds: float = 60.0
    # How `POST /api/agents/{login}/login` names an agent Asterisk has not reported yet.
    ami_member_interface: str = ""
    # Callbacks (docs/pbx-asterisk.md, docs/api.md): dialled over AMI when callback_channel is
    # set, or claimed by a PBX through the HTTP API.
    callback_channel: str = ""
    callback_context: str = "kolejka-callback"
    callback_entry: str = ""
    callback_caller_id: str = '"{queue}" <{number}>'
    callback_ring_seconds: float = 30.0
    callback_attempts: int = 3
    callback_retry_seconds: float = 300.0
    callback_horizon_days: float = 30.0
    callback_claim_seconds: float = 120.0
    callback_max_calls: int = 50
    callback_poll_seconds: float = 1.0
    callback_wait_for_agent: str = ""
    # Webhooks (docs/webhooks.md). The key seals subscriptions' credentials and secrets; without
    # one, registering a webhook answers 503.
    webhook_key: str = dataclasses.field(default="", repr=False)
    webhook_allow_http: int = 0
    # 0: this instance never delivers (an API-only instance); others deliver what it writes.
    webhook_deliver: int = 1
    webhook_allow_private: int = 0
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 1.0
    webhook_backoff_max_seconds: float = 300.0
    webhook_timeout_seconds: float = 10.0
    webhook_max_response_bytes: int = 65536

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        if "KOLEJKA_FORWARDED_ALLOW_IPS" in env:
            # Refused rather than ignored: a proxy's clients would silently all count as one.
            raise ValueError("KOLEJKA_FORWARDED_ALLOW_IPS is now KOLEJKA_TRUSTED_PROXIES")
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
        _check_store_urls(self)
        _check_crm(self)
        _check_trusted_proxies(self.trusted_proxies)
        _check_callbacks(self)
        if not 1 <= self.history_days <= 36600:
            raise ValueError("KOLEJKA_HISTORY_DAYS must be between 1 and 36600")
        _check_webhooks(self)
        if not 0 <= self.abandoned_refresh_seconds <= 60:
            raise ValueError("KOLEJKA_ABANDONED_REFRESH_SECONDS must be between 0 and 60")
        if not 0 < self.stream_heartbeat_seconds < self.stream_stall_seconds:
            raise ValueError(
                "KOLEJKA_STREAM_HEARTBEAT_SECONDS must be above 0 and below "
                "KOLEJKA_STREAM_STALL_SECONDS"
            )

    @property
    def on_sqlite(self) -> bool:
        """The database is an SQLite file; otherwise it is PostgreSQL."""
        return self.database_url.startswith("sqlite:")


def _check_trusted_proxies(value: str) -> None:
    """Each entry must be an address or a network (uvicorn would silently never match a typo)."""
    if value.strip() in ("", "*"):
        return
    for entry in value.split(","):
        try:
            ipaddress.ip_network(entry.strip())
        except ValueError:
            raise ValueError(
                f"KOLEJKA_TRUSTED_PROXIES: {entry.strip()!r} is not an IP address or network"
                " (or '*' alone)"
            ) from None


def _check_callbacks(settings: Settings) -> None:
    if not 1 <= settings.callback_attempts <= 20:
        raise ValueError("KOLEJKA_CALLBACK_ATTEMPTS must be between 1 and 20")
    if not 0 <= settings.callback_retry_seconds <= 86400:
        raise ValueError("KOLEJKA_CALLBACK_RETRY_SECONDS must be between 0 and 86400")
    if not 0 < settings.callback_horizon_days <= 400:
        raise ValueError("KOLEJKA_CALLBACK_HORIZON_DAYS must be above 0 and at most 400")
    if not 5 <= settings.callback_ring_seconds <= 300:
        raise ValueError("KOLEJKA_CALLBACK_RING_SECONDS must be between 5 and 300")
    if not 10 <= settings.callback_claim_seconds <= 3600:
        raise ValueError("KOLEJKA_CALLBACK_CLAIM_SECONDS must be between 10 and 3600")
    if not 1 <= settings.callback_max_calls <= 10000:
        raise ValueError("KOLEJKA_CALLBACK_MAX_CALLS must be between 1 and 10000")
    if not 0.01 <= settings.callback_poll_seconds <= 60:
        raise ValueError("KOLEJKA_CALLBACK_POLL_SECONDS must be between 0.01 and 60")
    for item in filter(None, (p.strip() for p in settings.callback_wait_for_agent.split(","))):
        if not item.isdigit() or not 0 < int(item) <= 2**31 - 1:
            raise ValueError("KOLEJKA_CALLBACK_WAIT_FOR_AGENT lists queue ids, e.g. 2,7")


def _check_webhooks(settings: Settings) -> None:
    flags = (settings.webhook_allow_http, settings.webhook_allow_private, settings.webhook_deliver)
    if any(flag not in (0, 1) for flag in flags):
        raise ValueError("KOLEJKA_WEBHOOK_ALLOW_HTTP, _ALLOW_PRIVATE and _DELIVER are 0 or 1")
    if not 1 <= settings.webhook_max_attempts <= 1000:
        raise ValueError("KOLEJKA_WEBHOOK_MAX_ATTEMPTS must be between 1 and 1000")
    if not 0.001 <= settings.webhook_backoff_seconds <= settings.webhook_backoff_max_seconds:
        raise ValueError(
            "KOLEJKA_WEBHOOK_BACKOFF_SECONDS must be at least 0.001 and at most"
            " KOLEJKA_WEBHOOK_BACKOFF_MAX_SECONDS"
        )
    if not 0.01 <= settings.webhook_timeout_seconds <= 60:
        raise ValueError("KOLEJKA_WEBHOOK_TIMEOUT_SECONDS must be between 0.01 and 60")
    if not 0 <= settings.webhook_max_response_bytes <= 16 * 1024 * 1024:
        raise ValueError("KOLEJKA_WEBHOOK_MAX_RESPONSE_BYTES must be between 0 and 16 MiB")


def _check_crm(settings: Settings) -> None:
    if settings.crm_url and settings.crm_url.partition(":")[0] not in ("http", "https"):
        raise ValueError("KOLEJKA_CRM_URL must be empty or start with http:// or https://")
    if not 0.01 <= settings.crm_timeout_seconds <= 30:
        raise ValueError("KOLEJKA_CRM_TIMEOUT_SECONDS must be between 0.01 and 30")
    if not 0 <= settings.crm_cache_seconds <= 86400:
        raise ValueError("KOLEJKA_CRM_CACHE_SECONDS must be between 0 and 86400")


def _check_store_urls(settings: Settings) -> None:
    """Refuses URLs no adapter serves, naming only the scheme (a URL may carry a password)."""
    database = settings.database_url.partition(":")[0]
    if database not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(
            f"KOLEJKA_DATABASE_URL must start with sqlite:// or postgresql://, not {database}:"
        )
    live = settings.live_url.partition(":")[0]
    if settings.live_url and live not in ("redis", "rediss"):
        raise ValueError(f"KOLEJKA_LIVE_URL must be empty or start with redis://, not {live}:")
    if not 0.05 <= settings.store_timeout_seconds <= 60:
        raise ValueError("KOLEJKA_STORE_TIMEOUT_SECONDS must be between 0.05 and 60")
    if not 1 <= settings.database_pool_size <= 1000:
        raise ValueError("KOLEJKA_DATABASE_POOL_SIZE must be between 1 and 1000")
    if not 1 <= settings.lease_seconds <= 300:
        raise ValueError("KOLEJKA_LEASE_SECONDS must be between 1 and 300")
    if not settings.redis_prefix or not settings.redis_prefix.isprintable():
        raise ValueError("KOLEJKA_REDIS_PREFIX must be a non-empty printable name")
