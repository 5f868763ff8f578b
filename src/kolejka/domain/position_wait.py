"""How long a caller at a given place in the queue can expect to wait, from the queue's history.

`approx_wait_time` (wait_estimate.py) gives one figure per queue, the same for the caller about
to be answered and the one who just joined. A supervisor looking at each waiting caller wants the
wait *for that position*. The estimate, documented in docs/api.md ("Expected wait per position"):

- **answer interval** `I`: the mean gap between consecutive answers of the queue's recent calls
  (those that joined within `WINDOW`), counting only the gaps during which the later caller was
  already waiting. Those are the gaps in which agents, not callers, set the pace; a quiet spell
  with nobody waiting is no gap an agent took. With fewer than `MIN_GAPS` such gaps (callers were
  answered as they came, or two agents happened to answer at once), `I` is the mean hold time of
  the answered calls. With no answered call, there is no
  estimate (None).
- **abandon share** `f`: the share of those recent calls that hung up before an answer. Of the
  `p - 1` callers ahead, about that share will leave before their turn.
- **remaining wait** for position `p` (1 = answered next): `(1 + (p - 1) * (1 - f)) * I`,
  bounded by the queue's own history: not above the longest hold of the recent callers who
  *joined* at that position band or nearer (bands 1, 2-3, 4-7, 8-15, ...). A band further
  back than any seen has no bound.
- **expected wait** = what the caller already waited + the remaining wait: never below the
  wait so far, and non-decreasing in the position for one wait so far.

Abandoned calls are no answers: they never shorten the interval, but they did hold places in the
queue, so they count for the positions callers joined at. Plain Python, no I/O.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=1)  # recent: calls that joined this long ago at most
SAMPLE = 500  # the most recent calls read for it; a busy queue answers fewer in an hour
MIN_GAPS = 3  # fewer gaps say too little: two answers at one instant would make the pace 0


@dataclass(frozen=True, slots=True)
class PastCall:
    """A call of the queue's history as the estimate sees it: when it joined, how long it
    waited, and whether an agent answered it (False: abandoned, or its outcome unknown)."""

    started_at: datetime
    wait: timedelta
    answered: bool

    @property
    def left_at(self) -> datetime:
        return self.started_at + self.wait


@dataclass(frozen=True, slots=True)
class AnswerPace:
    """What the recent history says: the answer interval (None: no answer to go by), and the
    bound on the remaining wait by position band, ascending (band, longest hold)."""

    interval: timedelta | None
    bounds: tuple[tuple[int, timedelta], ...] = ()
    abandoned_share: float = 0.0  # of the recent calls, those that hung up while waiting

    def bound(self, position: int) -> timedelta | None:
        """The longest remaining wait the history allows at `position` (None: no bound)."""
        if not self.bounds:
            return None
        wanted = band(position)
        bands = [b for b, _ in self.bounds]
        at = bisect.bisect_right(bands, wanted)
        if at == len(bands) and wanted > bands[-1]:
            return None  # further back than any caller of the sample joined
        return self.bounds[max(at - 1, 0)][1]


NO_PACE = AnswerPace(None)


def band(position: int) -> int:
    """Position bands double: 1, 2-3, 4-7, 8-15, ... (1, 2, 3, 4, ...)."""
    return max(position, 1).bit_length()


def answer_pace(calls: Iterable[PastCall], now: datetime, window: timedelta = WINDOW) -> AnswerPace:
    """The pace of the queue from the calls that joined within `window` before `now` and have
    left by `now` (the history holds only calls that left)."""
    recent = [
        call
        for call in calls
        if now - window <= call.started_at and call.left_at <= now and call.wait >= timedelta(0)
    ]
    # Answers at one instant in the order they joined: which comes first decides whether the
    # gap between them counts, and it must not hang on the order the history was read in.
    answers = sorted(
        (call for call in recent if call.answered), key=lambda c: (c.left_at, c.started_at)
    )
    if not answers:
        return NO_PACE
    gaps = [
        later.left_at - earlier.left_at
        for earlier, later in itertools.pairwise(answers)
        if later.started_at < earlier.left_at  # the later caller waited through this gap
    ]
    if len(gaps) >= MIN_GAPS:
        interval = sum(gaps, timedelta(0)) / len(gaps)
    else:
        interval = sum((call.wait for call in answers), timedelta(0)) / len(answers)
    abandoned = sum(1 for call in recent if not call.answered) / len(recent)
    return AnswerPace(_whole(interval), _bounds(recent, answers), abandoned)


def _bounds(
    recent: Sequence[PastCall], answers: Sequence[PastCall]
) -> tuple[tuple[int, timedelta], ...]:
    """Each band's longest hold of an answered call that joined at it or nearer (ascending)."""
    # Callers ahead of one joining at s: those who joined before s, less those gone by s.
    starts = sorted(call.started_at for call in recent)
    lefts = sorted(call.left_at for call in recent)
    longest: dict[int, timedelta] = {}
    for call in answers:
        at = call.started_at
        ahead = bisect.bisect_left(starts, at) - bisect.bisect_right(lefts, at)
        joined = band(max(ahead, 0) + 1)
        longest[joined] = max(longest.get(joined, timedelta(0)), call.wait)
    bounds: list[tuple[int, timedelta]] = []
    running = timedelta(0)
    for joined in sorted(longest):
        running = max(running, longest[joined])
        bounds.append((joined, running))
    return tuple(bounds)


def remaining_wait(pace: AnswerPace, position: int) -> timedelta | None:
    """How much longer a caller at `position` can expect to wait, in whole seconds (None: the
    history has no answer to go by). It does not grow with the wait so far: a wallboard adds it
    to the wait it counts."""
    if pace.interval is None:
        return None
    ahead = max(position, 1) - 1
    remaining = pace.interval * (1 + ahead * (1 - pace.abandoned_share))
    bound = pace.bound(position)
    if bound is not None:
        remaining = min(remaining, bound)
    return _whole(remaining)


def expected_wait(pace: AnswerPace, position: int, waited: timedelta) -> timedelta | None:
    """The whole wait a caller at `position` who has waited `waited` can expect (None: the
    history has no answer to go by)."""
    remaining = remaining_wait(pace, position)
    if remaining is None:
        return None
    return _whole(max(waited, timedelta(0)) + remaining)


def _whole(span: timedelta) -> timedelta:
    return timedelta(seconds=round(span.total_seconds()))
