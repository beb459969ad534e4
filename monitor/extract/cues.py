"""Measure, direction and modality cues, compiled from ``monitor/data/extract/measures.yaml``.

The patterns are regular expressions over the lower-cased analysed text (compiled without
IGNORECASE, which makes Python's engine several times slower). They run in C, which is much
cheaper than per-token Python, and they see phrasing that spaCy's tokenizer splits
("export-control", "anti-dumping"). Patterns that are searched together (all measure cues, the
not-a-measure phrases, the loosening and unchanged phrases) form a
:class:`~monitor.extract.anchors.PatternBank`: one scan finds the words they can start with.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.extract.anchors import PatternBank, anchor_words
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
    ``anchors`` are the words one of which starts every match (see :mod:`monitor.extract.anchors`).
    """

    __slots__ = ("anchors", "boundary", "pattern", "rx")

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.pattern = rx.pattern
        self.boundary = rx.pattern.startswith("\\b")
        self.rx = re.compile(rx.pattern[2:]) if self.boundary else rx
        self.anchors = anchor_words(self.rx.pattern) if self.boundary else None

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
        end = len(text) if endpos is None else endpos
        search = self.rx.search
        boundary = self.boundary
        while pos <= end:
            match = search(text, pos, end)
            if match is None:
                return None
            start = match.start()
            if boundary and start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
                pos = start + 1
                continue
            return match
        return None

    def spans(self, text: str, pos: int, endpos: int) -> list[tuple[int, int]]:
        """``(start, end)`` of the matches in ``text[pos:endpos]`` (as :meth:`finditer`), without a
        generator: this runs once per sentence with a cue."""
        found: list[tuple[int, int]] = []
        search = self.rx.search
        boundary = self.boundary
        while pos <= endpos:
            match = search(text, pos, endpos)
            if match is None:
                break
            start = match.start()
            if boundary and start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
                pos = start + 1
                continue
            stop = match.end()
            found.append((start, stop))
            pos = stop if stop > start else start + 1
        return found


def _top_level_alternatives(pattern: str) -> list[str]:
    """``pattern`` split at its top-level ``|`` (outside groups, classes and escapes)."""
    parts, depth, in_class, escaped, start = [], 0, False, False, 0
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


