"""Fixtures shared by the ingest unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.ingest.sources import FeedSource

FEEDS = Path(__file__).resolve().parents[2] / "data" / "feeds"


@pytest.fixture
def feeds() -> Path:
    """The folder of real-world-shaped feed files."""
    return FEEDS


@pytest.fixture
def now() -> datetime:
    """A fixed fetch time."""
    return datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_feed_source() -> Callable[..., FeedSource]:
    """Build a valid feed source with overrides."""

    def make(**overrides: object) -> FeedSource:
        values: dict[str, object] = {
            "id": "test-feed",
            "kind": "feed",
            "url": "https://notices.example.org/rss",
        }
        values.update(overrides)
        return FeedSource.model_validate(values)

    return make
