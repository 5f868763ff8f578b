"""The live waiting lists in Redis, shared by every instance (ports.WaitingCallerStore).

Keys (under the deployment's prefix, see RedisConnection):

- `callers`: a hash, call id -> `[queue_id, phone_number, caller_name, started_at µs]` as JSON;
- `queue:<id>`: a sorted set of the call ids waiting in a queue, scored by join number;
- `join_seq`: the join number counter;
- `webhook_events`: a stream, the webhooks' outbox while the lists live here: a join or a leave
  adds its events in the same script, so the change and its events land together or not at all;
  each instance's relay (`relay_events`) copies them into the database's outbox, each once.

The wait estimate reads the call history (ports.ConnectionStore.answered_waits), not Redis: an
`answered:<id>` key left by an earlier build (which kept answered hold times here) is read by
nothing and may be deleted.

Joining and leaving are Lua scripts, so each is atomic across instances (one caller, one join
number, never half left), and reading a queue is one round trip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import redis.exceptions

from kolejka.adapters.redis.connection import Client, RedisConnection
from kolejka.adapters.sql.times import from_micros, to_micros
from kolejka.adapters.sql.webhooks import SqlWebhooks, event_text, relayed_row
from kolejka.domain.queues import Departure, Joined, Queue, WaitingCaller
from kolejka.domain.webhooks import caller_joined, caller_left
from kolejka.services.ports import QueueDirectory

# KEYS: callers, join_seq, queue:<id>, webhook_events; ARGV: call_id, record, events...
# Returns 1 and the record if this call set it, else 0 and the record already stored.
_JOIN = """
local found = redis.call('HGET', KEYS[1], ARGV[1])
if found then return {0, found} end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
for i = 3, #ARGV do redis.call('XADD', KEYS[4], '*', 'e', ARGV[i]) end
return {1, ARGV[2]}
"""

# KEYS: callers, queue:<caller's queue>, webhook_events; ARGV: call_id, events...
# Returns 1 if it left.
_LEAVE = """
local found = redis.call('HGET', KEYS[1], ARGV[1])
if not found then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 2, #ARGV do redis.call('XADD', KEYS[3], '*', 'e', ARGV[i]) end
return 1
"""

# KEYS: queue:<id>, callers. Returns call_id, join number, record for each caller.
_WAITING = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  local record = redis.call('HGET', KEYS[2], ids[i])
  if record then
    out[#out + 1] = ids[i]
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = record
  end
end
return out
"""


def _record(caller: WaitingCaller) -> str:
    return json.dumps(
        [caller.queue_id, caller.phone_number, caller.caller_name, to_micros(caller.started_at)],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _caller(call_id: str, record: str | bytes) -> WaitingCaller:
    queue_id, phone_number, caller_name, started = json.loads(record)
    return WaitingCaller(call_id, queue_id, phone_number, caller_name, from_micros(started))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisWaitingCallers:
    """Satisfies ports.WaitingCallerStore, in Redis."""

    def __init__(self, connection: RedisConnection) -> None:
        self.redis = connection
        self.callers_key = connection.key("callers")
        self.events_key = connection.key("webhook_events")
        self._join = _Script(_JOIN)
        self._leave = _Script(_LEAVE)
        self._waiting = _Script(_WAITING)

    async def join(self, caller: WaitingCaller, announce: bool = False) -> Joined:
        keys = [
            self.callers_key,
            self.redis.key("join_seq"),
            self._queue(caller.queue_id),
            self.events_key,
        ]
        args = [caller.call_id, _record(caller)]
        if announce:
            args.append(event_text(caller_joined(caller)))
        created, stored = await self.redis.run(lambda client: self._join(client, keys, args))
        return Joined(_caller(caller.call_id, stored), created == 1)

    async def find(self, call_id: str) -> WaitingCaller | None:
        record = await self.redis.run(lambda client: client.hget(self.callers_key, call_id))
        return _caller(call_id, record) if record is not None else None

    async def leave(self, departure: Departure, announce: bool = False) -> bool:
        stored = await self.find(departure.call_id)
        if stored is None:
            return False
        keys = [self.callers_key, self._queue(stored.queue_id), self.events_key]
        args: list[object] = [departure.call_id]
        if announce:
            args.append(event_text(caller_left(departure)))
        gone = await self.redis.run(lambda client: self._leave(client, keys, args))
        return bool(gone)

    async def waiting(self, queue_id: int) -> Sequence[tuple[int, WaitingCaller]]:
        keys = [self._queue(queue_id), self.callers_key]
        flat = await self.redis.run(lambda client: self._waiting(client, keys, []))
        return [
            (int(float(_text(flat[i + 1]))), _caller(_text(flat[i]), flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def forget_queue(self, queue_id: int) -> None:
        """Drops a removed queue's callers (SQL does it by cascade)."""

        async def forget(client: Client) -> None:
            members = await client.zrange(self._queue(queue_id), 0, -1)
            async with client.pipeline(transaction=True) as pipe:
                if members:
                    pipe.hdel(self.callers_key, *members)
                pipe.delete(self._queue(queue_id))
                await pipe.execute()

        await self.redis.run(forget)

    def _queue(self, queue_id: int) -> str:
        return self.redis.key("queue", queue_id)

    async def relay_events(self, outbox: SqlWebhooks, batch: int = 500) -> int:
        """Copies the stream's oldest events into the database's outbox, then drops them from
        the stream; how many it copied. A crash in between copies them again, and the outbox
        keeps each once (by its stream id). Several instances may relay at once: each copies a
        prefix of the stream, in order, so the outbox's order is the stream's."""
        entries = await self.redis.run(lambda client: client.xrange(self.events_key, count=batch))
        if not entries:
            return 0
        pairs: list[tuple[Any, Any]] = list(entries)
        rows = [relayed_row(fields[b"e"], _text(entry_id)) for entry_id, fields in pairs]
        await outbox.relay(rows)
        ids = [entry_id for entry_id, _ in pairs]
        await self.redis.run(lambda client: client.xdel(self.events_key, *ids))
        return len(rows)


class _Script:
    """A Lua script run by its digest (EVALSHA), loaded again whenever the server lacks it
    (first use, or a restarted server)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, client: Client, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)


class QueuesWithRedisLists:
    """The database's queues (ports.QueueDirectory), where removing a queue also clears its list
    in Redis, which the database's cascade cannot reach."""

    def __init__(self, queues: QueueDirectory, live: RedisWaitingCallers) -> None:
        self.queues = queues
        self.live = live

    async def get(self, queue_id: int) -> Queue | None:
        return await self.queues.get(queue_id)

    async def all(self) -> Sequence[Queue]:
        return await self.queues.all()

    async def put(self, queue: Queue) -> None:
        await self.queues.put(queue)

    async def remove(self, queue_id: int) -> bool:
        removed = await self.queues.remove(queue_id)
        await self.live.forget_queue(queue_id)
        return removed
