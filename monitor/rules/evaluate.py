"""Evaluation: one tagged event, the state of one routing key, and the alerts to emit.

For each enabled rule whose conditions the event meets and whose routing key for the event is the
key being evaluated:

1. a re-delivered document (already evidence of an alert of the rule) changes no state, and the alert
   it belongs to is emitted again unchanged (same id and revision): under at-least-once delivery the
   first emission may have been lost with a crashed worker whose state change survived, and the
   notify stage is idempotent per alert id and revision;
2. the rule type's own state is updated (threshold window, first-seen combinations, escalation ladder)
   and says whether the rule triggers;
3. if an alert of the rule with the same grouping labels (and, when grouping by ``minerals``, an
   overlapping mineral) opened within the suppression window, the event joins it as evidence and the
   alert is re-emitted with ``revision + 1``;
4. otherwise, if the rule triggered, a new alert opens.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from monitor.records import Alert, TaggedEvent
from monitor.records.vocabulary import severity_rank
from monitor.rules import text
from monitor.rules.conditions import (
    aware,
    event_minerals,
    event_time,
    group_labels,
    label_value,
    matches,
    routing_key_for,
)
from monitor.rules.exposure import normalise_country
from monitor.rules.fingerprint import alert_id, fingerprint
from monitor.rules.ruleset import RuleSet
from monitor.rules.schema import Rule
from monitor.rules.severity import alert_direction, effective_direction, severity_for
from monitor.rules.state import (
    AlertEntry,
    LadderEntry,
    RuleState,
    WindowEntry,
    alert_from_document,
    retired_key,
)


@dataclass(frozen=True)
class Evidence:
    """A document an alert cites."""

    document_id: str
    source: str
    url: str | None
    at: datetime


@dataclass(frozen=True)
class Trigger:
    """A rule type's verdict: fire for these minerals, citing this evidence (oldest first)."""

    minerals: list[str]
    evidence: list[Evidence]
    note: str = ""


def evaluate(
    ruleset: RuleSet, state: RuleState, event: TaggedEvent, key: str, now: datetime
) -> tuple[RuleState, list[Alert]]:
    """Evaluate the rules routed to ``key`` for this event; return the new state and the alerts to emit.

    The given state is not modified. Emitted alerts are new alerts (revision 1) and existing alerts
    re-emitted with new evidence (same id, revision + 1, all document ids). Times: the event happened
    at its published (else fetched) time, clamped to ``now``; ``now`` stamps ``raised_at`` and
    ``updated_at`` and drives pruning.
    """
    now = aware(now)
    new_state = state.copy()
    at = event_time(event, now)
    alerts: list[Alert] = []
    keys: dict[tuple[str, ...], str] = {}  # rules share routing labels: one key per label tuple
    for rule, labels in ruleset.routes:
        rule_key = keys.get(labels)
        if rule_key is None:
            rule_key = keys[labels] = routing_key_for(labels, event)
        if rule_key != key or not matches(rule.when, event, ruleset.exposure):
            continue
        alerts.extend(_evaluate_rule(ruleset, rule, new_state, event, at, now))
    new_state.prune(now, ruleset.horizons, ruleset.horizon)
    return new_state, alerts


def _evaluate_rule(
    ruleset: RuleSet, rule: Rule, state: RuleState, event: TaggedEvent, at: datetime, now: datetime
) -> list[Alert]:
    for entry in state.alerts:
        if entry.rule == rule.id and entry.cites(event.document_id):
            return [entry.to_alert()]  # re-delivered: emit again as is
    if retired_key(rule.id, event.document_id) in state.retired:
        return []  # re-delivered long after its alert expired: that alert is closed
    minerals = event_minerals(event, ruleset.exposure)
    labels = group_labels(rule, event)
    trigger = _TRIGGERS[rule.type](rule, state, event, at, labels, minerals)
    direction = effective_direction(event.extraction.direction)
    joinable = not (
        (rule.type == "escalation" and direction != "tighten")
        or (rule.type == "de_escalation" and direction != "loosen")
    )
    active = _find_active(state, rule, labels, minerals, at) if joinable else None
    if active is not None:
        alert = _add_evidence(ruleset, rule, state, active, event, at, now, minerals)
        return [alert] if alert is not None else []
    if trigger is not None:
        return [_open(ruleset, rule, state, event, at, now, labels, trigger)]
    return []


# --- active alerts -----------------------------------------------------------------------------------


