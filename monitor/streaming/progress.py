"""Knowing when a bounded run (``demo --once``, ``replay --once``) has finished.

Every message in flight is a token: producing a document adds one; a stage that consumes one
message and emits ``n`` adds ``n`` before it sends and removes one after. The run is finished
when every input was produced and no token is left. Only meaningful when this process consumes
every partition (the demo and replay run a single in-process worker).
"""

from __future__ import annotations

import asyncio


class Progress:
    """Counts messages in flight through the pipeline of this process."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._inputs_done = False
        self._finished = asyncio.Event()
        self.documents = 0
        self.alerts = 0

    def add(self, count: int = 1) -> None:
        """``count`` new messages are about to be sent."""
        self._in_flight += count

    def done(self, count: int = 1) -> None:
        """``count`` messages were fully handled by their stage."""
        self._in_flight -= count
        self._check()

    def inputs_finished(self) -> None:
        """Every input document has been produced."""
        self._inputs_done = True
        self._check()

    @property
    def in_flight(self) -> int:
        """Messages produced but not yet handled."""
        return self._in_flight

    def _check(self) -> None:
        if self._inputs_done and self._in_flight <= 0:
            self._finished.set()

    async def wait(self) -> None:
        """Return once every input has been produced and handled."""
        await self._finished.wait()


class NoProgress(Progress):
    """The long-running service tracks nothing."""

    def add(self, count: int = 1) -> None:
        pass

    def done(self, count: int = 1) -> None:
        pass
