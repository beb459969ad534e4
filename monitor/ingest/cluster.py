"""Near-duplicate detection: one story carried by several sources gets one ``cluster_id``.

Pure and bounded. A 64-bit SimHash is computed over two-word shingles of the normalised text
(with the title when the text is short: outlets retitle a wire story but keep its body); two
documents whose fingerprints differ in at most ``max_distance`` bits are the same story.
The index splits fingerprints into ``max_distance + 1`` bands, so by the pigeonhole principle any
match shares at least one band exactly and is found without a scan. The oldest entries are
evicted beyond ``max_entries``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["ClusterIndex", "hamming", "normalise_for_hash", "simhash"]

_WORD = re.compile(r"\w+", re.UNICODE)
_BITS = 64
_MASK = (1 << _BITS) - 1


def normalise_for_hash(text: str) -> list[str]:
    """Lower-cased, accent-folded words of ``text``: what two copies of one story share."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


def _hash64(token: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big"
    )


def simhash(text: str, shingle: int = 2) -> int:
    """64-bit SimHash of ``text`` over ``shingle``-word shingles (single words for short texts)."""
    words = normalise_for_hash(text)
    if not words:
        return 0
    size = shingle if len(words) >= shingle * 2 else 1
    weights = [0] * _BITS
    for i in range(len(words) - size + 1):
        h = _hash64(" ".join(words[i : i + size]))
        for bit in range(_BITS):
            weights[bit] += 1 if h >> bit & 1 else -1
    value = 0
    for bit in range(_BITS):
        if weights[bit] > 0:
            value |= 1 << bit
    return value & _MASK


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two fingerprints."""
    return (a ^ b).bit_count()


@dataclass(frozen=True)
class _Entry:
    fingerprint: int
    cluster_id: str


class ClusterIndex:
    """A bounded index of recent fingerprints answering "which cluster does this text belong to?"."""

    def __init__(
        self, max_entries: int = 20_000, max_distance: int = 8, min_words: int = 8, body_words: int = 20
    ) -> None:
        if max_entries < 1 or not 0 <= max_distance < 16:
            raise ValueError("max_entries must be >= 1 and max_distance in 0..15")
        self._max = max_entries
        self._distance = max_distance
        self._min_words = min_words
        self._body_words = body_words
        self._bands = max_distance + 1
        self._width = _BITS // self._bands
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._buckets: list[dict[int, set[str]]] = [{} for _ in range(self._bands)]

    def __len__(self) -> int:
        return len(self._entries)

    def _band_values(self, fingerprint: int) -> list[int]:
        mask = (1 << self._width) - 1
        return [(fingerprint >> (i * self._width)) & mask for i in range(self._bands)]

    def assign(self, key: str, text: str, title: str = "") -> str:
        """Return the cluster id for document ``key`` with ``text`` (and ``title``), and remember it.

        The fingerprint covers the text alone when it has at least ``body_words`` words, else
        the title and the text. A near-duplicate of an indexed document gets that document's
        cluster id; otherwise the cluster id is derived from this document's fingerprint. Asking
        again for a known key returns its cluster id unchanged. Texts too short to fingerprint
        get a cluster of their own.
        """
        known = self._entries.get(key)
        if known is not None:
            self._entries.move_to_end(key)
            return known.cluster_id
        words = normalise_for_hash(text)
        if len(words) < self._body_words:
            words = normalise_for_hash(title) + words
        if len(words) < self._min_words:
            digest = hashlib.blake2b(
                " ".join(words).encode("utf-8", "surrogatepass"), digest_size=8
            ).hexdigest()
            return f"c-{digest}"
        fingerprint = simhash(" ".join(words))
        cluster_id = self._lookup(fingerprint) or f"c-{fingerprint:016x}"
        self._insert(key, _Entry(fingerprint, cluster_id))
        return cluster_id

    def _lookup(self, fingerprint: int) -> str | None:
        best: tuple[int, str] | None = None
        for band, value in enumerate(self._band_values(fingerprint)):
            for key in self._buckets[band].get(value, ()):
                entry = self._entries[key]
                distance = hamming(entry.fingerprint, fingerprint)
                if distance <= self._distance and (best is None or distance < best[0]):
                    best = (distance, entry.cluster_id)
        return best[1] if best else None

    def _insert(self, key: str, entry: _Entry) -> None:
        self._entries[key] = entry
        for band, value in enumerate(self._band_values(entry.fingerprint)):
            self._buckets[band].setdefault(value, set()).add(key)
        while len(self._entries) > self._max:
            old_key, old = self._entries.popitem(last=False)
            for band, value in enumerate(self._band_values(old.fingerprint)):
                bucket = self._buckets[band].get(value)
                if bucket is not None:
                    bucket.discard(old_key)
                    if not bucket:
                        del self._buckets[band][value]