def _find_active(
    state: RuleState, rule: Rule, labels: dict[str, str], minerals: Sequence[str], at: datetime
) -> AlertEntry | None:
    """The alert of this rule the event joins: same labels, overlapping minerals, within suppression."""
    by_minerals = "minerals" in rule.group_by
    best: tuple[int, datetime] | None = None
    found: AlertEntry | None = None
    for entry in state.alerts:
        if entry.rule != rule.id or entry.labels != labels:
            continue
        if abs(at - entry.first_at) > rule.suppress_for:
            continue
        overlap = len(set(entry.minerals) & set(minerals))
        if by_minerals and (minerals or entry.minerals) and overlap == 0:
            continue
        rank = (overlap, entry.first_at)
        if best is None or rank > best:
            best, found = rank, entry
    return found


def _severity(ruleset: RuleSet, rule: Rule, event: TaggedEvent, minerals: Sequence[str]) -> tuple[str, str]:
    if rule.severity != "computed":
        return rule.severity, f"fixed by rule {rule.id}: {rule.severity}"
    return severity_for(event, rule.severity_policy, ruleset.exposure, minerals=list(minerals) or None)


def _countries(event: TaggedEvent) -> list[str]:
    found: list[str] = []
    extraction = event.extraction
    for code in [extraction.imposing_country, extraction.target_country, *extraction.countries]:
        value = normalise_country(code)
        if value and value not in found:
            found.append(value)
    return found


def _describe(alert: dict[str, Any], rule: Rule) -> None:
    """Recompute the title and summary of an alert document in place."""
    alert["title"] = text.title(
        rule.type,
        alert.get("imposing_country"),
        alert["measure"],
        alert.get("direction"),
        alert.get("minerals", []),
    )
    first = alert.get("first_evidence_at")
    first_text = str(first)[:10] if first else "?"
    alert["summary"] = text.summary(
        alert["title"],
        target=alert.get("target_country"),
        severity=alert["severity"],
        effective_date=alert.get("effective_date"),
        reports=len(alert.get("document_ids", [])),
        sources=len(alert.get("sources", [])),
        first=first_text,
    )


def _to_json(alert: Alert) -> dict[str, Any]:
    """The JSON form of a new alert: ``json.loads(alert.dumps())`` without the text in between.

    Its values are strings, numbers, None, lists of strings, a dict of strings and datetimes, which the
    record's JSON encoder writes as ISO 8601 with ``Z`` for UTC (the alert's times are all UTC).
    """
    return {
        name: _to_json_time(value)
        if isinstance(value, datetime)
        else list(value)
        if type(value) is list
        else dict(value)
        if type(value) is dict
        else value
        for name, value in alert.asdict().items()
    }


def _open(
    ruleset: RuleSet,
    rule: Rule,
    state: RuleState,
    event: TaggedEvent,
    at: datetime,
    now: datetime,
    labels: dict[str, str],
    trigger: Trigger,
) -> Alert:
    minerals = trigger.minerals
    fp = fingerprint(rule.id, labels, minerals if "minerals" in rule.group_by else ())
    previous = [entry.sequence for entry in state.alerts if entry.fingerprint == fp]
    if fp in state.sequences:
        previous.append(state.sequences[fp][0])
    sequence = max(previous, default=0) + 1
    severity, reason = _severity(ruleset, rule, event, minerals)
    if trigger.note:
        reason = f"{trigger.note}; {reason}"
    evidence = trigger.evidence[-rule.max_evidence :]
    extraction = event.extraction
    sources: list[str] = []
    urls: list[str] = []
    for item in evidence:
        if item.source not in sources:
            sources.append(item.source)
        if item.url and item.url not in urls:
            urls.append(item.url)
    alert_labels = {k: v for k, v in labels.items() if v != "-"}
    alert_labels.update(rule.labels)
    alert_labels["rule"] = rule.id
    alert_labels["severity"] = severity
    alert = Alert(
        id=alert_id(fp, sequence),
        fingerprint=fp,
        rule=rule.id,
        severity=severity,
        title="",
        measure=extraction.measure,
        raised_at=now,
        updated_at=now,
        direction=alert_direction(extraction.measure, extraction.direction),
        minerals=list(minerals),
        countries=_countries(event),
        imposing_country=normalise_country(extraction.imposing_country),
        target_country=normalise_country(extraction.target_country),
        effective_date=extraction.effective_date,
        severity_reason=reason,
        labels=alert_labels,
        document_ids=[item.document_id for item in evidence],
        sources=sources,
        urls=urls,
        status="firing",
        revision=1,
        first_evidence_at=min(item.at for item in evidence),
    )
    document = _to_json(alert)
    _describe(document, rule)
    # The alert emitted is the one just built, with the texts of its document: the same values as
    # ``Alert.from_data`` of the document, which holds copies of its lists (neither shares with the other).
    alert.title = document["title"]
    alert.summary = document["summary"]
    state.alerts.append(
        AlertEntry(
            rule=rule.id,
            fingerprint=fp,
            sequence=sequence,
            labels=dict(labels),
            minerals=list(minerals),
            first_at=min(item.at for item in evidence),
            last_at=max(item.at for item in evidence),
            touched=now,
            alert=document,
        )
    )
    return alert


