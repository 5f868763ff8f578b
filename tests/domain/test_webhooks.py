"""The webhooks' rules without a server: addresses, URLs, the retry schedule, the signature."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from kolejka.domain.customers import CustomerMatch
from kolejka.domain.errors import InvalidField
from kolejka.domain.queues import Outcome, WaitingCaller, departure
from kolejka.domain.webhooks import (
    StoredEvent,
    address_allowed,
    backoff,
    caller_joined,
    caller_left,
    check_subscription_url,
    completed,
    signature,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.8.8",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 (an address refused, not one bound)
        "::",
        "224.0.0.1",
        "240.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "not an address",
    ],
)
def test_internal_and_odd_addresses_are_refused(address: str) -> None:
    assert not address_allowed(address, allow_private=False)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(address, allow_private=False)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "fe80::1%eth0"])
def test_private_addresses_are_allowed_only_when_configured(address: str) -> None:
    assert address_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", ["224.0.0.1", "0.0.0.0", "240.0.0.1"])  # noqa: S104
def test_multicast_unspecified_and_reserved_are_refused_even_then(address: str) -> None:
    assert not address_allowed(address, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.pl",
        "https://example.pl/",
        "https://crm.example.pl:8443/hooks/kolejka?token=abc&x=1",
        "https://[2001:db8::1]/hook",
        "https://10.0.0.1/hook",  # an address is checked when connecting, not here
    ],
)
def test_well_formed_https_urls_are_taken(url: str) -> None:
    assert check_subscription_url(url, allow_http=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.pl#frag",
        "https://user@example.pl/",
        "https://example.pl:0/",
        "https://example.pl:65536/",
        "https://-example.pl/",
        "https:///path",
        "javascript:alert(1)",
        "https://exa mple.pl/",
        "https://example.pl/\\..",
        "HTTPS://example.pl/",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidField):
        check_subscription_url(url, allow_http=True)


def test_the_backoff_doubles_up_to_its_cap_scaled_by_the_jitter() -> None:
    assert [backoff(n, 1.0, 300.0, 1.0) for n in (1, 2, 3, 9, 10, 100)] == [
        1.0,
        2.0,
        4.0,
        256.0,
        300.0,
        300.0,
    ]
    assert backoff(3, 1.0, 300.0, 0.5) == 2.0


def test_the_signature_is_hmac_sha256_over_the_timestamp_a_dot_and_the_body() -> None:
    body = b'{"action":"CALLER_LEFT"}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_k", 1700000000, body) == f"t=1700000000,v1={expected}"


NOW = datetime(2026, 11, 26, 15, 35, 36, tzinfo=UTC)


def stored(event_id: int, action: str, fields: dict[str, object]) -> StoredEvent:
    return StoredEvent(event_id, action, NOW, fields)


def test_a_join_stores_the_number_as_written_and_no_match() -> None:
    joined = caller_joined(WaitingCaller("c-1", 2, " 746-842-523 ", "Jan", NOW))
    assert list(joined.fields) == [
        "queue_id",
        "call_id",
        "phone_number",
        "caller_name",
        "started_at",
    ]
    assert joined.fields["phone_number"] == " 746-842-523 "


def test_completing_a_join_shows_the_number_and_adds_the_match_after_started_at() -> None:
    joined = caller_joined(WaitingCaller("c-1", 2, "746-842-523", "Jan", NOW))
    event = stored(7, joined.action.value, dict(joined.fields))
    whole = completed(event, "746842523", CustomerMatch(123, "Jan Kowalski"))
    assert list(whole.fields)[-3:] == ["started_at", "customer_id", "customer_label"]
    assert whole.fields["phone_number"] == "746842523"
    assert (whole.fields["customer_id"], whole.fields["customer_label"]) == (123, "Jan Kowalski")
    nobody = completed(event, "746842523", None)
    assert (nobody.fields["customer_id"], nobody.fields["customer_label"]) == (None, None)


def test_completing_keeps_a_match_stored_before_and_leaves_other_actions_alone() -> None:
    old = stored(1, "CALLER_JOINED", {"phone_number": "746842523", "customer_id": 5})
    assert completed(old, "746842523", CustomerMatch(9, "Other")).fields["customer_id"] == 5
    caller = WaitingCaller("c-1", 2, "+48746842523", "", NOW)
    left = caller_left(departure(caller, Outcome.ANSWERED, NOW + timedelta(seconds=3)))
    gone = completed(stored(2, "CALLER_LEFT", dict(left.fields)), "7", CustomerMatch(9, "X"))
    assert gone.fields["phone_number"] == "7"
    assert "customer_id" not in gone.fields
    card = stored(3, "CUSTOMER_CREATED", {"customer_id": 4, "company_id": ""})
    assert completed(card, "7", None).fields == card.fields
