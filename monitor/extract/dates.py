"""Effective dates: a date that the text says a measure starts on ("effective 1 December 2025").

Only a date next to an effective-date cue counts; dates of announcements, deadlines ("until
November 2026") and history do not. A date without a year takes the year of the next full date in
the text ("between 1 August and 31 October 2026"), else of the first one, or is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

__all__ = ["FoundDate", "find_effective_date"]

_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?P<{}>january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_DATE = re.compile(
    r"(?:"
    r"(?P<iy>(?:19|20)\d\d)-(?P<im>[01]\d)-(?P<id>[0-3]\d)"
    r"|(?P<ad>[0-3]?\d)(?:st|nd|rd|th)?\s+(?:of\s+)?"
    + _MONTH.format("am")
    + r"(?:,?\s+(?P<ay>(?:19|20)\d\d))?"
    r"|" + _MONTH.format("bm") + r"\s+(?P<bd>[0-3]?\d)(?:st|nd|rd|th)?\b(?:,?\s+(?P<by>(?:19|20)\d\d))?"
    r"|" + _MONTH.format("cm") + r"\s+(?P<cy>(?:19|20)\d\d)"
    r")\b"
)
# An effective-date cue; the date must follow it directly (matched on lower-cased text).
_CUE = re.compile(
    r"\b(?:effective(?:\s+(?:from|on|as\s+of))?|take[sn]?\s+effect(?:\s+(?:on|from))?|took\s+effect(?:\s+(?:on|from))?|"
    r"taking\s+effect(?:\s+(?:on|from))?|with\s+effect\s+from|(?:enter(?:s|ed)?|come[s]?|came|coming|entering)\s+into\s+"
    r"(?:force|operation|effect)(?:\s+(?:on|from))?|in\s+force\s+(?:from|on|since)|from|between|"
    r"starting(?:\s+(?:on|from))?|start(?:s|ing)?\s+on|"
    r"beginning(?:\s+(?:on|from))?|begins?\s+on|as\s+of|will\s+apply\s+from|appl(?:y|ies)\s+(?:on|from)|"
    r"implemented\s+(?:on|from)|implementation\s+(?:on|from)|effective\s+date\s+(?:of|is)|kicks?\s+in\s+on)"
    r"\s+(?:the\s+)?(?:(?:start|beginning)\s+of\s+|1st\s+of\s+)?"
)
# The same without its leading \b, which the regex engine would try at every character. At the start
# of the text the cue is matched as it is; elsewhere after a non-word character (group 1): a pattern
# that starts with a character class lets the engine skip in C to the candidates, and a match inside
# a word ("in" in "mining", "as" in "was") is never tried.
_CUE_WORD = re.compile(_CUE.pattern[2:])
_CUE_AFTER = re.compile(r"\W(" + _CUE.pattern[2:] + ")")
# The same for an ASCII text, with ASCII classes (a table lookup per character instead of Unicode
# queries: 30% faster). On ASCII text they match the same characters, once \s also takes the four
# separators \x1c-\x1f that Unicode counts as spaces.
_CUE_AFTER_ASCII = re.compile(r"\W(" + _CUE.pattern[2:].replace(r"\s", r"[\s\x1c-\x1f]") + ")", re.ASCII)
_FULL_DATE = re.compile(r"\b(?:19|20)\d\d\b")


@dataclass(frozen=True)
class FoundDate:
    """An effective date (ISO) and where its text is."""

    iso: str
    start: int
    end: int


def _parse(match: re.Match[str]) -> tuple[int | None, int, int]:
    groups = match.groupdict()
    if groups["iy"]:
        return int(groups["iy"]), int(groups["im"]), int(groups["id"])
    if groups["am"]:
        year = groups["ay"]
        return (int(year) if year else None), _MONTHS[groups["am"].rstrip(".")], int(groups["ad"])
    if groups["bm"]:
        year = groups["by"]
        return (int(year) if year else None), _MONTHS[groups["bm"].rstrip(".")], int(groups["bd"])
    return int(groups["cy"]), _MONTHS[groups["cm"].rstrip(".")], 1


def _default_year(lower: str, after: int = 0) -> int | None:
    """The year for a date written without one: of the first full date from ``after`` on ("between
    1 August and 31 October 2026"), else of the first full date in the text."""
    for start in (after, 0):
        for match in _DATE.finditer(lower, start):
            year = _parse(match)[0]
            if year is not None:
                return year
    return None


def _cue_ends(low: str) -> Iterator[int]:
    """Where each match of ``_CUE`` in ``low`` ends, in order (as ``_CUE.finditer``).

    Every cue starts with a letter, so ``\\b`` before it means a non-word character before it (or
    the start of the text). A cue ends after a space, so the next one may start right there: the
    search resumes one character back, where the non-word character before it is.
    """
    cue = _CUE_WORD.match(low)
    if cue is not None:
        yield cue.end()
    pos = cue.end() - 1 if cue is not None else 0
    search = _CUE_AFTER_ASCII.search if low.isascii() else _CUE_AFTER.search
    while True:
        found = search(low, pos)
        if found is None:
            return
        end = found.end()
        yield end
        pos = end - 1


def find_effective_date(text: str, lower: str | None = None) -> FoundDate | None:
    """The first date introduced by an effective-date cue, as an ISO date, or None.

    ``lower`` is ``text`` lower-cased with the same offsets (computed when not given).
    """
    low = lower if lower is not None else text.lower()
    if len(low) != len(text):
        return None
    for cue_end in _cue_ends(low):
        match = _DATE.match(low, cue_end)
        if match is None:
            continue
        if match.group("bm") == "may" and not text[match.start()].isupper():
            continue  # "from may 1" is a month; "may" in running text is a verb
        year, month, day = _parse(match)
        if year is None:
            year = _default_year(low, match.end())
            if year is None:
                continue
        try:
            iso = date(year, month, day).isoformat()
        except ValueError:
            continue
        return FoundDate(iso, match.start(), match.end())
    return None