def _add_evidence(
    ruleset: RuleSet,
    rule: Rule,
    state: RuleState,
    entry: AlertEntry,
    event: TaggedEvent,
    at: datetime,
    now: datetime,
    minerals: Sequence[str],
) -> Alert | None:
    """Join the event to an alert; return the re-emitted alert, or None when nothing changed.

    Copy on write: the entry, its alert document and the document's lists are never changed in place
    (other states and JSON forms share them); a new document and a new entry replace them in ``state``.
    """
    index = next(i for i, item in enumerate(state.alerts) if item is entry)
    old = entry.alert
    last_at = max(entry.last_at, at)
    if len(old["document_ids"]) >= rule.max_evidence:
        state.alerts[index] = replace(entry, last_at=last_at, touched=now)
        return None
    extraction = event.extraction
    document = dict(old)
    document["document_ids"] = [*old["document_ids"], event.document_id]
    if event.source not in old["sources"]:
        document["sources"] = [*old["sources"], event.source]
    if event.url and event.url not in old["urls"]:
        document["urls"] = [*old["urls"], event.url]
    doc_minerals: list[str] = old["minerals"]
    entry_minerals = entry.minerals
    for mineral in minerals:
        if mineral not in doc_minerals:
            doc_minerals = [*doc_minerals, mineral]
        if mineral not in entry_minerals:
            entry_minerals = [*entry_minerals, mineral]
    document["minerals"] = doc_minerals
    countries: list[str] = old["countries"]
    for code in _countries(event):
        if code not in countries:
            countries = [*countries, code]
    document["countries"] = countries
    if not document.get("imposing_country"):
        document["imposing_country"] = normalise_country(extraction.imposing_country)
    if not document.get("target_country"):
        document["target_country"] = normalise_country(extraction.target_country)
    if not document.get("effective_date"):
        document["effective_date"] = extraction.effective_date
    first = document.get("first_evidence_at")
    if first is None or at < datetime.fromisoformat(str(first).replace("Z", "+00:00")):
        document["first_evidence_at"] = _to_json_time(at)
    severity, reason = _severity(ruleset, rule, event, minerals)
    if severity_rank(severity) > severity_rank(document["severity"]):
        document["severity"] = severity
        document["severity_reason"] = reason
        document["labels"] = {**document["labels"], "severity": severity}
    document["revision"] = int(document["revision"]) + 1
    document["updated_at"] = _to_json_time(now)
    _describe(document, rule)
    state.alerts[index] = replace(
        entry, minerals=entry_minerals, last_at=last_at, touched=now, alert=document
    )
    return alert_from_document(document)


def _to_json_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --- rule types --------------------------------------------------------------------------------------


def _evidence(event: TaggedEvent, at: datetime) -> Evidence:
    return Evidence(document_id=event.document_id, source=event.source, url=event.url, at=at)


def _match(
    rule: Rule,
    state: RuleState,
    event: TaggedEvent,
    at: datetime,
    labels: dict[str, str],
    minerals: list[str],
) -> Trigger | None:
    return Trigger(minerals=list(minerals), evidence=[_evidence(event, at)])


def _group_key(labels: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in labels.items())


