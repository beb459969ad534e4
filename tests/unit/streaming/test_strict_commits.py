"""Strict commits: an offset is committed only once every offset before it was handled.

Faust's own rule commits the first run of acknowledged offsets and lets one unhandled offset slip
(and checks nothing before the first commit); a message dropped in flight was then committed
unprocessed. These tests drive the consumer's bookkeeping directly (no broker is needed for it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from faust.types import TP

from monitor.observability.metrics import Metrics
from monitor.settings import load_settings
from monitor.streaming import app as app_module
from monitor.streaming.app import Topology

TOPIC = TP("raw", 0)


@pytest.fixture
async def consumer() -> AsyncIterator[Any]:
    settings = load_settings(None, {})
    topology = Topology(
        settings, "127.0.0.1:1", cast(Any, None), Metrics(), embedded=True, group_id="strict-commits"
    )
    try:
        consumer = topology.app.consumer
        consumer._start_offset = {}
        consumer._held_since = {}
        yield consumer
    finally:
        consumer._thread.thread_loop.close()  # the consumer thread's own loop (never started here)
        topology.cleanup()


async def test_a_run_starting_at_the_committed_offset_is_committed(consumer: Any) -> None:
    consumer._committed_offset[TOPIC] = 5
    consumer._acked[TOPIC] = [5, 6, 7, 9]
    assert consumer._new_offset(TOPIC) == 8
    assert consumer._acked[TOPIC] == [9]


async def test_one_unhandled_offset_holds_the_commit_back(consumer: Any) -> None:
    # Faust's rule commits 8 here: 5 would be skipped although it was never handled.
    consumer._committed_offset[TOPIC] = 5
    consumer._acked[TOPIC] = [6, 7]
    assert consumer._new_offset(TOPIC) is None
    consumer._acked[TOPIC].append(5)
    assert consumer._new_offset(TOPIC) == 8


async def test_before_the_first_commit_the_run_must_start_where_consumption_started(consumer: Any) -> None:
    consumer._start_offset[TOPIC] = 0
    consumer._acked[TOPIC] = [1, 2]
    assert consumer._new_offset(TOPIC) is None
    consumer._acked[TOPIC].insert(0, 0)
    assert consumer._new_offset(TOPIC) == 3


async def test_offsets_handled_again_after_a_seek_back_are_dropped(consumer: Any) -> None:
    consumer._committed_offset[TOPIC] = 10
    consumer._acked[TOPIC] = [7, 8, 10, 11]
    assert consumer._new_offset(TOPIC) == 12
    assert consumer._acked[TOPIC] == []


async def test_gaps_the_fetch_skipped_count_as_handled(consumer: Any) -> None:
    consumer._committed_offset[TOPIC] = 3
    consumer._gap[TOPIC].addi(4, 6)  # offsets 4 and 5 do not exist (e.g. compacted away)
    consumer._acked[TOPIC] = [3, 6]
    assert consumer._new_offset(TOPIC) == 7


async def test_an_offset_held_back_for_a_while_is_read_again(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Later offsets handled, this one not, for REREAD_AFTER_S: it was dropped; seek back to it.
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    monkeypatch.setattr(consumer, "seek", seek)
    consumer._committed_offset[TOPIC] = 5
    consumer._acked[TOPIC] = [6, 7]
    assert consumer._new_offset(TOPIC) is None  # held back from now on
    assert consumer._new_offset(TOPIC) is None
    await asyncio.sleep(0.01)
    assert seeks == []
    consumer._held_since[TOPIC] -= app_module.REREAD_AFTER_S  # ... for a while
    assert consumer._new_offset(TOPIC) is None
    await asyncio.sleep(0.01)
    assert seeks == [(TOPIC, 5)]
    consumer._acked[TOPIC].append(5)  # read again and handled: the commit goes on
    assert consumer._new_offset(TOPIC) == 8
    assert TOPIC not in consumer._held_since
