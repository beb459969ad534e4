"""How alerts are shown on a terminal: one readable line, or one JSON object per line."""

from __future__ import annotations

import json
from typing import Any, TextIO

from monitor.records import Alert

_SEVERITY_TAGS = {"critical": "CRITICAL", "high": "HIGH    ", "medium": "MEDIUM  ", "low": "LOW     "}


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """The JSON object printed for an alert by ``demo --jsonl`` and ``replay --jsonl``."""
    return {
        "id": alert.id,
        "revision": alert.revision,
        "rule": alert.rule,
        "severity": alert.severity,
        "severity_reason": alert.severity_reason,
        "measure": alert.measure,
        "direction": alert.direction,
        "minerals": list(alert.minerals),
        "countries": list(alert.countries),
        "imposing_country": alert.imposing_country,
        "target_country": alert.target_country,
        "effective_date": alert.effective_date,
        "title": alert.title,
        "summary": alert.summary,
        "document_ids": list(alert.document_ids),
        "sources": list(alert.sources),
        "urls": list(alert.urls),
        "labels": dict(alert.labels),
        "raised_at": alert.raised_at.isoformat(),
        "updated_at": alert.updated_at.isoformat(),
    }


def alert_line(alert: Alert) -> str:
    """One readable line: severity, measure, minerals, countries, title (and evidence count on updates)."""
    severity = _SEVERITY_TAGS.get(alert.severity, alert.severity.upper())
    measure = alert.measure + (f" ({alert.direction})" if alert.direction else "")
    if alert.imposing_country and alert.target_country:
        countries = f"{alert.imposing_country}->{alert.target_country}"
    else:
        countries = ",".join(alert.countries) or "-"
    minerals = ", ".join(alert.minerals) or "-"
    update = f" [+evidence: {len(alert.document_ids)} documents]" if alert.revision > 1 else ""
    return f"{severity} {measure:<24} {minerals:<32} {countries:<8} {alert.title}{update}"


def print_json(value: Any, stream: TextIO) -> None:
    """Write one compact JSON object and a newline, flushed (output is often piped)."""
    stream.write(json.dumps(value, ensure_ascii=False) + "\n")
    stream.flush()

