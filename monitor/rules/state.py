"""Rule state for one routing key: plain data that goes in and comes back out of :func:`evaluate`.

A Faust table holds ``RuleState.to_dict()`` (JSON: strings, numbers, lists and dicts only) under the
routing key. State is bounded: :meth:`RuleState.prune` drops whatever is older than the rules need
(their suppression, windows and lookbacks); sequence numbers of fingerprints are kept a year longer
so that a fingerprint firing again gets a fresh id.

Sharing (what makes :meth:`RuleState.copy`, :meth:`RuleState.to_dict` and :meth:`RuleState.from_dict`
cheap): the entries of a state (:class:`AlertEntry`, :class:`WindowEntry`, :class:`LadderEntry`) are
frozen, and **an alert document in state is never mutated in place**, nor are an entry's ``labels``
and ``minerals``: whoever changes an alert builds new dicts and lists and a new entry (copy on write,
see ``monitor.rules.evaluate``). So a copy of a state copies its containers (lists and dicts keyed by
rule, group, combination...) and shares the entries; ``to_dict`` output and ``from_dict`` input share
the alert documents with the state instead of deep-copying them. Callers must treat the JSON form as
read-only too: do not mutate a dict that ``to_dict`` returned or that was given to ``from_dict``.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.errors import DecodeError
from monitor.records import Alert

STATE_VERSION = 1
#: How long the last sequence number of a fingerprint is remembered after its alert was dropped.
SEQUENCE_RETENTION = timedelta(days=400)

#: ISO forms of recent UTC datetimes: a state is written back after every event and holds the same
#: times again and again; ``isoformat`` of an aware datetime costs ten dictionary look-ups.
_ISO_CACHE: dict[datetime, str] = {}
_ISO_CACHE_SIZE = 1 << 16


def _iso(value: datetime) -> str:
    if value.tzinfo is not UTC:  # equal datetimes in other zones print differently: no caching
        return value.isoformat()
    text = _ISO_CACHE.get(value)
    if text is None:
        if len(_ISO_CACHE) >= _ISO_CACHE_SIZE:
            _ISO_CACHE.clear()
        text = _ISO_CACHE[value] = value.isoformat()
    return text


def _dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


_SECOND = operator.itemgetter(1)
_AT = operator.attrgetter("at")


@dataclass(frozen=True)
class AlertEntry:
    """An alert this key raised, with what is needed to merge later reports into it.

    ``first_at`` and ``last_at`` are event times (published or fetched) of its evidence; the
    suppression window runs from ``first_at``. ``touched`` is the processing time of the last update,
    which is what pruning looks at. ``alert`` is the alert as last emitted (JSON form).

    Immutable, including what it holds: ``labels``, ``minerals`` and the ``alert`` document are never
    mutated in place, an update builds a new entry (``dataclasses.replace``) with new containers. So
    entries are shared by copies of a state and with its JSON form.
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
    # Made once when first needed (the entry never changes); not part of the entry's value.
    _json: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _ids: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    def cites(self, document_id: str) -> bool:
        """True when the document is evidence of the alert (one of its ``document_ids``)."""
        ids = self._ids
        if ids is None:
            ids = frozenset(self.alert.get("document_ids", ()))
            object.__setattr__(self, "_ids", ids)
        return document_id in ids

    def to_alert(self) -> Alert:
        """The alert as last emitted (a new record: its lists and dicts are its own)."""
        return alert_from_document(self.alert)

    @property
    def document_ids(self) -> list[str]:
        """The evidence documents of the alert."""
        return list(self.alert.get("document_ids", []))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (shares ``labels``, ``minerals`` and ``alert`` with the entry: read-only)."""
        data = self._json
        if data is None:
            data = {
                "rule": self.rule,
                "fingerprint": self.fingerprint,
                "sequence": self.sequence,
                "labels": self.labels,
                "minerals": self.minerals,
                "first_at": _iso(self.first_at),
                "last_at": _iso(self.last_at),
                "touched": _iso(self.touched),
                "alert": self.alert,
            }
            object.__setattr__(self, "_json", data)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertEntry:
        """Read the JSON form back (the alert document is shared with ``data``, not copied)."""
        alert = data["alert"]
        if not isinstance(alert, dict):
            raise TypeError(f"alert: expected a JSON object, got {type(alert).__name__}")
        return cls(
            rule=str(data["rule"]),
            fingerprint=str(data["fingerprint"]),
            sequence=int(data["sequence"]),
            labels={str(k): str(v) for k, v in data["labels"].items()},
            minerals=[str(m) for m in data["minerals"]],
            first_at=_dt(data["first_at"]),
            last_at=_dt(data["last_at"]),
            touched=_dt(data["touched"]),
            alert=alert,
        )


def alert_fields(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of an alert document for ``Alert.from_data``: its lists and dicts are new ones.

    The same as ``json.loads(json.dumps(document))`` for an alert document (whose values are strings,
    numbers, None, lists of strings and a dict of strings), without the text in between: an emitted
    alert must not share a list with the state, which never changes its documents but may be read
    again after a consumer changed its alert.
    """
    return {
        key: list(value) if type(value) is list else dict(value) if type(value) is dict else value
        for key, value in document.items()
    }


