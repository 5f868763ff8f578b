"""Store URLs as they may be shown: in logs, /health and errors, never with their password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redacted(url: str) -> str:
    """`postgresql://kolejka:***@db:5432/kolejka`: the URL without its password or query.

    The query goes too, since drivers accept a password there (`?password=...`).
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            user_info, _, host = netloc.rpartition("@")
            user = user_info.partition(":")[0]
            netloc = f"{user}:***@{host}" if ":" in user_info else f"{user}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return url.partition(":")[0] + "://(unparsable URL)"