def _threshold(
    rule: Rule,
    state: RuleState,
    event: TaggedEvent,
    at: datetime,
    labels: dict[str, str],
    minerals: list[str],
) -> Trigger | None:
    spec = rule.threshold
    assert spec is not None
    base = _group_key(labels)
    per_mineral = "minerals" in rule.group_by
    keys = {f"{base}|mineral={m}": [m] for m in minerals} if per_mineral else {base: list(minerals)}
    windows = state.windows.setdefault(rule.id, {})
    entry = WindowEntry(
        at=at,
        document_id=event.document_id,
        source=event.source,
        cluster=event.cluster_id or event.document_id,
        url=event.url,
    )
    fired: list[str] = []
    cited: dict[str, WindowEntry] = {}
    for key, key_minerals in keys.items():
        entries = windows.setdefault(key, [])
        if all(w.document_id != entry.document_id for w in entries):
            entries.append(entry)
        entries.sort(key=lambda w: w.at)
        current = [w for w in entries if at - spec.window <= w.at <= at]
        attribute = {"documents": "document_id", "sources": "source", "clusters": "cluster"}[spec.distinct]
        count = len({getattr(w, attribute) for w in current})
        if count >= spec.count:
            fired.extend(m for m in key_minerals if m not in fired)
            for w in current:
                cited.setdefault(w.document_id, w)
    if not cited:
        return None
    evidence = sorted(
        (Evidence(w.document_id, w.source, w.url, w.at) for w in cited.values()), key=lambda e: e.at
    )
    note = f"{len(evidence)} reports within {spec.window} (threshold {spec.count} {spec.distinct})"
    return Trigger(minerals=fired if per_mineral else list(minerals), evidence=evidence, note=note)


def _first_seen(
    rule: Rule,
    state: RuleState,
    event: TaggedEvent,
    at: datetime,
    labels: dict[str, str],
    minerals: list[str],
) -> Trigger | None:
    spec = rule.first_seen
    assert spec is not None
    seen = state.seen.setdefault(rule.id, {})
    axes: list[list[tuple[str, str]]] = []
    label: str
    for label in spec.combination:
        if label == "mineral":
            axes.append([("mineral", m) for m in minerals])
        else:
            axes.append([(label, label_value(event, label) or "-")])
    new_minerals: list[str] = []
    any_new = False
    for combo in itertools.product(*axes):
        key = "|".join(f"{k}={v}" for k, v in combo)
        previous = seen.get(key)
        if previous is None or previous < at - spec.lookback:
            any_new = True
            for name, value in combo:
                if name == "mineral" and value not in new_minerals:
                    new_minerals.append(value)
        if previous is None or previous < at:
            seen[key] = at
    if not any_new:
        return None
    chosen = new_minerals if "mineral" in spec.combination else list(minerals)
    return Trigger(minerals=chosen, evidence=[_evidence(event, at)], note="combination not seen before")


def _ladder(
    rule: Rule,
    state: RuleState,
    event: TaggedEvent,
    at: datetime,
    labels: dict[str, str],
    minerals: list[str],
) -> Trigger | None:
    spec = rule.escalation
    assert spec is not None
    extraction = event.extraction
    measure = extraction.measure
    if measure not in spec.ladder:
        return None
    rank = spec.ladder[measure]
    direction = effective_direction(extraction.direction)
    ladder = state.ladder.setdefault(rule.id, {})
    country = normalise_country(extraction.imposing_country) or "-"
    moved: list[str] = []
    notes: list[str] = []
    for mineral in minerals:
        key = f"{country}|{mineral}"
        previous = ladder.get(key)
        active = previous is not None and abs(at - previous.at) <= spec.lookback
        if direction == "loosen":
            if active and previous is not None:
                moved.append(mineral)
                notes.append(f"{mineral}: {previous.measure} loosened")
            ladder.pop(key, None)
            continue
        if active and previous is not None:
            if rank > previous.rank:
                moved.append(mineral)
                notes.append(f"{mineral}: {previous.measure} -> {measure}")
                ladder[key] = LadderEntry(measure=measure, rank=rank, at=at)
            elif rank == previous.rank and at > previous.at:
                ladder[key] = replace(previous, at=at)  # entries are shared with other states
        else:
            ladder[key] = LadderEntry(measure=measure, rank=rank, at=at)
    wanted = "loosen" if rule.type == "de_escalation" else "tighten"
    if direction != wanted or not moved:
        return None
    return Trigger(minerals=moved, evidence=[_evidence(event, at)], note="; ".join(notes))


_TRIGGERS = {
    "match": _match,
    "threshold": _threshold,
    "first_seen": _first_seen,
    "escalation": _ladder,
    "de_escalation": _ladder,
}


def evaluate_all(
    ruleset: RuleSet, states: dict[str, RuleState], events: Iterable[tuple[TaggedEvent, datetime]]
) -> list[tuple[datetime, Alert]]:
    """Evaluate events in order under every routing key (as all workers together would), in place.

    ``states`` maps routing keys to state and is updated. Returns ``(now, alert)`` per emission.
    """
    emitted: list[tuple[datetime, Alert]] = []
    for event, now in events:
        for key in ruleset.routing_keys(event):
            new_state, alerts = evaluate(ruleset, states.get(key, RuleState()), event, key, now)
            states[key] = new_state
            emitted.extend((now, alert) for alert in alerts)
    return emitted