def _utc_time(value: Any) -> Any:
    """An alert document's time (``2025-01-01T08:00:00Z`` or with microseconds) as an aware datetime.

    The value the record's own ISO parser would give, from the C parser; anything else is left to it.
    """
    if type(value) is str and len(value) in (20, 27) and value[-1] == "Z":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


_ALERT_TIMES = ("raised_at", "updated_at", "first_evidence_at")


def alert_from_document(document: dict[str, Any]) -> Alert:
    """The alert record of an alert document: ``Alert.from_data(json.loads(json.dumps(document)))``."""
    data = alert_fields(document)
    for name in _ALERT_TIMES:
        if name in data:
            data[name] = _utc_time(data[name])
    return Alert.from_data(data)


@dataclass(frozen=True)
class WindowEntry:
    """One event counted by a threshold rule (kept with what an alert cites as evidence)."""

    at: datetime
    document_id: str
    source: str
    cluster: str
    url: str | None = None
    # The JSON form, made once (the entry never changes); not part of the entry's value.
    _json: list[str | None] | None = field(default=None, init=False, repr=False, compare=False)

    def to_list(self) -> list[str | None]:
        """JSON form: ``[at, document_id, source, cluster, url]`` (made once: read-only)."""
        data = self._json
        if data is None:
            data = [_iso(self.at), self.document_id, self.source, self.cluster, self.url]
            object.__setattr__(self, "_json", data)
        return data

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


@dataclass(frozen=True)
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


