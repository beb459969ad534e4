"""Closed vocabularies shared by every stage: measures, directions, severities.

They are plain tuples and ``Literal`` types so that the pure core, the YAML rule schema
and the metrics labels all agree on one spelling.
"""

from __future__ import annotations

from typing import Literal, get_args

Measure = Literal[
    "export_ban",
    "export_licence",
    "export_quota",
    "export_tax",
    "import_tariff",
    "sanction",
    "investigation",
    "technology_ban",
    "price_control",
    "stockpile",
    "partnership",
    "none",
]
Direction = Literal["tighten", "loosen"]
Severity = Literal["low", "medium", "high", "critical"]
AlertStatus = Literal["firing", "acknowledged", "resolved"]

MEASURES: tuple[str, ...] = get_args(Measure)
#: Measures that have no direction (the extractor's contract): they neither tighten nor loosen supply.
UNDIRECTED_MEASURES: frozenset[str] = frozenset(
    {"none", "partnership", "stockpile", "investigation", "price_control"}
)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
SEVERITIES: tuple[str, ...] = get_args(Severity)
ALERT_STATUSES: tuple[str, ...] = get_args(AlertStatus)


def severity_rank(severity: str) -> int:
    """Return the order of a severity (``low`` = 0 ... ``critical`` = 3); unknown -> ValueError."""
    return SEVERITIES.index(severity)
