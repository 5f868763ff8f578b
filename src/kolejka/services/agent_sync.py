"""Keeping agents' live states equal to what a PBX reports about its queue members.

A PBX adapter (the AMI listener, the HTTP ingest API) translates member events into
`kolejka.domain.agents` events and hands them here, one at a time inside `PbxSync`'s burst
transaction. A member of whom we know nothing becomes an agent (its login as its only name),
logged once; a pause reason becomes a pause of the catalogue on first sight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from kolejka.domain.agents import (
    AgentLive,
    MemberEvent,
    MemberReport,
    NewAgent,
    apply,
    event_login,
    off,
    pause_reason,
    resynced,
)
from kolejka.domain.errors import AgentExists
from kolejka.domain.webhooks import Action, agent_status_changed
from kolejka.services.history import CallHistory
from kolejka.services.ports import AgentDirectory, AgentLiveStore, Change, ChangeFeed, Clock, Topic
from kolejka.services.webhooks import Webhooks

log = logging.getLogger(__name__)

_MAX_PAUSES_REMEMBERED = 10_000


class AgentSync:
    """Applies member events and member snapshots to the agents' live records."""

    def __init__(
        self,
        directory: AgentDirectory,
        live: AgentLiveStore,
        clock: Clock,
        changes: ChangeFeed,
        history: CallHistory | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.directory = directory
        self.webhooks = webhooks
        # Where a queue call's pick-up and end are written (the call history's row of the call).
        self.history = history
        self.live = live
        self.clock = clock
        self.changes = changes
        self._pause_ids: dict[str, int] = {}  # names never change id: safe to remember
        self._touched: set[str] | None = None
        # Reports over HTTP come concurrently; one at a time, so none undoes another's write.
        self._reporting = asyncio.Lock()

    async def apply(self, event: MemberEvent) -> bool:
        """Applies one event; True when the agent's state (or pause) changed."""
        login = event_login(event)
        if self._touched is not None:
            self._touched.add(login)
        if self.history is not None:
            await self.history.agent_event(event)
        before = await self._record(login)
        reason = pause_reason(event)
        pause_id = None if reason is None else await self.pause_id(reason)
        after = apply(before, event, self.clock.now(), pause_id)
        if after == before:
            return False
        await self.live.put(after)
        if after.state == before.state and after.pause_id == before.pause_id:
            return False
        await self._tell_webhooks(before, after)
        return True

    async def report(self, event: MemberEvent) -> AgentLive:
        """Applies one event reported on its own (the ingest API); the agent's record after it.

        Reports are applied one at a time in this instance. Two instances taking reports about
        one agent at the same instant may lose one of them: point a PBX at one instance.
        """
        async with self._reporting:
            if await self.apply(event):
                await self.changed()
            return await self._record(event_login(event))

    async def changed(self) -> None:
        """Tells every instance (and the event streams) that agents' states changed."""
        await self.changes.publish(Change(Topic.AGENTS))

    def rolled_back(self) -> None:
        """The transaction the last events shared was undone: pauses it made are gone too."""
        self._pause_ids.clear()

    async def pause_id(self, name: str) -> int:
        known = self._pause_ids.get(name)
        if known is None:
            known = (await self.directory.pause_named(name)).pause_id
            if len(self._pause_ids) < _MAX_PAUSES_REMEMBERED:
                self._pause_ids[name] = known
        return known

    async def _record(self, login: str) -> AgentLive:
        """The agent's live record; a member new to us becomes an agent, OFF until now."""
        found = await self.live.get(login)
        if found is not None:
            return found
        if await self.directory.get(login) is None:
            try:
                await self.directory.add(NewAgent(login))
            except AgentExists:
                pass  # another instance (or the CLI) added it meanwhile
            else:
                log.info(
                    "queue member %r is a new agent (login %r); name it with `kolejka agents add`",
                    login,
                    login,
                )
        return off(login, self.clock.now())

    # Snapshots ---------------------------------------------------------------------------

    def snapshot_requested(self) -> None:
        """A member snapshot was just asked for: note which agents live events touch meanwhile."""
        self._touched = set()

    def snapshot_abandoned(self) -> None:
        self._touched = None

    async def reconcile(self, queues: Iterable[int], members: Sequence[MemberReport]) -> int:
        """Makes every agent's memberships of `queues` equal to the snapshot's `members`.

        An agent a live event touched while the snapshot was taken keeps what that event said
        (it is as new as the snapshot, or newer). Returns how many agents changed state.
        """
        touched, self._touched = self._touched or set(), None
        covered = list(queues)
        reported: dict[str, list[tuple[MemberReport, int | None]]] = {}
        for member in members:
            reason = member.pause_reason.strip() if member.paused else ""
            pause_id = await self.pause_id(reason) if reason else None
            reported.setdefault(member.login, []).append((member, pause_id))
        records = {live.login: live for live in await self.live.all()}
        changed = 0
        now = self.clock.now()
        for login in reported.keys() | records.keys():
            if login in touched:
                continue
            before = records.get(login) or await self._record(login)
            after = resynced(before, reported.get(login, ()), covered, now)
            if after != before:
                await self.live.put(after)
                if after.state != before.state or after.pause_id != before.pause_id:
                    await self._tell_webhooks(before, after)
                    changed += 1
        return changed

    async def _tell_webhooks(self, before: AgentLive, after: AgentLive) -> None:
        """AGENT_STATUS_CHANGED into the outbox, when subscribed: in the burst's transaction
        where the store has one (SQLite), else right after the state's write."""
        if self.webhooks is None or not await self.webhooks.wants(Action.AGENT_STATUS_CHANGED):
            return
        agent = await self.directory.get(after.login)
        await self.webhooks.emit([agent_status_changed(after.status, agent, before.status)])
