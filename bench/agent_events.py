"""Benchmark: agents from AMI, a stream of caller and member events mixed as a call centre sends it.

1. Throughput: events parsed and applied per second. The Asterisk of bench.ami_events sends,
   over a real TCP socket to the real listener (parser, event table, PbxSync with AgentSync,
   SQLite file in WAL mode, wired as bootstrap wires them), a stream built from Asterisk 22's
   packets in ../shared/ami/transcripts/ami_session_agents_callbacks.txt with fresh ids: 100
   agents added to a queue; then for every call a QueueCallerJoin and, 20 calls later, its
   answer: AgentCalled, QueueMemberStatus (ringing), QueueCallerLeave, AgentConnect,
   QueueMemberStatus (in call), AgentComplete, QueueMemberStatus (idle); and among them 20 other
   agents pausing with a reason and unpausing. Timed from the first byte sent to the last event
   applied. Bar: >= 20,000 events/s.
2. Latency: time from a member event reaching the socket to the change being visible through
   `Agents.statuses()`. `kolejka serve` runs in its own process with the listener configured;
   this process plays Asterisk at a steady 1,000 events/s (the same mix) and reads
   `Agents.statuses()` on its own connection to the same SQLite file as fast as it answers. Each
   event that changes an agent's state (ringing, in call, free, paused) counts as visible at the
   first read that shows the agent in that state. Bar: p99 <= 10 ms.

    flock /tmp/kolejka-bench.lock .venv/bin/python -m bench.agent_events [--calls 8000]
        [--rounds 3] [--rate 1000] [--seconds 30] [--no-latency]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.ami_events import (
    PASSWORD,
    USER,
    WAITING,
    BenchAsterisk,
    caller_packet,
    following,
    serve_env,
    templates,
)
from bench.common import ROOT, kolejka_serve
from kolejka.adapters.sqlite.database import Database
from kolejka.bootstrap import build
from kolejka.domain.agents import AgentState
from kolejka.domain.queues import Queue
from kolejka.settings import Settings

CAPTURE = ROOT.parent / "shared" / "ami" / "transcripts" / "ami_session_agents_callbacks.txt"
CALL_AGENTS = 100
PAUSE_AGENTS = 20
LAST = "zz-end"  # removed at the very end: its OFF state says the stream was applied


def member_templates() -> dict[str, str]:
    """The first captured packet of each member event, with CRLF line ends."""
    found: dict[str, str] = {}
    for block in CAPTURE.read_text(encoding="utf-8").split("\n\n"):
        head = block.strip("\n").split("\n", 1)[0]
        if head.startswith("Event: ") and ("Member" in head or "Event: Agent" in head):
            name = head.removeprefix("Event: ")
            text = block.strip("\n").replace("\n", "\r\n") + "\r\n\r\n"
            found.setdefault(name, text)
            if name == "QueueMemberPause" and "Paused: 0" in text:
                found.setdefault("QueueMemberUnpause", text)
    return found


def _field(text: str, name: str, value: str) -> str:
    start = text.index(f"\r\n{name}: ") + len(name) + 4
    end = text.index("\r\n", start)
    return text[:start] + value + text[end:]


def member_packet(
    template: str, login: str, queue: str, call: int | None = None, **fields: str
) -> bytes:
    text = template
    for name in ("MemberName", "Interface", "StateInterface", "Queue"):
        if f"\r\n{name}: " in text:
            value = {"MemberName": login, "Queue": queue}.get(name, f"Local/{login}@agents/n")
            text = _field(text, name, value)
    if call is not None:
        text = text.replace("Uniqueid: 1796075714.3", f"Uniqueid: 1795800000.{call}")
        text = text.replace("Uniqueid: 1796075727.7", f"Uniqueid: 1795800000.{call}")
    for name, value in fields.items():
        text = _field(text, name, value)
    return text.encode()


Event = tuple[str, AgentState | None, bytes]  # (login, the state it brings, packet)


def stream(calls: int, queue: str) -> list[Event]:
    """The mixed stream; each item names the agent whose state the event changes, and to what."""
    caller = templates()
    member = member_templates()
    events: list[Event] = []
    agents = [f"agent{n:03d}" for n in range(CALL_AGENTS)]
    pausers = [f"pause{n:03d}" for n in range(PAUSE_AGENTS)]
    for login in [*agents, *pausers, LAST]:
        events.append(
            (login, AgentState.FREE, member_packet(member["QueueMemberAdded"], login, queue))
        )
    paused: set[str] = set()
    for index in range(calls + WAITING):
        if index < calls:
            events.append(("", None, caller_packet(caller["QueueCallerJoin"], index, queue)))
        answered = index - WAITING
        if answered >= 0:
            agent = agents[answered % CALL_AGENTS]
            status = member["QueueMemberStatus"]
            called, connect = member["AgentCalled"], member["AgentConnect"]
            events += [
                (agent, AgentState.RINGING, member_packet(called, agent, queue, answered)),
                ("", None, member_packet(status, agent, queue, Status="6", InCall="0")),
                ("", None, caller_packet(caller["QueueCallerLeave"], answered, queue)),
                (agent, AgentState.INBOUND_CALL, member_packet(connect, agent, queue, answered)),
                ("", None, member_packet(status, agent, queue, Status="2", InCall="1")),
                (
                    agent,
                    AgentState.FREE,
                    member_packet(member["AgentComplete"], agent, queue, answered),
                ),
                ("", None, member_packet(status, agent, queue, Status="1", InCall="0")),
            ]
        if index % 5 == 0:
            pauser = pausers[(index // 5) % PAUSE_AGENTS]
            if pauser in paused:
                paused.discard(pauser)
                packet = member_packet(member["QueueMemberUnpause"], pauser, queue)
                events.append((pauser, AgentState.FREE, packet))
            else:
                paused.add(pauser)
                reason = ("Przerwa", "Obiad", "Szkolenie")[index % 3]
                packet = member_packet(
                    member["QueueMemberPause"], pauser, queue, PausedReason=reason
                )
                events.append((pauser, AgentState.PAUSED, packet))
    events.append((LAST, AgentState.OFF, member_packet(member["QueueMemberRemoved"], LAST, queue)))
    return events


# 1. Throughput -------------------------------------------------------------------------------


async def throughput_round(calls: int) -> tuple[float, int]:
    events = stream(calls, "support")
    data = b"".join(packet for _, _, packet in events)
    asterisk = BenchAsterisk()
    server = await asterisk.start()
    async with following(asterisk) as components:
        assert isinstance(components.database, Database)
        sql = components.database.connection
        assert asterisk.writer is not None
        started = time.perf_counter()
        asterisk.writer.write(data)
        query = "SELECT state FROM agent_live WHERE login = ?"
        while (sql.execute(query, (LAST,)).fetchone() or ("",))[0] != "OFF":
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - started
        statuses = await components.agents.statuses()
        await components.history.flush()
        departures = sql.execute("SELECT count(*) FROM connections").fetchone()[0]
    server.close()
    assert departures == calls, (departures, calls)
    assert len(statuses) == CALL_AGENTS + PAUSE_AGENTS + 1
    assert all(s.state is AgentState.FREE for s in statuses if s.login.startswith("agent"))
    return len(events) / elapsed, len(events)


# 2. Latency ----------------------------------------------------------------------------------


async def latency(seconds: float, rate: float) -> dict[str, float]:
    # Calls enough for `seconds` at `rate` (about 7.4 events a call, the pauses included).
    events = stream(int(seconds * rate / 7.4), "2")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "kolejka.db"
        components = build(Settings(database_url=f"sqlite:///{database}"))
        await components.queues.put(Queue(2, "Obsługa klienta"))
        await components.api_users.add(USER, PASSWORD, ["*"])
        asterisk = BenchAsterisk()
        server = await asterisk.start()
        env = serve_env(database, asterisk)
        # Each agent's changes as read: (read at, state, last_change as Unix seconds).
        seen: dict[str, list[tuple[float, AgentState, float]]] = {}
        reads = 0

        async def read() -> None:
            nonlocal reads
            last: dict[str, tuple[AgentState, float]] = {}
            while True:
                statuses = await components.agents.statuses()
                now = time.perf_counter()
                reads += 1
                for status in statuses:
                    current = (status.state, status.last_change.timestamp())
                    if last.get(status.login) != current:
                        last[status.login] = current
                        seen.setdefault(status.login, []).append((now, *current))
                await asyncio.sleep(0)

        with kolejka_serve(env):
            await asyncio.wait_for(asterisk.ready.wait(), 30)
            await asyncio.sleep(0.5)  # the listener reconciles with the empty QueueStatus
            reading = asyncio.create_task(read())
            assert asterisk.writer is not None
            sent: dict[str, list[tuple[float, float, AgentState]]] = {}
            started = time.perf_counter()
            for index, (login, state, packet) in enumerate(events):
                due = started + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if state is not None:
                    # Both clocks read before the write: kolejka may stamp the change before
                    # this process runs again, and the stamp must not precede the send.
                    sent.setdefault(login, []).append((time.time(), time.perf_counter(), state))
                asterisk.writer.write(packet)
            achieved = len(events) / (time.perf_counter() - started)
            await asyncio.sleep(1.0)
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        components.close()
        await asyncio.sleep(0.1)
        server.close()
    delays, missed = [], 0
    for login, changes in sent.items():
        delays += _visible(changes, seen.get(login, []))
        missed += len(changes) - len(_visible(changes, seen.get(login, [])))
    delays.sort()
    return {
        "events": len(events),
        "rate": achieved,
        "measured": len(delays),
        "missed": missed,
        "reads": reads,
        "p50": statistics.median(delays),
        "p90": delays[int(len(delays) * 0.90)],
        "p99": delays[int(len(delays) * 0.99)],
        "max": delays[-1],
    }


def _visible(
    sent: list[tuple[float, float, AgentState]], seen: list[tuple[float, AgentState, float]]
) -> list[float]:
    """Milliseconds from each sent change of one agent to the first read that shows it.

    A read shows change k when it shows change k or a later one (changes apply in order). A
    read's (state, last_change) is change j: the last one sent, in that state, before the
    listener stamped it (the clocks are the same machine's). A change superseded before any
    read saw it counts at the first read that saw a later one: an upper bound, never a gap.
    """
    delays: list[float] = []
    done = 0
    for read_at, state, stamped in seen:
        j = next(
            (
                i
                for i in range(len(sent) - 1, -1, -1)
                if sent[i][2] is state and sent[i][0] <= stamped
            ),
            -1,
        )
        while done <= j:
            delays.append((read_at - sent[done][1]) * 1000)
            done += 1
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=8000, help="calls per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the latency run")
    parser.add_argument("--no-latency", action="store_true", help="measure throughput only")
    args = parser.parse_args()

    rounds = [asyncio.run(throughput_round(args.calls)) for _ in range(args.rounds)]
    shown = ", ".join(f"{rate:,.0f}" for rate, _ in rounds)
    median = statistics.median(rate for rate, _ in rounds)
    print(
        f"mixed caller and member events, socket -> SQLite ({rounds[0][1]:,} events a round):"
        f" {shown} events/s; median {median:,.0f}"
    )
    if args.no_latency:
        return
    result = asyncio.run(latency(args.seconds, args.rate))
    print(
        f"member event on the socket -> visible in Agents.statuses() at {result['rate']:,.0f}"
        f" events/s: p50 {result['p50']:.2f} ms, p90 {result['p90']:.2f} ms,"
        f" p99 {result['p99']:.2f} ms, max {result['max']:.2f} ms ({result['measured']:.0f}"
        f" state changes measured, {result['missed']:.0f} missed, {result['reads']:.0f} reads)"
    )


if __name__ == "__main__":
    main()
