"""Agents controlled through Asterisk: the actions sent over the listener's live AMI connection.

The fake Asterisk answers QueuePause, QueueAdd and QueueRemove as app_queue does in the capture
ami_session_agents_callbacks.txt (the Response, then the member event). Each test asserts the
exact action Asterisk received, and that a refusal, a link that is down or an unanswered action
changes nothing in Asterisk and raises what the HTTP API turns into 409 or 503.
"""

from __future__ import annotations

import pytest

from kolejka.adapters.ami.config import AmiConfig
from kolejka.adapters.ami.control import AmiControl
from kolejka.adapters.ami.listener import AmiListener
from kolejka.domain.errors import NoPbxInterface, PbxRefused, PbxUnavailable
from kolejka.settings import Settings
from tests.ami.fake_asterisk import FakeAsterisk, events
from tests.ami.helpers import AGENTS_CAPTURE, JK_INTERFACE, SUPPORT, ami_settings, paused_as, sent
from tests.support import eventually


async def until_known(listener: AmiListener, login: str) -> None:
    await eventually(lambda: login in listener.interfaces)


async def jkowalski_in_queue_2(asterisk: FakeAsterisk) -> None:
    """jkowalski becomes a member of queue 2, as the capture's first QueueMemberAdded says."""
    await asterisk.push(events(AGENTS_CAPTURE, "QueueMemberAdded")[0])


async def test_a_pause_is_sent_as_queuepause_with_the_reported_interface_and_reason(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    control = AmiControl(following)
    await until_known(following, "jkowalski")
    await control.pause("jkowalski", "Przerwa")
    assert sent(asterisk, "QueuePause") == [
        {
            "Action": "QueuePause",
            "Interface": JK_INTERFACE,
            "Paused": "true",
            "Reason": "Przerwa",
        }
    ]
    assert paused_as(asterisk, "2") == ("1", "Przerwa")
    await control.unpause("jkowalski")
    assert sent(asterisk, "QueuePause")[1] == {
        "Action": "QueuePause",
        "Interface": JK_INTERFACE,
        "Paused": "false",
    }
    assert paused_as(asterisk, "2") == ("0", "")


async def test_a_reason_with_line_breaks_cannot_smuggle_a_header_into_the_action(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    await until_known(following, "jkowalski")
    await AmiControl(following).pause("jkowalski", "Lunch\r\nAction: Originate")
    assert sent(asterisk, "QueuePause")[0]["Reason"] == "Lunch Action: Originate"
    assert sent(asterisk, "Originate") == []


async def test_login_adds_the_member_by_login_to_the_mapped_queue_name(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    await until_known(following, "jkowalski")
    control = AmiControl(following)
    await control.add_member("jkowalski", 201, SUPPORT)  # KOLEJKA_AMI_QUEUES: support=7
    assert sent(asterisk, "QueueAdd") == [
        {
            "Action": "QueueAdd",
            "Queue": "support",
            "Interface": JK_INTERFACE,
            "MemberName": "jkowalski",
            "Paused": "false",
        }
    ]
    assert asterisk.members[("support", "jkowalski")]["Interface"] == JK_INTERFACE
    # Already a member: Asterisk says "Already there", which is what was wanted.
    await control.add_member("jkowalski", 201, 2)
    assert len(sent(asterisk, "QueueAdd")) == 2


async def test_logout_removes_the_member_and_a_member_already_gone_is_no_error(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    await until_known(following, "jkowalski")
    control = AmiControl(following)
    await control.remove_member("jkowalski", 2)
    assert sent(asterisk, "QueueRemove") == [
        {"Action": "QueueRemove", "Queue": "2", "Interface": JK_INTERFACE}
    ]
    assert asterisk.members == {}
    await control.remove_member("jkowalski", 2)  # "Not there"


async def test_an_agent_asterisk_never_reported_is_logged_in_with_the_interface_template(
    settings: Settings, asterisk: FakeAsterisk, following: AmiListener
) -> None:
    config = AmiConfig.from_settings(
        ami_settings(settings, asterisk, ami_member_interface="PJSIP/{number}")
    )
    assert config is not None
    following.config = config
    control = AmiControl(following)
    await control.add_member("anowak", 202, 2)
    assert sent(asterisk, "QueueAdd")[0]["Interface"] == "PJSIP/202"
    with pytest.raises(NoPbxInterface):
        await control.add_member("bez_numeru", None, 2)


async def test_without_a_template_an_unreported_agent_has_no_interface_and_nothing_is_sent(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    with pytest.raises(NoPbxInterface):
        await AmiControl(following).add_member("anowak", 202, 2)
    assert sent(asterisk, "QueueAdd") == []


async def test_a_refusal_is_raised_with_asterisks_words_and_changes_nothing(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    await until_known(following, "jkowalski")
    asterisk.refuse_actions["QueuePause"] = "Permission denied"
    with pytest.raises(PbxRefused) as refused:
        await AmiControl(following).pause("jkowalski", "Przerwa")
    assert (refused.value.action, refused.value.reason) == ("QueuePause", "Permission denied")
    assert paused_as(asterisk, "2") == ("0", "")


async def test_a_static_member_cannot_be_removed_and_says_why(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    await until_known(following, "jkowalski")
    asterisk.refuse_actions["QueueRemove"] = "Unable to remove interface: Not dynamic"
    with pytest.raises(PbxRefused, match="Not dynamic"):
        await AmiControl(following).remove_member("jkowalski", 2)


async def test_with_the_link_down_nothing_is_sent_and_the_pbx_is_unavailable(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    await until_known(following, "jkowalski")
    await asterisk.stop()
    await eventually(lambda: not following.link.up)
    before = len(asterisk.actions)
    with pytest.raises(PbxUnavailable) as unavailable:
        await AmiControl(following).pause("jkowalski", "Przerwa")
    assert unavailable.value.confirmed_nothing
    assert len(asterisk.actions) == before


async def test_an_action_asterisk_never_answers_is_unconfirmed_not_refused(
    following: AmiListener, asterisk: FakeAsterisk
) -> None:
    await jkowalski_in_queue_2(asterisk)
    await until_known(following, "jkowalski")
    asterisk.ignore_actions.add("QueuePause")
    with pytest.raises(PbxUnavailable) as unavailable:
        await AmiControl(following).pause("jkowalski", "Przerwa")
    assert not unavailable.value.confirmed_nothing


async def test_before_the_first_login_there_is_no_link_to_act_on(
    listener: AmiListener, asterisk: FakeAsterisk
) -> None:
    await asterisk.stop()
    with pytest.raises(PbxUnavailable):
        await AmiControl(listener).unpause("jkowalski")
