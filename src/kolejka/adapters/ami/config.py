"""The AMI listener's configuration, checked once, from the `KOLEJKA_AMI_*` settings."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from kolejka.adapters.ami.member_names import MemberNames
from kolejka.adapters.ami.queue_names import QueueNames
from kolejka.settings import Settings


@dataclass(frozen=True)
class AmiConfig:
    """Where Asterisk is, how to log in, and how patient to be. The secret never prints."""

    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    auth: str = "md5"  # "md5" (challenge; the secret never crosses the wire) or "plain"
    tls: ssl.SSLContext | None = None
    queues: QueueNames = field(default_factory=QueueNames)
    members: MemberNames = field(default_factory=MemberNames)
    # A Ping every `ping_seconds`, unanswered for as long again, means a dead link: found in
    # at most twice this (20 s by default).
    ping_seconds: float = 10.0
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    auth_retry_seconds: float = 60.0

    @property
    def where(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://{self.host}:{self.port}"

    @classmethod
    def from_settings(cls, settings: Settings) -> AmiConfig | None:
        """The configuration, or None when `KOLEJKA_AMI_HOST` is unset (no listener).

        Raises ValueError naming the setting that is wrong.
        """
        if not settings.ami_host:
            return None
        if not settings.ami_username:
            raise ValueError("KOLEJKA_AMI_USERNAME is required with KOLEJKA_AMI_HOST")
        if not settings.ami_secret:
            raise ValueError("KOLEJKA_AMI_SECRET (or KOLEJKA_AMI_SECRET_FILE) is required")
        for name, value in (("USERNAME", settings.ami_username), ("SECRET", settings.ami_secret)):
            if "\r" in value or "\n" in value:
                raise ValueError(f"KOLEJKA_AMI_{name} cannot contain a line break")
        if settings.ami_auth not in ("md5", "plain"):
            raise ValueError("KOLEJKA_AMI_AUTH is 'md5' or 'plain'")
        if settings.ami_tls not in ("off", "on"):
            raise ValueError("KOLEJKA_AMI_TLS is 'off' or 'on'")
        if not 0 < settings.ami_port < 65536:
            raise ValueError("KOLEJKA_AMI_PORT must be 1-65535")
        if not 0.05 <= settings.ami_ping_seconds <= 15:
            raise ValueError("KOLEJKA_AMI_PING_SECONDS must be 0.05-15 (a dead link within 30 s)")
        if settings.ami_retry_max_seconds <= 0 or settings.ami_auth_retry_seconds <= 0:
            raise ValueError("KOLEJKA_AMI_RETRY_MAX_SECONDS and _AUTH_RETRY_SECONDS must be > 0")
        tls = None
        if settings.ami_tls == "on":
            try:
                tls = ssl.create_default_context(cafile=settings.ami_tls_ca_path or None)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(
                    f"KOLEJKA_AMI_TLS_CA_PATH: no CA certificates there ({error})"
                ) from None
        return cls(
            host=settings.ami_host,
            port=settings.ami_port,
            username=settings.ami_username,
            secret=settings.ami_secret,
            auth=settings.ami_auth,
            tls=tls,
            queues=QueueNames.parse(settings.ami_queues),
            members=MemberNames.parse(settings.ami_members),
            ping_seconds=settings.ami_ping_seconds,
            retry_base_seconds=min(0.5, settings.ami_retry_max_seconds),
            retry_max_seconds=settings.ami_retry_max_seconds,
            auth_retry_seconds=settings.ami_auth_retry_seconds,
        )