class WordAlternatives:
    """A regex searched as its top-level alternatives: those that start with ``\\b`` as
    :class:`WordPattern` (so the engine can skip to their first letters), the others as they are.
    Reports the same matches as the regex, up to overlaps between alternatives."""

    __slots__ = ("parts", "pattern")

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.pattern = rx.pattern
        self.parts = tuple(
            WordPattern(re.compile(part)) if part.startswith("\\b") else _Plain(re.compile(part))
            for part in _top_level_alternatives(rx.pattern)
        )

    def spans(self, text: str, pos: int, endpos: int) -> list[tuple[int, int]]:
        """``(start, end)`` of the matches in ``text[pos:endpos]``, in order."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0].spans(text, pos, endpos)
        found = [span for part in parts for span in part.spans(text, pos, endpos)]
        found.sort()
        return found

    def search(self, text: str, pos: int, endpos: int) -> bool:
        """True when one of the alternatives matches in ``text[pos:endpos]``."""
        parts = self.parts
        if len(parts) == 1:  # most: no generator needed
            return parts[0].search(text, pos, endpos) is not None
        return any(part.search(text, pos, endpos) is not None for part in parts)


class _Plain:
    __slots__ = ("rx",)

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx

    def finditer(self, text: str, pos: int, endpos: int) -> Iterator[re.Match[str]]:
        return self.rx.finditer(text, pos, endpos)

    def search(self, text: str, pos: int, endpos: int) -> re.Match[str] | None:
        return self.rx.search(text, pos, endpos)

    def spans(self, text: str, pos: int, endpos: int) -> list[tuple[int, int]]:
        return [m.span() for m in self.rx.finditer(text, pos, endpos)]


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


def _weighted(patterns: Any, where: str) -> tuple[tuple[WordPattern, float, re.Pattern[str] | None], ...]:
    """Patterns given as strings, or as ``{pattern, weight, context}``: ``weight`` is added to the
    measure's, and ``context`` (a regex) must occur in the cue's sentence for the cue to count."""
    if not isinstance(patterns, list):
        raise ConfigError(f"{where}: expected a list of regular expressions")
    out = []
    for i, item in enumerate(patterns):
        if isinstance(item, dict):
            rx = _compile(item.get("pattern"), f"{where}[{i}].pattern")
            context = item.get("context")
            out.append(
                (
                    WordPattern(rx),
                    float(item.get("weight", 0.0)),
                    _compile(context, f"{where}[{i}].context") if context is not None else None,
                )
            )
        else:
            out.append((WordPattern(_compile(item, f"{where}[{i}]")), 0.0, None))
    return tuple(out)


@dataclass(frozen=True)
class MeasureCues:
    """The patterns of one measure and its tie-break weight."""

    measure: str
    weight: float
    patterns: tuple[tuple[WordPattern, float, re.Pattern[str] | None], ...]  # pattern, bonus, context


@dataclass(frozen=True)
class CueRules:
    """All compiled cue patterns."""

    trigger: re.Pattern[str]
    measures: tuple[MeasureCues, ...]
    not_measure: re.Pattern[str]
    negation: re.Pattern[str]
    negation_window: int
    hypothetical: re.Pattern[str]
    hypothetical_after: re.Pattern[str]  # matched right after a cue
    background: re.Pattern[str]
    negation_words: WordAlternatives  # the same three, searched faster
    hypothetical_words: WordAlternatives
    background_words: WordAlternatives
    loosen: tuple[WordPattern, ...]
    relief_nouns: re.Pattern[str]
    #: Verbs that impose or widen a measure (direction.tighten): "imposed a tariff ... but exempted".
    tighten_verbs: re.Pattern[str]
    unchanged: tuple[WordPattern, ...]
    cue_bank: PatternBank  # every measure pattern, in order
    cue_of: tuple[tuple[MeasureCues, float, re.Pattern[str] | None], ...]  # measure, bonus, context of each
    not_measure_bank: PatternBank
    loosen_bank: PatternBank
    unchanged_bank: PatternBank
    all_targets: re.Pattern[str]
    target_prep_tail: re.Pattern[str]
    actor_prep_tail: re.Pattern[str]


def load_cue_rules(path: Path | None = None) -> CueRules:
    """Load and compile ``measures.yaml``; a bad pattern raises ConfigError naming file and item.

    The components of one pipeline share the compiled rules (and so the anchor cache): a file is
    compiled once per version (path and modification time).
    """
    path = (path or EXTRACT_DATA_DIR / "measures.yaml").resolve()
    try:
        version = path.stat().st_mtime_ns
    except OSError:
        version = -1  # load_yaml reports the missing file
    return _load_cue_rules(path, version)


@functools.lru_cache(maxsize=8)
def _load_cue_rules(path: Path, version: int) -> CueRules:
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
    loosen = tuple(
        WordPattern(rx) for rx in _compile_many(direction.get("loosen"), f"{where}: direction.loosen")
    )
    unchanged = tuple(
        WordPattern(rx) for rx in _compile_many(direction.get("unchanged"), f"{where}: direction.unchanged")
    )
    not_measure = tuple(
        WordPattern(rx) for rx in _compile_many(data.get("not_measure") or [], f"{where}: not_measure")
    )
    cue_of = tuple((m, bonus, context) for m in measures for _, bonus, context in m.patterns)
    negation_rx = _compile(negation.get("pattern"), f"{where}: negation.pattern")
    hypothetical_rx = _compile(hypothetical.get("pattern"), f"{where}: hypothetical.pattern")
    background_rx = _compile(background.get("pattern"), f"{where}: background.pattern")
    return CueRules(
        trigger=_compile(trigger, f"{where}: trigger"),
        measures=tuple(measures),
        not_measure=_compile_union(data.get("not_measure") or [], f"{where}: not_measure"),
        negation=negation_rx,
        negation_window=int(negation.get("window", 70)),
        hypothetical=hypothetical_rx,
        hypothetical_after=_compile(
            (data.get("hypothetical_after") or {}).get("pattern", "(?!)"),
            f"{where}: hypothetical_after.pattern",
        ),
        background=background_rx,
        negation_words=WordAlternatives(negation_rx),
        hypothetical_words=WordAlternatives(hypothetical_rx),
        background_words=WordAlternatives(background_rx),
        loosen=loosen,
        relief_nouns=_compile(direction.get("relief_nouns"), f"{where}: direction.relief_nouns"),
        tighten_verbs=_compile_union(direction.get("tighten") or ["(?!)"], f"{where}: direction.tighten"),
        unchanged=unchanged,
        cue_bank=PatternBank([p for m in measures for p, _, _ in m.patterns]),
        cue_of=cue_of,
        not_measure_bank=PatternBank(not_measure),
        loosen_bank=PatternBank(loosen),
        unchanged_bank=PatternBank(unchanged),
        all_targets=_compile(data.get("all_targets"), f"{where}: all_targets"),
        target_prep_tail=_compile(
            rf"\b{target_preps}\s+(?:the\s+|its\s+|their\s+|a\s+|imports?\s+(?:of|from)\s+|exports?\s+(?:of|to)\s+)?$",
            f"{where}: target_preps",
        ),
        actor_prep_tail=_compile(rf"\b{actor_preps}\s+(?:the\s+)?$", f"{where}: actor_preps"),
    )
