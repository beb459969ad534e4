"""Each document once (SeenStore) and one cluster per story (ClusterIndex)."""

from __future__ import annotations

import pytest

from monitor.ingest.cluster import ClusterIndex, hamming, simhash
from monitor.ingest.seen import MemorySeenStore, SeenStore

STORY = (
    "In accordance with the Export Control Law, the Ministry of Commerce and the General Administration of "
    "Customs decided to implement export control on gallium and germanium related items, including "
    "metallic gallium, gallium nitride, gallium oxide, metallic germanium and germanium dioxide. "
    "Exporters shall apply for a licence. The announcement takes effect on August 1, 2023."
)
OTHER = (
    "The Democratic Republic of Congo suspended cobalt exports for four months to curb oversupply and "
    "support prices, the strategic minerals regulator said on Saturday, after prices fell to a nine-year low."
)
RELATED = (
    "China's commerce ministry said on Thursday it would impose export controls on antimony and related "
    "products from September 15, citing national security, in the latest move to restrict critical minerals."
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_memory_store_is_a_seen_store() -> None:
    assert isinstance(MemorySeenStore(), SeenStore)


def test_seen_after_add() -> None:
    store = MemorySeenStore()
    assert not store.seen("a")
    store.add("a")
    assert store.seen("a") and not store.seen("b")


def test_bounded_by_size_least_recently_used_first() -> None:
    store = MemorySeenStore(max_entries=2)
    store.add("a")
    store.add("b")
    assert store.seen("a")  # refreshes a
    store.add("c")
    assert store.seen("a") and store.seen("c") and not store.seen("b")
    assert len(store) == 2


def test_bounded_by_age() -> None:
    clock = Clock()
    store = MemorySeenStore(ttl_s=10, clock=clock)
    store.add("a")
    clock.now = 9
    assert store.seen("a")
    clock.now = 11
    assert not store.seen("a") and len(store) == 0


def test_rejects_zero_size() -> None:
    with pytest.raises(ValueError):
        MemorySeenStore(max_entries=0)


def test_simhash_is_deterministic_and_close_for_near_duplicates() -> None:
    assert simhash(STORY) == simhash(STORY)
    assert hamming(simhash(STORY), simhash("Beijing (wire) -- " + STORY)) <= 8
    assert hamming(simhash(STORY), simhash(OTHER)) > 16
    assert simhash("") == 0


def test_same_story_from_several_sources_shares_a_cluster() -> None:
    index = ClusterIndex()
    a = index.assign("mofcom:1", STORY, "MOFCOM Announcement No. 23 of 2023")
    b = index.assign("wire:9", "BEIJING (wire) — " + STORY, "China to control gallium and germanium exports")
    c = index.assign("news:3", OTHER, "Congo suspends cobalt exports")
    d = index.assign("news:4", RELATED, "China restricts antimony")
    assert a == b
    assert len({a, c, d}) == 3


def test_assign_is_idempotent_per_key() -> None:
    index = ClusterIndex()
    first = index.assign("k", STORY)
    assert index.assign("k", OTHER) == first
    assert len(index) == 1


def test_short_texts_use_the_title_and_never_merge_by_accident() -> None:
    index = ClusterIndex()
    a = index.assign("a", "Cobalt.", "Congo suspends cobalt exports for four months to support prices")
    b = index.assign("b", "Nickel.", "Indonesia bans nickel ore exports from January to promote smelting")
    assert a != b
    assert index.assign("c", "x", "") != index.assign("d", "y", "")


def test_index_is_bounded() -> None:
    index = ClusterIndex(max_entries=3)
    for i in range(10):
        index.assign(f"k{i}", f"{OTHER} variant number {i} " * 2)
    assert len(index) == 3
    # A cluster id is derived from the first member's fingerprint, so it survives eviction.
    first = index.assign("s1", STORY)
    for i in range(3):
        index.assign(f"filler{i}", f"{RELATED} {i} filler words that differ a lot {i * 7}")
    assert index.assign("s2", STORY) == first


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ClusterIndex(max_distance=20)
