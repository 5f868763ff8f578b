"""Settings read from the environment: the trusted proxies (`KOLEJKA_TRUSTED_PROXIES`) and the
callbacks' (`KOLEJKA_CALLBACK_*`)."""

from __future__ import annotations

import dataclasses

import pytest

from kolejka.adapters.ami.originate import OriginateConfig
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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KOLEJKA_CALLBACK_ATTEMPTS", "0"),
        ("KOLEJKA_CALLBACK_ATTEMPTS", "21"),
        ("KOLEJKA_CALLBACK_RETRY_SECONDS", "-1"),
        ("KOLEJKA_CALLBACK_HORIZON_DAYS", "0"),
        ("KOLEJKA_CALLBACK_HORIZON_DAYS", "401"),
        ("KOLEJKA_CALLBACK_RING_SECONDS", "2"),
        ("KOLEJKA_CALLBACK_CLAIM_SECONDS", "5"),
        ("KOLEJKA_CALLBACK_MAX_CALLS", "0"),
        ("KOLEJKA_CALLBACK_WAIT_FOR_AGENT", "2,support"),
    ],
)
def test_callback_settings_out_of_range_are_refused_naming_the_setting(
    name: str, value: str
) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"callback_channel": "PJSIP/trunk"}, "KOLEJKA_CALLBACK_CHANNEL"),
        ({"callback_channel": "PJSIP/{phone}@trunk"}, "KOLEJKA_CALLBACK_CHANNEL"),
        (
            {"callback_channel": "PJSIP/{number}@trunk\r\nAction: Logoff"},
            "KOLEJKA_CALLBACK_CHANNEL",
        ),
        ({"callback_channel": "PJSIP/{number}", "callback_entry": "2=2"}, "KOLEJKA_CALLBACK_ENTRY"),
        (
            {"callback_channel": "PJSIP/{number}", "callback_entry": "x=2@c"},
            "KOLEJKA_CALLBACK_ENTRY",
        ),
        ({"callback_channel": "PJSIP/{number}", "callback_caller_id": "{name}"}, "CALLER_ID"),
    ],
)
def test_a_callback_channel_or_entry_that_cannot_work_is_refused_at_start(
    changes: dict[str, str], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        OriginateConfig.from_settings(dataclasses.replace(Settings(), **changes))  # type: ignore[arg-type]
