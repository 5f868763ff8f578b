"""The agent state rules on their own: one state across queues, from member events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kolejka.domain.agents import (
    AgentCompleted,
    AgentConnected,
    AgentLive,
    AgentRinging,
    AgentRingNoAnswer,
    AgentState,
    CompletedBy,
    Device,
    MemberAdded,
    MemberEvent,
    MemberPaused,
    MemberRemoved,
    MemberReport,
    Membership,
    MemberStatus,
    apply,
    derive,
    is_login,
    off,
    pause_reason,
    resynced,
)
from tests.factories import member

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def report(queue_id: int = 2, **changes: object) -> MemberReport:
    return member(queue_id=queue_id, **changes)


def run(*steps: tuple[MemberEvent, int | None]) -> list[AgentLive]:
    """Applies the events one second apart; every record after each."""
    live = off("jkowalski", T0)
    seen = []
    for n, (event, pause_id) in enumerate(steps, 1):
        live = apply(live, event, T0 + n * SECOND, pause_id)
        seen.append(live)
    return seen


def test_an_agent_in_no_queue_is_off() -> None:
    assert derive([]) == (AgentState.OFF, None)


def test_added_to_a_queue_it_is_free_and_removed_from_its_last_queue_it_is_off() -> None:
    added, removed = run((MemberAdded(report()), None), (MemberRemoved("jkowalski", 2), None))
    assert (added.state, added.status.queues) == (AgentState.FREE, (2,))
    assert (removed.state, removed.status.queues, removed.last_change) == (
        AgentState.OFF,
        (),
        T0 + 2 * SECOND,
    )


def test_paused_in_every_queue_it_is_paused_with_the_pause_id() -> None:
    steps = run(
        (MemberAdded(report(2)), None),
        (MemberAdded(report(7)), None),
        (MemberPaused(report(2, paused=True, pause_reason="Przerwa")), 4),
        (MemberPaused(report(7, paused=True, pause_reason="Przerwa")), 4),
    )
    assert [s.state for s in steps] == [AgentState.FREE] * 3 + [AgentState.PAUSED]
    assert steps[-1].pause_id == 4
    # Available to queue 7 while paused in 2: FREE, and its time in state did not restart.
    assert steps[2].last_change == T0 + SECOND


def test_unpaused_it_is_free_again_and_its_pause_id_is_gone() -> None:
    *_, unpaused = run(
        (MemberAdded(report()), None),
        (MemberPaused(report(paused=True, pause_reason="Przerwa")), 4),
        (MemberPaused(report()), None),
    )
    assert (unpaused.state, unpaused.pause_id, unpaused.last_change) == (
        AgentState.FREE,
        None,
        T0 + 3 * SECOND,
    )


def test_a_call_rings_then_connects_then_completes() -> None:
    steps = run(
        (MemberAdded(report()), None),
        (AgentRinging("jkowalski", 2, "c1"), None),
        (MemberStatus(report(device=Device.INUSE)), None),  # a Local member ringing shows 2
        (AgentConnected("jkowalski", 2, "c1", None, None), None),
        (MemberStatus(report(in_call=True, device=Device.INUSE)), None),
        (AgentCompleted("jkowalski", 2, "c1", None, 6 * SECOND, CompletedBy.AGENT), None),
        (MemberStatus(report()), None),
    )
    assert [s.state for s in steps] == [
        AgentState.FREE,
        AgentState.RINGING,
        AgentState.RINGING,
        AgentState.INBOUND_CALL,
        AgentState.INBOUND_CALL,
        AgentState.FREE,
        AgentState.FREE,
    ]
    # A repeated state keeps the time it began.
    assert steps[2].last_change == steps[1].last_change
    assert steps[4].last_change == steps[3].last_change
    assert steps[6].last_change == steps[5].last_change


def test_an_agent_on_two_calls_talks_until_both_complete() -> None:
    """Found by a black-box attack: with Asterisk's `ringinuse` a member may be connected to a
    second call, and the end of the first made it FREE while it talked on the other."""
    steps = run(
        (MemberAdded(report()), None),
        (AgentConnected("jkowalski", 2, "c1", None, None), None),
        (AgentConnected("jkowalski", 2, "c2", None, None), None),
        (AgentCompleted("jkowalski", 2, "c1", None, 6 * SECOND, CompletedBy.AGENT), None),
        (AgentCompleted("jkowalski", 2, "c1", None, 6 * SECOND, CompletedBy.AGENT), None),
        (AgentCompleted("jkowalski", 2, "c2", None, 9 * SECOND, CompletedBy.CALLER), None),
    )
    assert [s.state for s in steps] == [
        AgentState.FREE,
        AgentState.INBOUND_CALL,
        AgentState.INBOUND_CALL,
        AgentState.INBOUND_CALL,
        AgentState.INBOUND_CALL,  # the first call's end, heard twice, ends nothing more
        AgentState.FREE,
    ]


def test_the_pbx_saying_the_member_is_not_in_a_call_ends_the_calls_we_knew() -> None:
    *_, idle = run(
        (MemberAdded(report()), None),
        (AgentConnected("jkowalski", 2, "c1", None, None), None),
        (MemberStatus(report(in_call=False)), None),  # AgentComplete was missed in a gap
    )
    assert idle.state is AgentState.FREE
    assert idle.memberships[0].calls == ()


def test_a_call_that_ends_after_its_agent_left_the_queue_leaves_no_membership() -> None:
    """Found by a black-box attack: removed while talking, the agent turned FREE in the queue
    it had left once the call ended, until the next member event."""
    *_, completed = run(
        (MemberAdded(report()), None),
        (AgentConnected("jkowalski", 2, "c1", None, None), None),
        (MemberRemoved("jkowalski", 2), None),
        (AgentCompleted("jkowalski", 2, "c1", None, 6 * SECOND, CompletedBy.AGENT), None),
    )
    assert (completed.state, completed.status.queues) == (AgentState.OFF, ())


def test_ringing_ends_when_the_call_rings_out_or_the_phone_goes_idle() -> None:
    rang_out = run(
        (MemberAdded(report()), None),
        (AgentRinging("jkowalski", 2, "c1"), None),
        (AgentRingNoAnswer("jkowalski", 2, "c1", 15 * SECOND), None),
    )[-1]
    idle = run(
        (MemberAdded(report()), None),
        (AgentRinging("jkowalski", 2, "c1"), None),
        (MemberStatus(report(device=Device.NOT_INUSE)), None),
    )[-1]
    assert rang_out.state == idle.state == AgentState.FREE


def test_a_ringing_device_makes_a_member_ringing_without_agentcalled() -> None:
    live = run((MemberStatus(report(device=Device.RINGING)), None))[-1]
    assert live.state == AgentState.RINGING


def test_talking_wins_over_paused_and_ringing_in_other_queues() -> None:
    live = run(
        (MemberAdded(report(2, paused=True, pause_reason="Przerwa")), 1),
        (AgentRinging("jkowalski", 3, "c2"), None),
        (AgentConnected("jkowalski", 7, "c1", None, None), None),
    )[-1]
    assert live.state == AgentState.INBOUND_CALL
    assert live.status.queues == (2, 3, 7)


def test_a_pause_reason_is_only_read_from_a_paused_member() -> None:
    assert pause_reason(MemberPaused(report(paused=True, pause_reason=" Przerwa "))) == "Przerwa"
    assert pause_reason(MemberPaused(report(paused=True))) is None
    assert pause_reason(MemberPaused(report(pause_reason="Przerwa"))) is None


def test_a_snapshot_replaces_the_memberships_of_its_queues_only() -> None:
    live = AgentLive(
        "jkowalski",
        (Membership(2), Membership(3, ringing=True), Membership(99)),
        AgentState.RINGING,
        None,
        T0,
    )
    after = resynced(
        live,
        [(report(3, device=Device.INUSE), None), (report(4, paused=True), None)],
        queues=[2, 3, 4],
        now=T0 + SECOND,
    )
    assert after.memberships == (
        Membership(3, ringing=True),
        Membership(4, paused=True),
        Membership(99),
    )
    assert (after.state, after.last_change) == (AgentState.RINGING, T0)


def test_logins_are_url_and_ami_safe() -> None:
    assert is_login("jkowalski")
    assert is_login("jan.kowalski@firma.pl")
    for bad in ("", "PJSIP/201", "a b", "-x", "x" * 65, "jan\r\n"):
        assert not is_login(bad)
