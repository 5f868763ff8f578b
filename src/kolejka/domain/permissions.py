"""API users' per-method permissions, written as Thulium writes them.

A permission is `*` (everything) or a method and a path template: `GET queues/:id/waiting_list`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ALL = "*"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PERMISSION = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) ([a-z_]+(?:/(?::[a-z_]+|[a-z_]+))*)$")


class InvalidPermission(ValueError):
    pass


def parse_permission(text: str) -> str:
    """The canonical spelling of a permission; raises InvalidPermission when it is not one."""
    cleaned = " ".join(text.split())
    if cleaned == ALL:
        return ALL
    method, _, path = cleaned.partition(" ")
    method = method.upper()
    path = path.strip().removeprefix("/").removeprefix("api/").strip("/")
    candidate = f"{method} {path}"
    if method not in _METHODS or not _PERMISSION.match(candidate):
        expected = "'*' or e.g. 'GET queues/:id/waiting_list'"
        raise InvalidPermission(f"not a permission: {text!r} (expected {expected})")
    return candidate


@dataclass(frozen=True, slots=True)
class Permissions:
    granted: frozenset[str]

    @classmethod
    def of(cls, texts: Iterable[str]) -> Permissions:
        return cls(frozenset(parse_permission(text) for text in texts))

    def allows(self, permission: str) -> bool:
        return ALL in self.granted or permission in self.granted

    def as_list(self) -> list[str]:
        return sorted(self.granted)
