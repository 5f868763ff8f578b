"""How long a caller joining now can expect to wait (`approx_wait_time`).

The estimate is the mean hold time of the callers answered in this queue recently (the last
`SAMPLE` answered among those who joined within `WINDOW`; the call history's rows, read by
`ConnectionStore.answered_waits`). Abandoned calls are left out: their hold time says how
patient callers were, not how fast agents answer. With no recent answer the estimate falls back
to the longest wait of the callers still waiting, a lower bound; with neither it is zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

SAMPLE = 20
WINDOW = timedelta(hours=1)


def approx_wait_time(
    recent_answered_holds: Sequence[timedelta], current_waits: Sequence[timedelta]
) -> timedelta:
    holds = list(recent_answered_holds)[:SAMPLE]
    if holds:
        mean = sum(holds, timedelta(0)) / len(holds)
        return timedelta(seconds=round(mean.total_seconds()))
    if current_waits:
        return timedelta(seconds=int(max(current_waits).total_seconds()))
    return timedelta(0)


def format_hms(duration: timedelta) -> str:
    """`HH:MM:SS`; hours grow past 99 rather than wrap."""
    total = max(int(duration.total_seconds()), 0)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"