class _JsonMemo:
    """The JSON forms of a state's sections, each with a snapshot of the content it was made from.

    A state is written back after every event while most of it has not changed: a section whose
    content equals its snapshot (a comparison in C, mostly of identical objects) reuses its JSON form.
    Content, not identity, decides, so a state changed in any way is never written stale. Copies of
    a state share its memo (it keeps the forms last written by any of them). Keys are unique, so
    sorting the keys orders the items.
    """

    __slots__ = ("ladder", "retired", "seen", "sequences", "windows")

    def __init__(self) -> None:
        self.sequences: tuple[dict[str, tuple[int, datetime]], dict[str, Any]] | None = None
        self.retired: tuple[dict[str, datetime], dict[str, str]] | None = None
        self.windows: dict[tuple[str, str], tuple[tuple[WindowEntry, ...], list[Any]]] = {}
        self.seen: dict[str, tuple[dict[str, datetime], dict[str, str]]] = {}
        self.ladder: dict[str, tuple[dict[str, LadderEntry], dict[str, Any]]] = {}

    def sequences_json(self, sequences: dict[str, tuple[int, datetime]]) -> dict[str, Any]:
        memo = self.sequences
        if memo is not None and memo[0] == sequences:
            return memo[1]
        data = {fp: [sequences[fp][0], _iso(sequences[fp][1])] for fp in sorted(sequences)}
        self.sequences = (dict(sequences), data)
        return data

    def retired_json(self, retired: dict[str, datetime]) -> dict[str, str]:
        memo = self.retired
        if memo is not None and memo[0] == retired:
            return memo[1]
        data = {key: _iso(retired[key]) for key in sorted(retired)}
        self.retired = (dict(retired), data)
        return data

    def windows_json(self, windows: dict[str, dict[str, list[WindowEntry]]]) -> dict[str, Any]:
        old, new = self.windows, {}
        out: dict[str, Any] = {}
        for rule in sorted(windows):
            groups = windows[rule]
            rule_out = out[rule] = {}
            for group in sorted(groups):
                entries = tuple(groups[group])
                memo = old.get((rule, group))
                if memo is None or memo[0] != entries:
                    memo = (entries, [w.to_list() for w in entries])
                new[(rule, group)] = memo
                rule_out[group] = memo[1]
        self.windows = new
        return out

    def seen_json(self, seen: dict[str, dict[str, datetime]]) -> dict[str, Any]:
        old, new = self.seen, {}
        out: dict[str, Any] = {}
        for rule in sorted(seen):
            combos = seen[rule]
            memo = old.get(rule)
            if memo is None or memo[0] != combos:
                memo = (dict(combos), {combo: _iso(combos[combo]) for combo in sorted(combos)})
            new[rule] = memo
            out[rule] = memo[1]
        self.seen = new
        return out

    def ladder_json(self, ladder: dict[str, dict[str, LadderEntry]]) -> dict[str, Any]:
        old, new = self.ladder, {}
        out: dict[str, Any] = {}
        for rule in sorted(ladder):
            entries = ladder[rule]
            memo = old.get(rule)
            if memo is None or memo[0] != entries:
                memo = (dict(entries), {key: entries[key].to_dict() for key in sorted(entries)})
            new[rule] = memo
            out[rule] = memo[1]
        self.ladder = new
        return out


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
    # JSON forms of the sections last written, shared by copies (see :class:`_JsonMemo`).
    _memo: _JsonMemo = field(default_factory=lambda: _JsonMemo(), init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form a Faust table holds.

        It shares its parts with the state and with earlier outputs (alert documents, the JSON form of
        each entry, sections that did not change since the last call): read-only.
        """
        memo = self._memo
        return {
            "version": STATE_VERSION,
            "alerts": [entry.to_dict() for entry in self.alerts],
            "sequences": memo.sequences_json(self.sequences),
            "retired": memo.retired_json(self.retired),
            "windows": memo.windows_json(self.windows),
            "seen": memo.seen_json(self.seen),
            "ladder": memo.ladder_json(self.ladder),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RuleState:
        """Read :meth:`to_dict` output back; None or ``{}`` is the empty state.

        The alert documents are shared with ``data``, not copied: ``data`` must not be mutated later
        (a Faust table's values are not). Raises :class:`monitor.errors.DecodeError` when the data is
        not a rule state.
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
        """A copy whose containers are its own and whose (immutable) entries are shared.

        Changing the copy in every way :func:`evaluate` and :meth:`prune` do (adding, replacing and
        removing entries, alerts, window events, combinations, ladder steps, sequences) leaves this
        state as it is. Cost: the number of entries, not their size (alert documents are not copied).
        """
        copied = RuleState(
            alerts=list(self.alerts),
            sequences=dict(self.sequences),
            windows={
                rule: {g: list(entries) for g, entries in groups.items()}
                for rule, groups in self.windows.items()
            },
            seen={rule: dict(combos) for rule, combos in self.seen.items()},
            ladder={rule: dict(entries) for rule, entries in self.ladder.items()},
            retired=dict(self.retired),
        )
        copied._memo = self._memo
        return copied

    def prune(self, now: datetime, horizons: Mapping[str, timedelta], default: timedelta) -> None:
        """Drop state older than each rule needs (``horizons``: rule id -> horizon), in place.

        Alerts are dropped when not updated for their rule's horizon (processing time); windows, seen
        combinations and ladder entries when older than it (event time); rules that no longer exist
        lose their state after ``default``.

        Containers are rebuilt only when something is dropped (so a state that loses nothing keeps its
        dicts and lists); it never mutates an entry.
        """

        def keep(rule: str, at: datetime) -> bool:
            return now - at <= horizons.get(rule, default)

        if any(not keep(entry.rule, entry.touched) for entry in self.alerts):
            kept: list[AlertEntry] = []
            for entry in self.alerts:
                if keep(entry.rule, entry.touched):
                    kept.append(entry)
                else:
                    self.sequences[entry.fingerprint] = (entry.sequence, entry.touched)
                    for document_id in entry.alert.get("document_ids", ()):
                        self.retired[retired_key(entry.rule, document_id)] = entry.touched
            self.alerts = kept
        if self.retired and now - min(self.retired.values()) > SEQUENCE_RETENTION:
            self.retired = {k: at for k, at in self.retired.items() if now - at <= SEQUENCE_RETENTION}
        if self.sequences and now - min(self.sequences.values(), key=_SECOND)[1] > SEQUENCE_RETENTION:
            live = {entry.fingerprint for entry in self.alerts}
            self.sequences = {
                fp: (seq, at)
                for fp, (seq, at) in self.sequences.items()
                if fp in live or now - at <= SEQUENCE_RETENTION
            }
        # Each container is checked by its oldest entry (a loop in C) and filtered only when it has
        # something to drop.
        for rule, groups in list(self.windows.items()):
            horizon = horizons.get(rule, default)
            for group, entries in list(groups.items()):
                if entries and now - min(entries, key=_AT).at > horizon:
                    entries[:] = [w for w in entries if now - w.at <= horizon]
                if not entries:
                    del groups[group]
            if not groups:
                del self.windows[rule]
        for rule, combos in list(self.seen.items()):
            horizon = horizons.get(rule, default)
            if combos and now - min(combos.values()) > horizon:
                for combo, at in list(combos.items()):
                    if now - at > horizon:
                        del combos[combo]
            if not combos:
                del self.seen[rule]
        for rule, ladder in list(self.ladder.items()):
            horizon = horizons.get(rule, default)
            if ladder and now - min(ladder.values(), key=_AT).at > horizon:
                for key, ladder_entry in list(ladder.items()):
                    if now - ladder_entry.at > horizon:
                        del ladder[key]
            if not ladder:
                del self.ladder[rule]
