"""Measure, direction and modality cues, compiled from ``monitor/data/extract/measures.yaml``.

The patterns are regular expressions over the lower-cased analysed text (compiled without
IGNORECASE, which makes Python's engine several times slower). They run in C, which is much
cheaper than per-token Python, and they see phrasing that spaCy's tokenizer splits
("export-control", "anti-dumping"). Each measure's patterns run only on the sentences that
contain its ``gate`` keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.extract.gazetteer import EXTRACT_DATA_DIR, load_yaml
from monitor.records import MEASURES

__all__ = ["CueRules", "MeasureCues", "WordPattern", "load_cue_rules", "lower_same_length"]

_GAP = re.compile(r"W(\d+)(\?)?")


def lower_same_length(text: str) -> str:
    """``text.lower()`` with every character kept at its offset (a few letters grow when lowered)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)


def _expand(pattern: str) -> str:
    r"""Expand ``W<n>`` (or ``W<n>?``) to a lazy gap of up to n words: ``\s*(?:\S+\s+){0,n}?``."""

    def repl(match: re.Match[str]) -> str:
        return rf"\b\s*(?:\S+\s+){{0,{int(match.group(1))}}}?"

    return _GAP.sub(repl, pattern)


class WordPattern:
    """A compiled pattern whose leading ``\\b`` is checked in Python, not by the regex engine.

    A pattern that starts with a literal (or an alternation of literals) lets Python's engine skip
    ahead to candidate first characters; a leading ``\\b`` defeats that and costs about 3x.
    """

    __slots__ = ("boundary", "pattern", "rx")

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.pattern = rx.pattern
        self.boundary = rx.pattern.startswith("\\b")
        self.rx = re.compile(rx.pattern[2:]) if self.boundary else rx

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[re.Match[str]]:
        """Matches in ``text[pos:endpos]`` that start at a word boundary."""
        end = len(text) if endpos is None else endpos
        search = self.rx.search
        while pos <= end:
            match = search(text, pos, end)
            if match is None:
                return
            start = match.start()
            if self.boundary and start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
                pos = start + 1
                continue
            yield match
            pos = match.end() if match.end() > start else start + 1

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
        """The first match in ``text[pos:endpos]`` that starts at a word boundary."""
        return next(self.finditer(text, pos, endpos), None)


def _compile(pattern: Any, where: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: expected a regular expression string")
    try:
        return re.compile(_expand(pattern.replace("\n", "")))
    except re.error as err:
        raise ConfigError(f"{where}: invalid regular expression: {err}") from err


def _compile_many(patterns: Any, where: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(patterns, list):
        raise ConfigError(f"{where}: expected a list of regular expressions")
    return tuple(_compile(p, f"{where}[{i}]") for i, p in enumerate(patterns))


def _compile_union(patterns: Any, where: str) -> re.Pattern[str]:
    """One regex matching any of ``patterns`` (each is validated on its own first)."""
    compiled = _compile_many(patterns, where)
    if not compiled:
        return re.compile(r"(?!)")
    return re.compile("|".join(f"(?:{rx.pattern})" for rx in compiled))


def _weighted(patterns: Any, where: str) -> tuple[tuple[WordPattern, float], ...]:
    """Patterns given as strings, or as ``{pattern, weight}`` with a weight added to the measure's."""
    if not isinstance(patterns, list):
        raise ConfigError(f"{where}: expected a list of regular expressions")
    out = []
    for i, item in enumerate(patterns):
        if isinstance(item, dict):
            rx = _compile(item.get("pattern"), f"{where}[{i}].pattern")
            out.append((WordPattern(rx), float(item.get("weight", 0.0))))
        else:
            out.append((WordPattern(_compile(item, f"{where}[{i}]")), 0.0))
    return tuple(out)


@dataclass(frozen=True)
class MeasureCues:
    """The patterns of one measure and its tie-break weight."""

    measure: str
    weight: float
    gate: re.Pattern[str]
    patterns: tuple[tuple[WordPattern, float], ...]


@dataclass(frozen=True)
class CueRules:
    """All compiled cue patterns."""

    trigger: re.Pattern[str]
    measures: tuple[MeasureCues, ...]
    not_measure: re.Pattern[str]
    negation: re.Pattern[str]
    negation_window: int
    hypothetical: re.Pattern[str]
    background: re.Pattern[str]
    loosen: tuple[WordPattern, ...]
    relief_nouns: re.Pattern[str]
    unchanged: tuple[WordPattern, ...]
    all_targets: re.Pattern[str]
    target_prep_tail: re.Pattern[str]
    actor_prep_tail: re.Pattern[str]


def load_cue_rules(path: Path | None = None) -> CueRules:
    """Load and compile ``measures.yaml``; a bad pattern raises ConfigError naming file and item."""
    path = path or EXTRACT_DATA_DIR / "measures.yaml"
    data = load_yaml(path)
    where = str(path)
    raw_measures = data.get("measures")
    if not isinstance(raw_measures, dict):
        raise ConfigError(f"{where}: measures: expected a mapping")
    measures: list[MeasureCues] = []
    for name, spec in raw_measures.items():
        if name not in MEASURES or name == "none":
            raise ConfigError(f"{where}: measures: unknown measure {name!r}")
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: measures.{name}: expected a mapping")
        measures.append(
            MeasureCues(
                measure=name,
                weight=float(spec.get("weight", 0.0)),
                gate=_compile(spec.get("gate"), f"{where}: measures.{name}.gate"),
                patterns=_weighted(spec.get("patterns"), f"{where}: measures.{name}.patterns"),
            )
        )
    negation = data.get("negation") or {}
    direction = data.get("direction") or {}
    if not isinstance(negation, dict) or not isinstance(direction, dict):
        raise ConfigError(f"{where}: negation and direction must be mappings")
    hypothetical = data.get("hypothetical") or {}
    background = data.get("background") or {}
    if not isinstance(hypothetical, dict) or not isinstance(background, dict):
        raise ConfigError(f"{where}: hypothetical and background must be mappings")
    trigger = re.sub(r"\s*\|\s*", "|", str(data.get("trigger", "")).strip())
    target_preps = str(data.get("target_preps", "(?:to)"))
    actor_preps = str(data.get("actor_preps", "(?:by)"))
    return CueRules(
        trigger=_compile(trigger, f"{where}: trigger"),
        measures=tuple(measures),
        not_measure=_compile_union(data.get("not_measure") or [], f"{where}: not_measure"),
        negation=_compile(negation.get("pattern"), f"{where}: negation.pattern"),
        negation_window=int(negation.get("window", 70)),
        hypothetical=_compile(hypothetical.get("pattern"), f"{where}: hypothetical.pattern"),
        background=_compile(background.get("pattern"), f"{where}: background.pattern"),
        loosen=tuple(
            WordPattern(rx) for rx in _compile_many(direction.get("loosen"), f"{where}: direction.loosen")
        ),
        relief_nouns=_compile(direction.get("relief_nouns"), f"{where}: direction.relief_nouns"),
        unchanged=tuple(
            WordPattern(rx)
            for rx in _compile_many(direction.get("unchanged"), f"{where}: direction.unchanged")
        ),
        all_targets=_compile(data.get("all_targets"), f"{where}: all_targets"),
        target_prep_tail=_compile(
            rf"\b{target_preps}\s+(?:the\s+|its\s+|their\s+|a\s+|imports?\s+(?:of|from)\s+|exports?\s+(?:of|to)\s+)?$",
            f"{where}: target_preps",
        ),
        actor_prep_tail=_compile(rf"\b{actor_preps}\s+(?:the\s+)?$", f"{where}: actor_preps"),
    )
