"""The bounded-run tracker finishes exactly when every produced message has been handled."""

from __future__ import annotations

import asyncio

from monitor.streaming.progress import Progress


async def test_finishes_only_after_inputs_and_all_fan_out_are_done() -> None:
    progress = Progress()
    progress.add(2)  # two documents produced
    progress.inputs_finished()
    progress.add(3)  # extraction of the first fans out into three events
    progress.done()
    progress.done()  # the second document produced nothing downstream
    assert progress.in_flight == 3
    waiter = asyncio.create_task(progress.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    progress.done(3)
    await asyncio.wait_for(waiter, 1)


async def test_no_inputs_finishes_at_once() -> None:
    progress = Progress()
    progress.inputs_finished()
    await asyncio.wait_for(progress.wait(), 1)
