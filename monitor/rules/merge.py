"""Reconcile two revisions of one alert that carry different evidence (pure).

An alert's revisions normally grow: each adds evidence to the one before, so the store keeps the
highest revision and ignores older ones. Two writers can break that without Kafka transactions: after a
rebalance, the worker taking over a routing key can resume from a rule state that lacks the last
revisions (its changelog behind the alerts topic), or a worker that lost its partitions can still emit
(a zombie). Both then emit a revision whose number the store has already seen, with other evidence.
Keeping either one alone loses a report; :func:`reconcile` keeps both.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.records import Alert, severity_rank
from monitor.rules import text


def reconcile(stored: Alert, incoming: Alert) -> Alert | None:
    """The revision to store when ``incoming`` arrives over ``stored`` (same id); None when it adds nothing.

    - ``incoming`` is newer and holds every stored document: it is stored as it is (the usual case);
    - ``incoming`` is not newer and every document it cites is stored: nothing changes (a re-delivery or
      an older revision);
    - otherwise the two diverged: the newer one (the stored one on a tie) gains the other's evidence,
      minerals and countries, the higher severity, the earlier first evidence, and a revision above both.
    """
    stored_docs = set(stored.document_ids)
    incoming_docs = set(incoming.document_ids)
    if incoming.revision > stored.revision and stored_docs <= incoming_docs:
        return incoming
    if incoming.revision <= stored.revision and incoming_docs <= stored_docs:
        return None
    newer, older = (incoming, stored) if incoming.revision > stored.revision else (stored, incoming)
    fields = newer.asdict()
    fields["document_ids"] = _union(newer.document_ids, older.document_ids)
    fields["sources"] = _union(newer.sources, older.sources)
    fields["urls"] = _union(newer.urls, older.urls)
    fields["minerals"] = _union(newer.minerals, older.minerals)
    fields["countries"] = _union(newer.countries, older.countries)
    for name in ("imposing_country", "target_country", "effective_date"):
        fields[name] = getattr(newer, name) or getattr(older, name)
    if severity_rank(older.severity) > severity_rank(newer.severity):
        fields["severity"] = older.severity
        fields["severity_reason"] = older.severity_reason
        fields["labels"] = {**newer.labels, "severity": older.severity}
    fields["raised_at"] = min(newer.raised_at, older.raised_at)
    fields["updated_at"] = max(newer.updated_at, older.updated_at)
    firsts = [a.first_evidence_at for a in (newer, older) if a.first_evidence_at is not None]
    fields["first_evidence_at"] = min(firsts) if firsts else None
    fields["revision"] = max(stored.revision, incoming.revision) + 1
    fields["title"] = text.retitle(newer.title, fields["minerals"])
    fields["summary"] = text.summary(
        fields["title"],
        target=fields["target_country"],
        severity=fields["severity"],
        effective_date=fields["effective_date"],
        reports=len(fields["document_ids"]),
        sources=len(fields["sources"]),
        first=str(fields["first_evidence_at"])[:10] if fields["first_evidence_at"] else "?",
    )
    return Alert(**fields)


def _union(first: Sequence[str], second: Sequence[str]) -> list[str]:
    """``first`` in its order, then what only ``second`` has."""
    seen = set(first)
    return [*first, *(item for item in second if item not in seen)]
