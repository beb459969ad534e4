"""Backtests: replay past tagged events through a rule set and see which alerts would have fired, when.

Events are replayed in time order (published, else fetched), each evaluated at its own time as if it
had just arrived, under every routing key, exactly as the workers together would.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from monitor.errors import DecodeError
from monitor.records import Alert, TaggedEvent
from monitor.rules.conditions import event_time
from monitor.rules.evaluate import evaluate
from monitor.rules.ruleset import RuleSet
from monitor.rules.state import RuleState


@dataclass(frozen=True)
class Firing:
    """One emission: ``new`` for a new alert, else a re-emission with new evidence."""

    at: datetime
    alert: Alert
    document_id: str

    @property
    def new(self) -> bool:
        """True when this emission opened the alert."""
        return self.alert.revision == 1


@dataclass
class BacktestReport:
    """What a replay produced.

    ``firings`` is every emission in time order; ``alerts`` the final version of each alert in the
    order they were first raised; ``counts`` alerts per rule (every rule of the set, zero included).
    """

    firings: list[Firing] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    events: int = 0
    events_alerted: int = 0

    def format(self, verbose: bool = False) -> str:
        """A readable report (see :func:`format_backtest`)."""
        return format_backtest(self, verbose=verbose)


def backtest(ruleset: RuleSet, events: Iterable[TaggedEvent]) -> BacktestReport:
    """Replay ``events`` in time order through ``ruleset``; each is evaluated at its own time."""
    ordered = sorted(enumerate(events), key=lambda item: (event_time(item[1]), item[0]))
    states: dict[str, RuleState] = {}
    report = BacktestReport(counts={rule.id: 0 for rule in ruleset.rules})
    latest: dict[str, Alert] = {}
    order: list[str] = []
    for _, event in ordered:
        report.events += 1
        now = event_time(event)
        emitted = False
        for key in ruleset.routing_keys(event):
            state, alerts = evaluate(ruleset, states.get(key, RuleState()), event, key, now)
            states[key] = state
            for alert in alerts:
                emitted = True
                report.firings.append(Firing(at=now, alert=alert, document_id=event.document_id))
                if alert.id not in latest:
                    order.append(alert.id)
                    report.counts[alert.rule] = report.counts.get(alert.rule, 0) + 1
                latest[alert.id] = alert
        report.events_alerted += int(emitted)
    report.alerts = [latest[alert_id] for alert_id in order]
    return report


def format_backtest(report: BacktestReport, verbose: bool = False) -> str:
    """Alerts in the order they would have fired, then counts per rule.

    With ``verbose`` every re-emission (new evidence) is listed too.
    """
    lines = [
        f"{report.events} events, {report.events_alerted} raised or updated an alert, "
        f"{len(report.alerts)} alerts, {len(report.firings)} emissions"
    ]
    final = {alert.id: alert for alert in report.alerts}
    for firing in report.firings:
        if not firing.new and not verbose:
            continue
        alert = final.get(firing.alert.id, firing.alert)
        when = firing.at.strftime("%Y-%m-%d %H:%M")
        if firing.new:
            lines.append(
                f"{when}  {alert.severity:<8} {alert.rule:<24} {alert.id}  {alert.title}"
                f"  [{len(alert.document_ids)} docs, {len(alert.sources)} sources]"
            )
            lines.append(f"{'':18}reason: {alert.severity_reason}")
        else:
            lines.append(
                f"{when}    + {firing.alert.id} revision {firing.alert.revision} ({firing.document_id})"
            )
    lines.append("alerts per rule:")
    counts = Counter(report.counts)
    for rule, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {rule:<32} {count}")
    return "\n".join(lines)


def read_events(path: Path) -> Iterator[TaggedEvent]:
    """Read tagged events from a JSON Lines file (one ``TaggedEvent`` JSON object a line).

    Blank lines are skipped. Raises :class:`DecodeError` naming the file and line of a bad line.
    """
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise TypeError(f"expected an object, got {type(data).__name__}")
                yield TaggedEvent.from_data(data)
            except (ValueError, TypeError, KeyError) as err:
                raise DecodeError(f"{path}:{number}: not a tagged event: {err}") from err
