"""A recorded day of one queue, made with a seeded random: callers join (busier at mid-morning
and after lunch), agents answer them in order, and callers whose patience runs out hang up.

A FIFO queue with `agents` agents (an M/M/c queue with abandonment, the textbook model of a call
centre): each caller is answered by the first agent to come free after everyone ahead of them
was, unless their patience runs out first; an abandoning caller takes no agent's time.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from kolejka.domain.position_wait import PastCall

OPENS = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
CLOSES = OPENS + timedelta(hours=10)


def calls_per_minute(at: datetime) -> float:
    """Two peaks, mid-morning and early afternoon, over a base load."""
    hours = (at - OPENS).total_seconds() / 3600
    return 0.9 + 0.9 * math.exp(-((hours - 2.5) ** 2)) + 0.7 * math.exp(-((hours - 6.5) ** 2))


def recorded_day(
    seed: int = 14,
    agents: int = 5,
    mean_talk: float = 240.0,
    mean_patience: float = 300.0,
) -> Sequence[PastCall]:
    rng = random.Random(seed)
    free_at = [OPENS] * agents  # a heap of the instants each agent comes free
    heapq.heapify(free_at)
    calls: list[PastCall] = []
    at = OPENS
    while True:
        at += timedelta(seconds=rng.expovariate(calls_per_minute(at) / 60))
        if at >= CLOSES:
            return calls
        patience = timedelta(seconds=rng.expovariate(1 / mean_patience))
        answered_at = max(at, free_at[0])
        if answered_at - at > patience:
            calls.append(PastCall(at, patience, answered=False))
            continue
        heapq.heapreplace(free_at, answered_at + timedelta(seconds=rng.expovariate(1 / mean_talk)))
        calls.append(PastCall(at, answered_at - at, answered=True))
