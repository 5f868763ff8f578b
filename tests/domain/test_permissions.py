"""Per-method permissions written as Thulium writes them."""

from __future__ import annotations

import pytest

from kolejka.domain.permissions import InvalidPermission, Permissions, parse_permission


def test_a_star_allows_everything() -> None:
    assert Permissions.of(["*"]).allows("DELETE customers/:id")


def test_a_listed_method_is_allowed_and_others_are_not() -> None:
    granted = Permissions.of(["GET queues/:id/waiting_list"])
    assert granted.allows("GET queues/:id/waiting_list")
    assert not granted.allows("GET queues/:id/waiting_stats")
    assert not granted.allows("POST queues/:id/callers")


@pytest.mark.parametrize(
    "spelling",
    [
        "GET queues/:id/waiting_list",
        "get /api/queues/:id/waiting_list",
        " GET  queues/:id/waiting_list/ ",
    ],
)
def test_permissions_are_read_in_any_reasonable_spelling(spelling: str) -> None:
    assert parse_permission(spelling) == "GET queues/:id/waiting_list"


@pytest.mark.parametrize("bad", ["", "everything", "FETCH queues", "GET", "GET queues/<id>"])
def test_a_malformed_permission_is_refused(bad: str) -> None:
    with pytest.raises(InvalidPermission):
        parse_permission(bad)
