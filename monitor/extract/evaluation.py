"""Score the extractor against a labelled JSONL set (``monitor eval FILE.jsonl``).

A gold line is a JSON object with ``id``, ``title``, ``text`` and the gold fields ``minerals``,
``countries``, ``imposing_country``, ``target_country``, ``measure``, ``direction`` and
``effective_date``. Minerals and countries are scored with micro-averaged precision, recall and
F1 over items; the single-valued fields with accuracy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycountry

from monitor.errors import InputError
from monitor.records import DIRECTIONS, MEASURES, Extraction

__all__ = ["EvalReport", "GoldItem", "Mismatch", "SetScore", "format_table", "load_gold", "score"]

_ISO2 = frozenset(c.alpha_2 for c in pycountry.countries) | {"EU"}
SET_FIELDS = ("minerals", "countries")
SINGLE_FIELDS = ("measure", "direction", "imposing_country", "target_country", "effective_date")


@dataclass(frozen=True)
class GoldItem:
    """One labelled document."""

    id: str
    title: str
    text: str
    minerals: tuple[str, ...]
    countries: tuple[str, ...]
    imposing_country: str | None
    target_country: str | None
    measure: str
    direction: str | None
    effective_date: str | None


@dataclass(frozen=True)
class SetScore:
    """Micro-averaged precision, recall and F1 of a set-valued field."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Mismatch:
    """One field of one item where the prediction differs from the gold label."""

    id: str
    field: str
    gold: Any
    predicted: Any


@dataclass
class EvalReport:
    """The scores of one evaluation run, with the mismatches that explain them."""

    items: int
    sets: dict[str, SetScore]
    accuracy: dict[str, float]
    mismatches: list[Mismatch] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``monitor eval --json``)."""
        return {
            "items": self.items,
            **{
                name: {
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                }
                for name, s in self.sets.items()
            },
            "accuracy": {name: round(value, 4) for name, value in self.accuracy.items()},
            "mismatches": [
                {"id": m.id, "field": m.field, "gold": m.gold, "predicted": m.predicted}
                for m in self.mismatches
            ],
        }


def _fail(path: Path, line: int, field_name: str, message: str) -> InputError:
    return InputError(f"{path}:{line}: field {field_name!r}: {message}")


def _opt_str(obj: dict[str, Any], name: str, path: Path, line: int) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(path, line, name, f"expected a string or null, got {type(value).__name__}")
    return value


def _parse_item(obj: Any, path: Path, line: int) -> GoldItem:
    if not isinstance(obj, dict):
        raise _fail(path, line, "<line>", "expected a JSON object")
    for name in ("id", "text"):
        if not isinstance(obj.get(name), str):
            raise _fail(path, line, name, "required string is missing")
    title = obj.get("title") or ""
    if not isinstance(title, str):
        raise _fail(path, line, "title", "expected a string")
    lists: dict[str, tuple[str, ...]] = {}
    for name in SET_FIELDS:
        value = obj.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(path, line, name, "expected a list of strings")
        lists[name] = tuple(value)
    for code in lists["countries"]:
        if code not in _ISO2:
            raise _fail(path, line, "countries", f"{code!r} is not an ISO 3166-1 alpha-2 code or EU")
    measure = obj.get("measure", "none")
    if measure not in MEASURES:
        raise _fail(path, line, "measure", f"{measure!r} is not one of {', '.join(MEASURES)}")
    direction = _opt_str(obj, "direction", path, line)
    if direction is not None and direction not in DIRECTIONS:
        raise _fail(path, line, "direction", f"{direction!r} is not tighten, loosen or null")
    imposing = _opt_str(obj, "imposing_country", path, line)
    if imposing is not None and imposing not in _ISO2:
        raise _fail(path, line, "imposing_country", f"{imposing!r} is not an ISO 3166-1 alpha-2 code or EU")
    target = _opt_str(obj, "target_country", path, line)
    if target is not None and target != "ALL" and target not in _ISO2:
        raise _fail(path, line, "target_country", f"{target!r} is not an ISO2 code, EU or ALL")
    return GoldItem(
        id=obj["id"],
        title=title,
        text=obj["text"],
        minerals=lists["minerals"],
        countries=lists["countries"],
        imposing_country=imposing,
        target_country=target,
        measure=measure,
        direction=direction,
        effective_date=_opt_str(obj, "effective_date", path, line),
    )


def load_gold(path: Path) -> list[GoldItem]:
    """Read a JSONL gold set; a bad line raises InputError naming the file, line and field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read gold file: {err}") from err
    items: list[GoldItem] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise _fail(path, number, "<line>", f"invalid JSON: {err.msg}") from err
        item = _parse_item(obj, path, number)
        if item.id in seen:
            raise _fail(path, number, "id", f"duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


def score(gold: Sequence[GoldItem], predicted: Sequence[Extraction]) -> EvalReport:
    """Compare predictions with gold labels, item by item (the sequences must align)."""
    if len(gold) != len(predicted):
        raise InputError(f"score: {len(gold)} gold items but {len(predicted)} predictions")
    counts = {name: [0, 0, 0] for name in SET_FIELDS}
    correct = dict.fromkeys(SINGLE_FIELDS, 0)
    mismatches: list[Mismatch] = []
    for item, pred in zip(gold, predicted, strict=True):
        for name in SET_FIELDS:
            want = set(getattr(item, name))
            got = set(getattr(pred, name))
            counts[name][0] += len(want & got)
            counts[name][1] += len(got - want)
            counts[name][2] += len(want - got)
            if want != got:
                mismatches.append(Mismatch(item.id, name, sorted(want), sorted(got)))
        for name in SINGLE_FIELDS:
            want_value = getattr(item, name)
            got_value = getattr(pred, name)
            if want_value == got_value:
                correct[name] += 1
            else:
                mismatches.append(Mismatch(item.id, name, want_value, got_value))
    total = len(gold)
    return EvalReport(
        items=total,
        sets={name: SetScore(*values) for name, values in counts.items()},
        accuracy={name: (correct[name] / total if total else 1.0) for name in SINGLE_FIELDS},
        mismatches=mismatches,
    )


def format_table(report: EvalReport, *, errors: bool = False) -> str:
    """A human-readable table of the report's scores; with ``errors``, one line per mismatch after it."""
    lines = [f"items: {report.items}", "", f"{'field':<18}{'precision':>10}{'recall':>10}{'f1':>10}"]
    for name, s in report.sets.items():
        lines.append(f"{name:<18}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}")
    lines += ["", f"{'field':<18}{'accuracy':>10}"]
    for name, value in report.accuracy.items():
        lines.append(f"{name:<18}{value:>10.3f}")
    if errors:
        lines += ["", f"mismatches: {len(report.mismatches)}"]
        lines += [
            f"{m.id}\t{m.field}\tgold={json.dumps(m.gold)}\tpredicted={json.dumps(m.predicted)}"
            for m in report.mismatches
        ]
    return "\n".join(lines)
