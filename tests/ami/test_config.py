"""The listener's settings, its backoff, and TLS to Asterisk."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import ssl
from pathlib import Path

import pytest
import trustme

from kolejka.adapters.ami.config import AmiConfig
from kolejka.adapters.ami.listener import Backoff
from kolejka.bootstrap import build
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk, events
from tests.ami.helpers import SUPPORT, ami_settings, until_waiting
from tests.support import FAST_HASHER, eventually

BASE = {"KOLEJKA_AMI_HOST": "pbx.example", "KOLEJKA_AMI_USERNAME": "kolejka"}


def test_without_a_host_there_is_no_listener() -> None:
    assert AmiConfig.from_settings(Settings()) is None


def test_the_secret_may_come_from_a_file_and_never_shows_in_a_repr(tmp_path: Path) -> None:
    secret_file = tmp_path / "ami-secret"
    secret_file.write_text("s3cret\n")
    settings = Settings.from_env({**BASE, "KOLEJKA_AMI_SECRET_FILE": str(secret_file)})
    config = AmiConfig.from_settings(settings)
    assert config is not None
    assert config.secret == "s3cret"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(config)


def test_the_defaults_are_md5_on_port_5038_with_a_ten_second_ping() -> None:
    config = AmiConfig.from_settings(Settings.from_env({**BASE, "KOLEJKA_AMI_SECRET": "x"}))
    assert config is not None
    assert (config.port, config.auth, config.tls, config.ping_seconds) == (5038, "md5", None, 10)
    assert config.where == "tcp://pbx.example:5038"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"KOLEJKA_AMI_SECRET": ""}, "KOLEJKA_AMI_SECRET"),
        ({"KOLEJKA_AMI_SECRET": "x", "KOLEJKA_AMI_USERNAME": ""}, "KOLEJKA_AMI_USERNAME"),
        ({"KOLEJKA_AMI_SECRET": "x", "KOLEJKA_AMI_AUTH": "sha1"}, "KOLEJKA_AMI_AUTH"),
        ({"KOLEJKA_AMI_SECRET": "x", "KOLEJKA_AMI_TLS": "yes"}, "KOLEJKA_AMI_TLS"),
        ({"KOLEJKA_AMI_SECRET": "x", "KOLEJKA_AMI_PORT": "0"}, "KOLEJKA_AMI_PORT"),
        ({"KOLEJKA_AMI_SECRET": "x", "KOLEJKA_AMI_PING_SECONDS": "20"}, "within 30 s"),
        ({"KOLEJKA_AMI_SECRET": "x", "KOLEJKA_AMI_QUEUES": "support"}, "KOLEJKA_AMI_QUEUES"),
        ({"KOLEJKA_AMI_SECRET": "a\nAction: Originate"}, "line break"),
        (
            {
                "KOLEJKA_AMI_SECRET": "x",
                "KOLEJKA_AMI_TLS": "on",
                "KOLEJKA_AMI_TLS_CA_PATH": "/nope",
            },
            "KOLEJKA_AMI_TLS_CA_PATH",
        ),
    ],
)
def test_a_bad_setting_is_named_in_the_error(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        AmiConfig.from_settings(Settings.from_env({**BASE, **env}))


def test_backoff_doubles_up_to_its_cap_with_half_of_each_delay_random() -> None:
    backoff = Backoff(0.5, 30, random.Random(4))
    delays = [backoff.next() for _ in range(10)]
    ceilings = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d / c, 6) for d, c in zip(delays, ceilings, strict=True)}) > 1
    backoff.reset()
    assert backoff.next() <= 0.5


async def test_the_listener_follows_asterisk_over_tls(tmp_path: Path) -> None:
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    ca_path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_path))
    asterisk = await FakeAsterisk(tls=server).start()
    base = Settings(database_url=f"sqlite:///{tmp_path / 'kolejka.db'}")
    settings = ami_settings(base, asterisk, ami_tls="on", ami_tls_ca_path=str(ca_path))
    components = build(settings, hasher=FAST_HASHER)
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    try:
        await eventually(lambda: components.ami is not None and components.ami.link.up)
        await asterisk.push(events("queue_caller_events.txt", "QueueCallerJoin")[0])
        await until_waiting(components, SUPPORT, {"1795705470.0"})
        assert components.ami.config.where.startswith("tls://")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asterisk.stop()
        components.close()


async def test_a_certificate_kolejka_does_not_trust_keeps_the_link_down(tmp_path: Path) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server)
    asterisk = await FakeAsterisk(tls=server).start()
    base = Settings(database_url=f"sqlite:///{tmp_path / 'kolejka.db'}")
    components = build(
        dataclasses.replace(ami_settings(base, asterisk), ami_tls="on"), hasher=FAST_HASHER
    )
    assert components.ami is not None
    task = asyncio.create_task(components.ami.run())
    try:
        await eventually(lambda: components.ami is not None and components.ami.link.detail != "")
        assert components.ami.link.as_wire()["detail"] == "TLS handshake failed"
        assert asterisk.logins == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asterisk.stop()
        components.close()
