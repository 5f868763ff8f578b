"""Body fields that Thulium does not document: accepted, ignored, and said so.

Integrations written for Thulium send fields of their own (`external_id`, `note` where Thulium
has none). Refusing them fails writes that Thulium takes; storing them keeps data nobody can
read back. So a write ignores them, its answer names them in `X-Kolejka-Ignored-Fields`, and
the log names them at INFO, once per API user and field, so that whoever runs kolejka learns
what an integration sends without a line per request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

log = logging.getLogger(__name__)

HEADER = b"x-kolejka-ignored-fields"
# How many names the header lists (the first, sorted) and how long each may be: a 64 KB body
# could name thousands of fields, and clients limit the size of headers.
MAX_NAMES = 50
MAX_NAME = 64
# (API user, field) pairs already logged; past this the oldest are forgotten (and may be
# logged again), so a client inventing names cannot grow the process.
MAX_LOGGED = 10_000


class IgnoredFields:
    """Tells of ignored fields: the answer's header, and the log once per user and field."""

    def __init__(self, max_logged: int = MAX_LOGGED) -> None:
        self.max_logged = max_logged
        self._logged: dict[tuple[str, str], None] = {}  # insertion-ordered: oldest first

    def tell(self, user: str, names: Iterable[str]) -> tuple[tuple[bytes, bytes], ...]:
        """The header naming `names` (none when empty), logging those new for `user`."""
        shown = sorted({name[:MAX_NAME] for name in names})
        if not shown:
            return ()
        new = [name for name in shown if (user, name) not in self._logged]
        if new:
            for name in new:
                self._logged[(user, name)] = None
            while len(self._logged) > self.max_logged:
                del self._logged[next(iter(self._logged))]
            log.info(
                "API user %r sent fields Thulium does not document; they are ignored: %s",
                user,
                ", ".join(repr(name) for name in new),
            )
        return ((HEADER, header_value(shown)),)


def header_value(names: list[str]) -> bytes:
    """`a,b,c`: sorted names, each percent-encoded but for letters, digits and `_.-~`, so that
    a comma, a blank or a letter outside ASCII in a client's name cannot break the list."""
    return ",".join(quote(name, safe="") for name in names[:MAX_NAMES]).encode("ascii")
