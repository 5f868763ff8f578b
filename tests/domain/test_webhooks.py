"""The webhooks' rules without a server: addresses, URLs, the retry schedule, the signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from kolejka.domain.errors import InvalidField
from kolejka.domain.webhooks import address_allowed, backoff, check_subscription_url, signature


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
