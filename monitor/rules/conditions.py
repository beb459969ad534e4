"""Reading a tagged event through a rule: does it match, what are its labels, when did it happen."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from monitor.records import TaggedEvent
from monitor.rules.exposure import Exposure, normalise_country
from monitor.rules.schema import Conditions, Rule, TextMatch
from monitor.rules.severity import effective_direction

#: Measure families for the ``measure_family`` label.
MEASURE_FAMILIES: dict[str, str] = {
    "export_ban": "export_control",
    "export_quota": "export_control",
    "export_licence": "export_control",
    "export_tax": "export_control",
    "technology_ban": "export_control",
    "import_tariff": "trade_remedy",
    "investigation": "trade_remedy",
    "sanction": "sanction",
    "price_control": "market",
    "stockpile": "market",
    "partnership": "market",
    "none": "none",
}


def aware(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def event_time(event: TaggedEvent, now: datetime | None = None) -> datetime:
    """When the event happened: published, else fetched; never later than ``now`` when given."""
    at = aware(event.published or event.fetched)
    if now is not None:
        at = min(at, aware(now))
    return at


def event_minerals(event: TaggedEvent, exposure: Exposure) -> list[str]:
    """The event's minerals, canonical and deduplicated, in the extractor's order."""
    names: list[str] = []
    for mineral in event.extraction.minerals:
        name = exposure.canonical_mineral(mineral)
        if name and name not in names:
            names.append(name)
    return names


def label_value(event: TaggedEvent, label: str) -> str | None:
    """The value of one scalar grouping label for the event (None when the event has none)."""
    extraction = event.extraction
    if label == "imposing_country":
        return normalise_country(extraction.imposing_country)
    if label == "target_country":
        return normalise_country(extraction.target_country)
    if label == "measure":
        return extraction.measure
    if label == "measure_family":
        return MEASURE_FAMILIES.get(extraction.measure, "other")
    if label == "direction":
        return effective_direction(extraction.direction)
    if label == "source":
        return event.source
    if label == "cluster":
        return event.cluster_id or event.document_id
    raise ValueError(f"unknown label {label!r}")


def group_labels(rule: Rule, event: TaggedEvent) -> dict[str, str]:
    """The scalar grouping labels of the event under the rule (absent values become ``-``)."""
    return {label: label_value(event, label) or "-" for label in rule.scalar_group_labels}


def routing_key(rule: Rule, event: TaggedEvent) -> str:
    """The partition key of the event under the rule, e.g. ``imposing_country=CN``; ``all`` when none."""
    return routing_key_for(rule.routing_labels, event)


def routing_key_for(labels: tuple[str, ...], event: TaggedEvent) -> str:
    """The partition key of the event for these routing labels (``Rule.routing_labels``)."""
    if not labels:
        return "all"
    return "|".join(f"{label}={label_value(event, label) or '-'}" for label in labels)


def _any(values: list[str] | None, wanted: list[str] | None) -> bool:
    if wanted is None:
        return True
    return bool(set(values or ()) & set(wanted))


def matches(conditions: Conditions, event: TaggedEvent, exposure: Exposure) -> bool:
    """True when every condition given holds for the event."""
    extraction = event.extraction
    if conditions.measures is not None and extraction.measure not in conditions.measures:
        return False
    if extraction.measure in conditions.exclude_measures:
        return False
    if conditions.directions is not None:
        direction = extraction.direction if extraction.direction in ("tighten", "loosen") else None
        directions = set(conditions.directions)
        if direction is None and not ({"none", "tighten"} & directions):
            return False
        if direction is not None and direction not in directions:
            return False
    minerals = event_minerals(event, exposure)
    if conditions.minerals is not None:
        wanted = [exposure.canonical_mineral(m) for m in conditions.minerals]
        if not _any(minerals, wanted):
            return False
    if conditions.critical and not any(exposure.is_critical(m, conditions.critical_lists) for m in minerals):
        return False
    imposing = normalise_country(extraction.imposing_country)
    target = normalise_country(extraction.target_country)
    if conditions.imposing_countries is not None and imposing not in conditions.imposing_countries:
        return False
    if conditions.target_countries is not None and target not in conditions.target_countries:
        return False
    if conditions.countries is not None:
        named = {normalise_country(c) for c in extraction.countries} | {imposing, target}
        if not named & set(conditions.countries):
            return False
    if conditions.sources is not None and event.source not in conditions.sources:
        return False
    for tag, values in conditions.tags.items():
        if event.tags.get(tag) not in values:
            return False
    if conditions.text is not None and not _text_matches(conditions.text, event):
        return False
    return not (conditions.exclude_text is not None and _text_matches(conditions.exclude_text, event))


@lru_cache(maxsize=1024)
def _compiled(regex: str | None, keywords: tuple[str, ...], case_sensitive: bool) -> re.Pattern[str]:
    return TextMatch(regex=regex, keywords=list(keywords), case_sensitive=case_sensitive).pattern()


def _text_matches(spec: TextMatch, event: TaggedEvent) -> bool:
    pattern = _compiled(spec.regex, tuple(spec.keywords), spec.case_sensitive)
    return any(pattern.search(getattr(event, name) or "") for name in spec.fields)
