"""Helpers for the CLI (``monitor extract``, ``monitor eval``): JSON output objects."""

from __future__ import annotations

from typing import Any

from monitor.records import Extraction

__all__ = ["extraction_to_json"]


def extraction_to_json(extraction: Extraction, *, with_spans: bool = True) -> dict[str, Any]:
    """The JSON object printed by ``monitor extract`` for one document."""
    out: dict[str, Any] = {
        "minerals": list(extraction.minerals),
        "countries": list(extraction.countries),
        "imposing_country": extraction.imposing_country,
        "target_country": extraction.target_country,
        "measure": extraction.measure,
        "direction": extraction.direction,
        "effective_date": extraction.effective_date,
        "truncated": extraction.truncated,
        "schema_version": extraction.schema_version,
    }
    if with_spans:
        out["spans"] = [
            {"start": s.start, "end": s.end, "text": s.text, "label": s.label, "value": s.value}
            for s in extraction.spans
        ]
    return out
