"""The in-process notice board of alert changes that wakes live-stream (SSE) readers.

The store is the source of truth (readers fetch events after their last id); the feed only says
"something changed, look again". Changes made by other workers are found by the readers' periodic
poll of the store.
"""

from __future__ import annotations

import asyncio


class AlertFeed:
    """A version counter with wake-ups; readers take the version before reading the store."""

    def __init__(self) -> None:
        self._version = 0
        self._changed = asyncio.Event()
        self.closed = False

    @property
    def version(self) -> int:
        """Increases on every publish."""
        return self._version

    def publish(self) -> None:
        """Wake every waiting reader."""
        self._version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the version moves past ``seen`` (True) or ``timeout`` seconds pass (False)."""
        if self._version != seen or self.closed:
            return True
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Ask readers to finish (on shutdown)."""
        self.closed = True
        self.publish()
