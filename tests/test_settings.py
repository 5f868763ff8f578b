"""Settings read from the environment: the trusted proxies (`KOLEJKA_TRUSTED_PROXIES`)."""

from __future__ import annotations

import pytest

from kolejka.settings import Settings


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings.from_env({}).trusted_proxies == ""


def test_trusted_proxies_take_addresses_and_networks() -> None:
    value = "10.0.0.10, 192.168.1.0/24,::1"
    assert Settings.from_env({"KOLEJKA_TRUSTED_PROXIES": value}).trusted_proxies == value


@pytest.mark.parametrize("value", ["proxy.local", "10.0.0.1/8", "10.0.0.300", "*,10.0.0.1"])
def test_a_trusted_proxy_that_is_no_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="KOLEJKA_TRUSTED_PROXIES"):
        Settings.from_env({"KOLEJKA_TRUSTED_PROXIES": value})


def test_the_old_name_of_the_setting_is_refused_with_the_new_one() -> None:
    with pytest.raises(ValueError, match="KOLEJKA_TRUSTED_PROXIES"):
        Settings.from_env({"KOLEJKA_FORWARDED_ALLOW_IPS": "10.0.0.10"})
