"""Each document once: the seen-check as a two-method interface, and a bounded in-memory store.

The streaming layer backs :class:`SeenStore` with a Faust table (changelogged, so it survives a
restart); :class:`MemorySeenStore` is the pure, bounded implementation used by tests and backfill.
Keys are document ids, which are stable across polls, restarts and tracking parameters.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["MemorySeenStore", "SeenStore"]


@runtime_checkable
class SeenStore(Protocol):
    """Remembers which documents were already produced."""

    def seen(self, key: str) -> bool:
        """True when ``key`` was added (and not yet forgotten)."""
        ...

    def add(self, key: str) -> None:
        """Remember ``key``."""
        ...


class MemorySeenStore:
    """A :class:`SeenStore` bounded in size (least recently used first out) and in age (TTL).

    ``clock`` returns seconds (monotonic by default) and is injectable for tests.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        ttl_s: float | None = 30 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def seen(self, key: str) -> bool:
        """True when ``key`` was added less than ``ttl_s`` ago and not evicted; refreshes its LRU rank."""
        added = self._entries.get(key)
        if added is None:
            return False
        if self._ttl is not None and self._clock() - added > self._ttl:
            del self._entries[key]
            return False
        self._entries.move_to_end(key)
        return True

    def add(self, key: str) -> None:
        """Remember ``key`` now, evicting the least recently used keys beyond ``max_entries``."""
        self._entries[key] = self._clock()
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
