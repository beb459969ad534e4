"""Rule state for one routing key: plain data that goes in and comes back out of :func:`evaluate`.

A Faust table holds ``RuleState.to_dict()`` (JSON: strings, numbers, lists and dicts only) under the
routing key. State is bounded: :meth:`RuleState.prune` drops whatever is older than the rules need
(their suppression, windows and lookbacks); sequence numbers of fingerprints are kept a year longer
so that a fingerprint firing again gets a fresh id.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.errors import DecodeError
from monitor.records import Alert

STATE_VERSION = 1
#: How long the last sequence number of a fingerprint is remembered after its alert was dropped.
SEQUENCE_RETENTION = timedelta(days=400)


def _iso(value: datetime) -> str:
    return value.isoformat()


def _dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@dataclass
class AlertEntry:
    """An alert this key raised, with what is needed to merge later reports into it.

    ``first_at`` and ``last_at`` are event times (published or fetched) of its evidence; the
    suppression window runs from ``first_at``. ``touched`` is the processing time of the last update,
    which is what pruning looks at. ``alert`` is the alert as last emitted (JSON form).
    """

    rule: str
    fingerprint: str
    sequence: int
    labels: dict[str, str]
    minerals: list[str]
    first_at: datetime
    last_at: datetime
    touched: datetime
    alert: dict[str, Any]

    def to_alert(self) -> Alert:
        """The alert as last emitted."""
        return Alert.from_data(copy.deepcopy(self.alert))

    @property
    def document_ids(self) -> list[str]:
        """The evidence documents of the alert."""
        return list(self.alert.get("document_ids", []))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rule": self.rule,
            "fingerprint": self.fingerprint,
            "sequence": self.sequence,
            "labels": dict(self.labels),
            "minerals": list(self.minerals),
            "first_at": _iso(self.first_at),
            "last_at": _iso(self.last_at),
            "touched": _iso(self.touched),
            "alert": copy.deepcopy(self.alert),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertEntry:
        """Read the JSON form back."""
        return cls(
            rule=str(data["rule"]),
            fingerprint=str(data["fingerprint"]),
            sequence=int(data["sequence"]),
            labels={str(k): str(v) for k, v in data["labels"].items()},
            minerals=[str(m) for m in data["minerals"]],
            first_at=_dt(data["first_at"]),
            last_at=_dt(data["last_at"]),
            touched=_dt(data["touched"]),
            alert=copy.deepcopy(data["alert"]),
        )


@dataclass
class WindowEntry:
    """One event counted by a threshold rule (kept with what an alert cites as evidence)."""

    at: datetime
    document_id: str
    source: str
    cluster: str
    url: str | None = None

    def to_list(self) -> list[str | None]:
        """JSON form: ``[at, document_id, source, cluster, url]``."""
        return [_iso(self.at), self.document_id, self.source, self.cluster, self.url]

    @classmethod
    def from_list(cls, data: list[Any]) -> WindowEntry:
        """Read the JSON form back."""
        url = data[4] if len(data) > 4 else None
        return cls(
            at=_dt(data[0]),
            document_id=str(data[1]),
            source=str(data[2]),
            cluster=str(data[3]),
            url=None if url is None else str(url),
        )


@dataclass
class LadderEntry:
    """The strictest active tightening on one imposing country and mineral (escalation rules)."""

    measure: str
    rank: int
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"measure": self.measure, "rank": self.rank, "at": _iso(self.at)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LadderEntry:
        """Read the JSON form back."""
        return cls(measure=str(data["measure"]), rank=int(data["rank"]), at=_dt(data["at"]))


def retired_key(rule: str, document_id: str) -> str:
    """The key of :attr:`RuleState.retired` for a rule and a document."""
    return f"{rule}|{document_id}"


@dataclass
class RuleState:
    """All rule state for ONE routing key.

    - ``alerts``: alerts raised under this key, kept while they can still gather evidence;
    - ``sequences``: fingerprint -> [last sequence, when last used], to number re-firings;
    - ``windows``: threshold rules, rule id -> group key -> counted events;
    - ``seen``: first-seen rules, rule id -> combination -> when last seen (event time);
    - ``ladder``: escalation rules, rule id -> ``country|mineral`` -> strictest active tightening;
    - ``retired``: ``rule|document id`` -> when its alert was dropped, so that a very late re-delivery
      of a document whose alert expired does not open a second alert (kept as long as ``sequences``).
    """

    alerts: list[AlertEntry] = field(default_factory=list)
    sequences: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    windows: dict[str, dict[str, list[WindowEntry]]] = field(default_factory=dict)
    seen: dict[str, dict[str, datetime]] = field(default_factory=dict)
    ladder: dict[str, dict[str, LadderEntry]] = field(default_factory=dict)
    retired: dict[str, datetime] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form a Faust table holds."""
        return {
            "version": STATE_VERSION,
            "alerts": [entry.to_dict() for entry in self.alerts],
            "sequences": {fp: [seq, _iso(at)] for fp, (seq, at) in sorted(self.sequences.items())},
            "retired": {key: _iso(at) for key, at in sorted(self.retired.items())},
            "windows": {
                rule: {group: [w.to_list() for w in entries] for group, entries in sorted(groups.items())}
                for rule, groups in sorted(self.windows.items())
            },
            "seen": {
                rule: {combo: _iso(at) for combo, at in sorted(combos.items())}
                for rule, combos in sorted(self.seen.items())
            },
            "ladder": {
                rule: {key: entry.to_dict() for key, entry in sorted(entries.items())}
                for rule, entries in sorted(self.ladder.items())
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RuleState:
        """Read :meth:`to_dict` output back; None or ``{}`` is the empty state.

        Raises :class:`monitor.errors.DecodeError` when the data is not a rule state.
        """
        if not data:
            return cls()
        try:
            version = int(data.get("version", STATE_VERSION))
            if version != STATE_VERSION:
                raise DecodeError(f"rule state: unsupported version {version}")
            return cls(
                alerts=[AlertEntry.from_dict(item) for item in data.get("alerts", [])],
                sequences={
                    str(fp): (int(item[0]), _dt(item[1])) for fp, item in data.get("sequences", {}).items()
                },
                retired={str(key): _dt(at) for key, at in data.get("retired", {}).items()},
                windows={
                    str(rule): {
                        str(g): [WindowEntry.from_list(w) for w in entries] for g, entries in groups.items()
                    }
                    for rule, groups in data.get("windows", {}).items()
                },
                seen={
                    str(rule): {str(combo): _dt(at) for combo, at in combos.items()}
                    for rule, combos in data.get("seen", {}).items()
                },
                ladder={
                    str(rule): {str(key): LadderEntry.from_dict(entry) for key, entry in entries.items()}
                    for rule, entries in data.get("ladder", {}).items()
                },
            )
        except DecodeError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as err:
            raise DecodeError(f"rule state: cannot decode: {err}") from err

    def copy(self) -> RuleState:
        """A deep copy (evaluate never mutates the state it was given)."""
        return RuleState.from_dict(self.to_dict())

    def prune(self, now: datetime, horizons: dict[str, timedelta], default: timedelta) -> None:
        """Drop state older than each rule needs (``horizons``: rule id -> horizon), in place.

        Alerts are dropped when not updated for their rule's horizon (processing time); windows, seen
        combinations and ladder entries when older than it (event time); rules that no longer exist
        lose their state after ``default``.
        """

        def keep(rule: str, at: datetime) -> bool:
            return now - at <= horizons.get(rule, default)

        kept: list[AlertEntry] = []
        for entry in self.alerts:
            if keep(entry.rule, entry.touched):
                kept.append(entry)
            else:
                self.sequences[entry.fingerprint] = (entry.sequence, entry.touched)
                for document_id in entry.alert.get("document_ids", ()):
                    self.retired[retired_key(entry.rule, document_id)] = entry.touched
        self.alerts = kept
        self.retired = {k: at for k, at in self.retired.items() if now - at <= SEQUENCE_RETENTION}
        live = {entry.fingerprint for entry in self.alerts}
        self.sequences = {
            fp: (seq, at)
            for fp, (seq, at) in self.sequences.items()
            if fp in live or now - at <= SEQUENCE_RETENTION
        }
        for rule, groups in list(self.windows.items()):
            for group, entries in list(groups.items()):
                entries[:] = [w for w in entries if keep(rule, w.at)]
                if not entries:
                    del groups[group]
            if not groups:
                del self.windows[rule]
        for rule, combos in list(self.seen.items()):
            for combo, at in list(combos.items()):
                if not keep(rule, at):
                    del combos[combo]
            if not combos:
                del self.seen[rule]
        for rule, ladder in list(self.ladder.items()):
            for key, ladder_entry in list(ladder.items()):
                if not keep(rule, ladder_entry.at):
                    del ladder[key]
            if not ladder:
                del self.ladder[rule]
