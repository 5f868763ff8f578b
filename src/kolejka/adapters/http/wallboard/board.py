"""What `GET /api/wallboard/stream` shows: every queue with its name, stats, waiting list and
agents.

One event is `{"now":"...","queues":[...]}`. Each queue's `waiting_list` is the very bytes of
`GET /api/queues/{id}/waiting_list` (the `WaitingListView`'s), its `waiting_stats` those of
`GET /api/queues/{id}/waiting_stats`; `agents` lists the queue's members now, each with its
state as `GET /api/agents/{login}/status` gives it plus the agent's name and the pause's name.
`abandoned` is the queue's abandoned callers today (`GET /api/queues/{id}/abandoned`): `count`,
and `callers`, the newest few of them.
`callers` lists the queue's waiting callers as `GET /api/queues/{id}/callers` sees them, but
only what the board shows and nothing that moves with the clock (so an unchanged board stays
unchanged): each caller's position, number and `started_at` (to find its row), the expected wait
still to go (`remaining_wait`, seconds; the page adds the wait it counts) and how many times the
number called today before.
`callbacks_due` lists the queue's callbacks due next (`_callbacks_due`).
`now` lets the page count waits (and time in state) on the server's clock; it stays out of what
the event's id is a digest of, so an unchanged board is not sent again, and a client that
connects later is sent the board with `now` of that moment (`restamped`).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from kolejka.adapters.http.abandoned import AbandonedView
from kolejka.adapters.http.waiting_list_view import WaitingListView
from kolejka.adapters.http.wire import to_json, waiting_stats, wire_time
from kolejka.domain.agents import AgentState
from kolejka.domain.errors import UnknownQueue
from kolejka.services.agents import Agents
from kolejka.services.callbacks import Callbacks
from kolejka.services.caller_waits import CallerWaits
from kolejka.services.waiting_lists import WaitingLists

WALLBOARD_PERMISSION = "GET wallboard/stream"
WALLBOARD_PERMISSIONS = (WALLBOARD_PERMISSION,)
BOARD_NOW = b'{"now":"'
NO_ABANDONED = b'{"count":0,"callers":[]}'
# The board reads every queue's stats: under a burst of changes (a PBX reconnecting, say) it is
# rendered at most this often; a screen does not need more.
BOARD_PAUSE = 0.25
# The callbacks due next that a queue's tile lists (a screen across the room has room for few).
BOARD_CALLBACKS = 5


class WallboardFeed:
    """Renders the wallboard's event, for the stream hub's board channel."""

    pause_seconds = BOARD_PAUSE

    def __init__(
        self,
        lists: WaitingLists,
        view: WaitingListView,
        time_zone: ZoneInfo,
        agents: Agents | None = None,
        abandoned: AbandonedView | None = None,
        caller_waits: CallerWaits | None = None,
        callbacks: Callbacks | None = None,
    ) -> None:
        self.abandoned = abandoned
        self.lists = lists
        self.view = view
        self.time_zone = time_zone
        self.agents = agents
        self.caller_waits = caller_waits
        self.callbacks = callbacks

    async def render(self) -> tuple[bytes, bytes]:
        """What the board shows (its event id is a digest of this), and the event's data."""
        parts = []
        members = await self._members()
        for queue in await self.lists.all_queues():
            try:
                waiting = await self.view.waiting_list_json(queue.queue_id)
                stats = await self.lists.stats(queue.queue_id)
                abandoned = await self._abandoned(queue.queue_id)
                callers = await self._callers(queue.queue_id)
            except UnknownQueue:
                continue  # removed while we rendered
            parts.append(
                b'{"queue_id":%d,"name":%s,"waiting_stats":%s,"waiting_list":%s,"agents":%s,'
                b'"abandoned":%s,"callers":%s'
                % (
                    queue.queue_id,
                    to_json(queue.name),
                    to_json(waiting_stats(stats)),
                    waiting,
                    to_json(members.get(queue.queue_id, [])),
                    abandoned,
                    to_json(callers),
                )
                + b',"callbacks_due":%s}' % to_json(await self._callbacks_due(queue.queue_id))
            )
        queues = b"[" + b",".join(parts) + b"]"
        return queues, BOARD_NOW + self._now() + b'","queues":%s}' % queues

    async def _abandoned(self, queue_id: int) -> bytes:
        """The queue's abandoned callers: how many, and the newest few (AbandonedView's)."""
        if self.abandoned is None:
            return NO_ABANDONED
        return (await self.abandoned.ready(queue_id)).wallboard

    async def _members(self) -> dict[int, list[dict[str, object]]]:
        """Each queue's members, by surname, name and login, with state and time of change."""
        if self.agents is None:
            return {}
        agents = {agent.login: agent for agent in await self.agents.all()}
        pauses = {pause.pause_id: pause.name for pause in await self.agents.pauses()}
        by_queue: dict[int, list[dict[str, object]]] = {}
        ordered = sorted(
            (s for s in await self.agents.statuses() if s.login in agents),
            key=lambda s: (agents[s.login].surname, agents[s.login].name, s.login),
        )
        for status in ordered:
            agent = agents[status.login]
            if status.state is AgentState.OFF:
                continue
            shown: dict[str, object] = {
                "login": status.login,
                "name": agent.name,
                "surname": agent.surname,
                "status": status.state.value,
                "pause_id": status.pause_id,
                "pause": pauses.get(status.pause_id, "") if status.pause_id is not None else "",
                "last_change": wire_time(status.last_change, self.time_zone),
            }
            for queue_id in status.queues:
                by_queue.setdefault(queue_id, []).append(shown)
        return by_queue

    async def _callers(self, queue_id: int) -> list[dict[str, object]]:
        """Each waiting caller's position, expected wait still to go and calls today."""
        if self.caller_waits is None:
            return []
        return [
            {
                "position": caller.position,
                "phone_number": caller.phone_number,
                "started_at": wire_time(caller.started_at, self.time_zone),
                "remaining_wait": (
                    None
                    if caller.remaining_wait is None
                    else int(caller.remaining_wait.total_seconds())
                ),
                "calls_today": len(caller.calls_today),
            }
            for caller in await self.caller_waits.callers(queue_id, with_customers=False)
        ]

    async def _callbacks_due(self, queue_id: int) -> list[dict[str, object]]:
        """The queue's open callbacks, earliest first: number, the CRM's customer, when due,
        attempts so far, and `dialling` while one rings. A due one still waiting (for a free
        agent, or for room on the trunk) has its `call_at` in the past: its place in line."""
        if self.callbacks is None:
            return []
        shown = []
        for due in await self.callbacks.due_next(queue_id, BOARD_CALLBACKS):
            callback = due.callback
            finished = sum(1 for attempt in callback.attempts if attempt.outcome is not None)
            shown.append(
                {
                    "callback_id": callback.callback_id,
                    "phone_number": self.lists.display(callback.phone_number),
                    "customer_id": due.match.customer_id if due.match else None,
                    "customer_label": due.match.label if due.match else None,
                    "call_at": wire_time(callback.call_at, self.time_zone),
                    "attempts": finished,
                    "state": callback.state.value,
                }
            )
        return shown

    def restamped(self, frame: bytes) -> bytes:
        """The board's event with `now` as of this moment, for a client that connects later."""
        marker = b"data: " + BOARD_NOW
        start = frame.find(marker) + len(marker)
        now = self._now()
        return frame[:start] + now + frame[start + len(now) :]

    def _now(self) -> bytes:
        return wire_time(self.lists.now(), self.time_zone).encode()
