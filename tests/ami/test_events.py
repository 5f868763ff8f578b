"""The table of AMI events: each captured packet translates into the domain event it means."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kolejka.adapters.ami.events import (
    HANDLERS,
    UnmappedMember,
    UnmappedQueue,
    Unusable,
    is_list_end,
    member_report,
    queued_caller,
    translate,
)
from kolejka.adapters.ami.member_names import MemberNames
from kolejka.adapters.ami.protocol import PacketParser
from kolejka.adapters.ami.queue_names import QueueNames
from kolejka.domain.agents import (
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    AgentRingNoAnswer,
    CompletedBy,
    Device,
    MemberAdded,
    MemberPaused,
    MemberRemoved,
    MemberStatus,
)
from kolejka.domain.pbx import CallerAbandoned, CallerJoined, CallerLeft, QueuedCaller
from tests.ami.fake_asterisk import captured_packets
from tests.factories import member

NAMES = QueueNames({"support": 7})
AGENTS = "ami_session_agents_callbacks.txt"


def parsed(name: str, event: str) -> list[dict[str, str]]:
    parser = PacketParser()
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    packets = parser.feed(b"".join(captured_packets(name)))
    return [p for p in packets if p.get("Event") == event]


def test_queue_caller_join_is_a_caller_joining_with_number_name_and_call_id() -> None:
    join = parsed("queue_caller_events.txt", "QueueCallerJoin")[0]
    assert translate(join, NAMES) == CallerJoined(
        queue_id=7,
        queue_name="support",
        call_id="1795705470.0",
        phone_number="4915110000001",
        caller_name="Caller 1",
    )


def test_queue_caller_abandon_carries_asterisks_hold_time() -> None:
    abandon = parsed("queue_caller_events.txt", "QueueCallerAbandon")[2]
    assert translate(abandon, NAMES) == CallerAbandoned(7, "1795705471.2", timedelta(seconds=20))


def test_queue_caller_leave_is_a_caller_leaving_whose_answer_the_agent_tells() -> None:
    leave = parsed("queue_caller_events.txt", "QueueCallerLeave")[0]
    assert translate(leave, NAMES) == CallerLeft(7, "1795705470.0", answer_announced=True)


def test_the_pre_12_join_and_leave_mean_the_same_but_a_leave_is_taken_as_answered() -> None:
    join = {"Event": "Join", "Queue": "2", "Uniqueid": "1.1", "CallerID": "613459851"}
    assert translate(join, NAMES) == CallerJoined(2, "2", "1.1", "613459851", "")
    # Before 12, AgentConnect came only with `eventwhencalled`: it is not waited for.
    assert translate({"Event": "Leave", "Queue": "2", "Uniqueid": "1.1"}, NAMES) == CallerLeft(
        2, "1.1", answer_announced=False
    )


def test_events_not_in_the_table_are_not_ours() -> None:
    for event in ("AgentLogin", "QueueParams", "VarSet", "Newchannel", "Hangup", ""):
        assert translate({"Event": event, "Queue": "support", "Uniqueid": "1"}, NAMES) is None
    assert translate({"Response": "Success"}, NAMES) is None


def test_a_missing_caller_id_is_an_empty_number_and_name() -> None:
    join = {"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.1"}
    join |= {"CallerIDNum": "<unknown>", "CallerIDName": "<unknown>"}
    event = translate(join, NAMES)
    assert isinstance(event, CallerJoined)
    assert (event.phone_number, event.caller_name) == ("", "")


def test_a_queue_entry_is_a_caller_who_has_waited_so_long() -> None:
    entry = parsed("queuestatus_replies.txt", "QueueEntry")[1]
    assert queued_caller(entry, NAMES) == QueuedCaller(
        7, "1795705470.1", "4915110000002", "Caller 2", timedelta(seconds=5)
    )


def test_a_queue_entry_without_caller_id_says_unknown_without_brackets() -> None:
    entry = {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.1", "Wait": "3"}
    entry |= {"CallerIDNum": "unknown", "CallerIDName": "unknown"}
    assert queued_caller(entry, NAMES).phone_number == ""


@pytest.mark.parametrize("wait", ["", "-3", "abc", "99999999999", "٣"])
def test_a_wait_that_is_not_a_count_of_seconds_counts_as_none(wait: str) -> None:
    entry = {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.1", "Wait": wait}
    assert queued_caller(entry, NAMES).waited == timedelta(0)


@pytest.mark.parametrize("hold", ["", "-1", "1e9", "١٩"])
def test_an_abandon_with_a_bad_hold_time_leaves_it_to_be_measured(hold: str) -> None:
    abandon = {"Event": "QueueCallerAbandon", "Queue": "support", "Uniqueid": "1.1"}
    event = translate(abandon | {"HoldTime": hold}, NAMES)
    assert event == CallerAbandoned(7, "1.1", None)


def test_an_event_without_a_uniqueid_is_unusable() -> None:
    with pytest.raises(Unusable, match="no Uniqueid"):
        translate({"Event": "QueueCallerJoin", "Queue": "support"}, NAMES)


def test_an_event_with_a_huge_uniqueid_is_unusable() -> None:
    with pytest.raises(Unusable, match="longer than 128"):
        translate({"Event": "QueueCallerLeave", "Queue": "support", "Uniqueid": "9" * 129}, NAMES)


def test_huge_names_and_numbers_are_cut_to_what_the_list_keeps() -> None:
    join = {"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.1"}
    event = translate(join | {"CallerIDNum": "1" * 5000, "CallerIDName": "n" * 5000}, NAMES)
    assert isinstance(event, CallerJoined)
    assert (len(event.phone_number), len(event.caller_name)) == (64, 256)


def test_an_event_of_an_unmapped_queue_names_the_queue() -> None:
    with pytest.raises(UnmappedQueue) as raised:
        translate({"Event": "QueueCallerJoin", "Queue": "sales", "Uniqueid": "1.1"}, NAMES)
    assert raised.value.name == "sales"


def test_the_end_of_a_queue_status_answer_is_recognised() -> None:
    complete = parsed("queuestatus_replies.txt", "QueueStatusComplete")[0]
    assert is_list_end(complete)
    assert not is_list_end(parsed("queuestatus_replies.txt", "QueueEntry")[0])


def test_every_event_of_the_table_is_in_the_captures_or_is_the_pre_12_name() -> None:
    captures = ("ami_session_sip.txt", "ami_session_answered_by_member.txt", AGENTS)
    seen = {p.get("Event") for name in captures for p in parsed_all(name)}
    assert set(HANDLERS) - seen == {"Join", "Leave", "QueueMemberPaused"}


def parsed_all(name: str) -> list[dict[str, str]]:
    parser = PacketParser()
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    return parser.feed(b"".join(captured_packets(name)))


# Queue names ----------------------------------------------------------------------------------


def test_a_queue_named_by_a_positive_integer_is_that_queue() -> None:
    names = QueueNames()
    assert [names.queue_id(n) for n in ("2", "0002", "0", "-2", "2a", "support")] == [
        2,
        2,
        None,
        None,
        None,
        None,
    ]


def test_the_mapping_names_queues_and_wins_over_a_numeric_name() -> None:
    names = QueueNames.parse(" support = 7 , sales=8,2=5,")
    assert dict(names.mapping) == {"support": 7, "sales": 8, "2": 5}
    assert names.queue_id("2") == 5
    assert names.mapped_ids() == {5, 7, 8}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("support", "is not name=id"),
        ("=7", "is not name=id"),
        ("support=seven", "is not a queue id"),
        ("support=0", "is not a queue id"),
        ("support=7,support=8", "mapped twice"),
    ],
)
def test_a_bad_mapping_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        QueueNames.parse(text)


# Queue members (agents) -----------------------------------------------------------------------


def test_member_events_carry_the_whole_member_named_by_its_login() -> None:
    added = parsed(AGENTS, "QueueMemberAdded")[0]
    paused, unpaused = parsed(AGENTS, "QueueMemberPause")
    talking = parsed(AGENTS, "QueueMemberStatus")[0]
    removed = parsed(AGENTS, "QueueMemberRemoved")[0]
    assert translate(added, NAMES) == MemberAdded(member())
    assert translate(paused, NAMES) == MemberPaused(member(paused=True, pause_reason="Przerwa"))
    assert translate(unpaused, NAMES) == MemberPaused(member())
    assert translate(talking, NAMES) == MemberStatus(member(in_call=True, device=Device.INUSE))
    assert translate(removed, NAMES) == MemberRemoved("jkowalski", 2)


def test_call_events_carry_the_callers_call_id_and_the_times_for_the_call_history() -> None:
    called = parsed(AGENTS, "AgentCalled")[0]
    connect = parsed(AGENTS, "AgentConnect")[0]
    complete = parsed(AGENTS, "AgentComplete")[0]
    no_answer = parsed(AGENTS, "AgentRingNoAnswer")[0]
    assert translate(called, NAMES) == AgentRinging("jkowalski", 2, "1796075714.3")
    assert translate(connect, NAMES) == AgentConnected(
        "jkowalski", 2, "1796075714.3", hold_time=timedelta(0), ring_time=timedelta(0)
    )
    assert translate(complete, NAMES) == AgentCompleted(
        "jkowalski",
        2,
        "1796075714.3",
        hold_time=timedelta(0),
        talk_time=timedelta(seconds=6),
        reason=CompletedBy.AGENT,
    )
    # AgentRingNoAnswer's RingTime is milliseconds; the caller's Uniqueid, not the member leg's.
    assert translate(no_answer, NAMES) == AgentRingNoAnswer(
        "anowak", 2, "1796075727.7", timedelta(seconds=15)
    )


def test_a_queue_status_member_line_names_the_member_name_and_location() -> None:
    line = parsed(AGENTS, "QueueMember")[0]
    expected = member(paused=True, pause_reason="Przerwa")
    assert member_report(line, NAMES, MemberNames()) == expected


def test_a_mapped_interface_names_the_login_over_the_member_name() -> None:
    added = parsed(AGENTS, "QueueMemberAdded")[0]
    members = MemberNames.parse("Local/jkowalski@agent-answer/n = jan.k, PJSIP/201=x")
    event = translate(added | {"MemberName": "201"}, NAMES, members)
    assert isinstance(event, MemberAdded)
    assert event.member.login == "jan.k"
    by_state = translate(added | {"Interface": "Local/x", "MemberName": "201"}, NAMES, members)
    assert isinstance(by_state, MemberAdded)
    assert by_state.member.login == "jan.k"


def test_a_member_whose_name_is_no_login_and_is_not_mapped_is_unmapped() -> None:
    added = parsed(AGENTS, "QueueMemberAdded")[0]
    unnamed = added | {"MemberName": "PJSIP/201", "Interface": "PJSIP/201", "StateInterface": ""}
    with pytest.raises(UnmappedMember) as raised:
        translate(unnamed, NAMES)
    assert raised.value.name == "PJSIP/201"


@pytest.mark.parametrize(
    "text",
    ["PJSIP/201", "=jk", "PJSIP/201=bad login", "PJSIP/201=a,PJSIP/201=b"],
)
def test_a_bad_members_map_is_refused_at_start(text: str) -> None:
    with pytest.raises(ValueError, match="KOLEJKA_AMI_MEMBERS"):
        MemberNames.parse(text)


def test_a_member_event_of_an_unmapped_queue_is_unmapped_and_odd_values_are_safe() -> None:
    added = parsed(AGENTS, "QueueMemberAdded")[0]
    with pytest.raises(UnmappedQueue):
        translate(added | {"Queue": "sales"}, NAMES)
    odd = translate(added | {"Status": "99", "InCall": "yes", "Paused": "x"}, NAMES)
    assert odd == MemberAdded(member(device=Device.UNKNOWN))
    complete = parsed(AGENTS, "AgentComplete")[0] | {"Reason": "??", "TalkTime": "-1"}
    event = translate(complete, NAMES)
    assert isinstance(event, AgentCompleted)
    assert (event.reason, event.talk_time) == (CompletedBy.UNKNOWN, None)
