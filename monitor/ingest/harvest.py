"""What one poll of one source brought back, whatever the connector."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.records import Document

__all__ = ["Harvest"]


@dataclass(frozen=True)
class Harvest:
    """The documents of one successful poll, and what the source said about polling it.

    ``not_modified``: the server answered 304. ``malformed``: the feed only partly parsed.
    ``rejected``: items that could not become documents (no title nor text). ``floor_s``: the
    shortest interval the source asks for (Cache-Control max-age, RSS ``<ttl>``). ``etag`` and
    ``last_modified`` are the validators to send on the next poll.
    """

    documents: list[Document] = field(default_factory=list)
    not_modified: bool = False
    malformed: bool = False
    rejected: int = 0
    floor_s: float | None = None
    etag: str | None = None
    last_modified: str | None = None
