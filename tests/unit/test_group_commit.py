"""Group commit: batches grow with the load, never beyond their bounds, and failures stay contained."""

from __future__ import annotations

import asyncio

import pytest

from monitor.batching import GroupCommit


async def test_a_quiet_stream_writes_each_item_at_once() -> None:
    written: list[list[int]] = []

    async def write(batch: list[int]) -> None:
        written.append(batch)

    commit: GroupCommit[int] = GroupCommit(write)
    for item in range(3):
        await commit.add(item)
        await asyncio.sleep(0.01)
    await commit.close()
    assert written == [[0], [1], [2]]


async def test_items_arriving_during_a_write_form_the_next_batch_in_order() -> None:
    written: list[list[int]] = []
    release = asyncio.Event()

    async def write(batch: list[int]) -> None:
        written.append(batch)
        if len(written) == 1:
            await release.wait()

    commit: GroupCommit[int] = GroupCommit(write, max_batch=4, max_pending=10)
    await commit.add(0)
    await asyncio.sleep(0.01)  # the writer holds [0]
    for item in range(1, 8):
        await commit.add(item)
    release.set()
    await asyncio.sleep(0.05)
    await commit.close()
    assert written == [[0], [1, 2, 3, 4], [5, 6, 7]]
    assert (commit.batches, commit.items) == (3, 8)


async def test_add_waits_while_the_queue_is_full() -> None:
    release = asyncio.Event()

    async def write(batch: list[int]) -> None:
        await release.wait()

    commit: GroupCommit[int] = GroupCommit(write, max_batch=1, max_pending=2)
    await commit.add(0)
    await asyncio.sleep(0.01)  # [0] is being written; two more fill the queue
    await commit.add(1)
    await commit.add(2)
    third = asyncio.create_task(commit.add(3))
    await asyncio.sleep(0.05)
    assert not third.done() and commit.pending == 2
    release.set()
    await asyncio.wait_for(third, 1)
    await commit.close()


async def test_a_failing_write_is_logged_and_the_writer_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    written: list[list[int]] = []

    async def write(batch: list[int]) -> None:
        if batch == [0]:
            raise RuntimeError("boom")
        written.append(batch)

    commit: GroupCommit[int] = GroupCommit(write, name="test-writer")
    await commit.add(0)
    await asyncio.sleep(0.01)
    await commit.add(1)
    await asyncio.sleep(0.01)
    await commit.close()
    assert written == [[1]]
    assert "test-writer: writing a batch of 1 failed" in caplog.text


async def test_close_cancels_a_write_in_progress_and_drops_the_queue() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def write(batch: list[int]) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    commit: GroupCommit[int] = GroupCommit(write)
    await commit.add(0)
    await commit.add(1)
    await asyncio.wait_for(started.wait(), 1)
    await commit.close()
    assert cancelled.is_set() and commit.pending == 0


def test_bounds_are_checked() -> None:
    async def write(batch: list[int]) -> None:
        return None

    with pytest.raises(ValueError):
        GroupCommit(write, max_batch=0)
    with pytest.raises(ValueError):
        GroupCommit(write, max_batch=10, max_pending=5)


async def test_flush_waits_for_everything_added_to_be_written() -> None:
    written: list[int] = []
    release = asyncio.Event()

    async def write(batch: list[int]) -> None:
        await release.wait()
        written.extend(batch)

    commit: GroupCommit[int] = GroupCommit(write)
    assert await commit.flush(timeout=0.01)  # nothing added: idle at once
    for item in range(3):
        await commit.add(item)
    assert not await commit.flush(timeout=0.05)  # the write is held
    release.set()
    assert await commit.flush(timeout=1)
    assert written == [0, 1, 2]
    await commit.close()


async def test_linger_gathers_items_into_one_batch() -> None:
    written: list[list[int]] = []

    async def write(batch: list[int]) -> None:
        written.append(batch)

    commit: GroupCommit[int] = GroupCommit(write, linger_s=0.05)
    for item in range(3):
        await commit.add(item)
        await asyncio.sleep(0.01)  # each would be a batch of its own without the linger
    assert await commit.flush(timeout=1)
    assert written == [[0, 1, 2]]
    with pytest.raises(ValueError):
        GroupCommit(write, linger_s=-1)
    await commit.close()


async def test_linger_applies_to_every_batch_not_only_the_first() -> None:
    written: list[list[int]] = []

    async def write(batch: list[int]) -> None:
        written.append(batch)
        await asyncio.sleep(0.02)  # items keep arriving while a batch is written

    commit: GroupCommit[int] = GroupCommit(write, linger_s=0.1)
    for item in range(40):
        await commit.add(item)
        await asyncio.sleep(0.005)
    assert await commit.flush(timeout=5)
    assert [i for batch in written for i in batch] == list(range(40))
    assert len(written) <= 5, [len(b) for b in written]  # ~0.2 s of items, a batch per 0.12 s
    await commit.close()
