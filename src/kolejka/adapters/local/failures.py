"""Login attempt counts in this process's memory (ports.FailureCounter), for one instance.

Beside redis/failures.py, which shares the counts between instances. No await runs between
reading a count and writing it, so a reservation is atomic on the event loop.
"""

from __future__ import annotations


class LocalFailureCounter:
    """Attempt counts in this process's memory; bounded, forgetting buckets older than a window."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._counts: dict[tuple[str, int], int] = {}

    def __len__(self) -> int:
        """How many (key, bucket) counts it holds now."""
        return len(self._counts)

    async def reserve(self, key: str, bucket: int) -> tuple[int, int]:
        # No await between reading and writing: atomic on the event loop.
        if len(self._counts) >= self.max_entries:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= bucket - 1}
            if len(self._counts) >= self.max_entries:
                self._counts.clear()  # a flood of distinct keys: start afresh rather than grow
        current = self._counts.get((key, bucket), 0) + 1
        self._counts[(key, bucket)] = current
        return self._counts.get((key, bucket - 1), 0), current

    async def counts(self, key: str, bucket: int) -> tuple[int, int]:
        return self._counts.get((key, bucket - 1), 0), self._counts.get((key, bucket), 0)

    async def release(self, key: str, bucket: int) -> None:
        count = self._counts.get((key, bucket), 0)
        if count > 1:
            self._counts[(key, bucket)] = count - 1
        else:
            self._counts.pop((key, bucket), None)
