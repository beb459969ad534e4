"""The working record the pipeline components fill in, kept in ``doc.user_data``.

Each component reads what the previous ones left and adds its part; the extractor turns the
finished :class:`Analysis` into a :class:`monitor.records.Extraction`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from spacy.tokens import Doc

__all__ = ["USER_DATA_KEY", "Analysis", "Cue", "Mention", "analysis_of"]

USER_DATA_KEY = "monitor.analysis"


@dataclass(frozen=True)
class Mention:
    """A mineral or country found in the text (character offsets, token offsets, canonical value)."""

    start: int
    end: int
    text: str
    label: str  # "mineral" or "country"
    value: str
    kind: str  # for countries: name, demonym, capital, agency
    tok_start: int
    tok_end: int


@dataclass(frozen=True)
class Cue:
    """A phrase that signals a measure, with the sentence it is in and its score."""

    measure: str
    start: int
    end: int
    sentence: int
    score: float


@dataclass
class Analysis:
    """What the components found so far in one document."""

    text: str | None = None
    lower: str | None = None
    sentences: list[tuple[int, int]] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    title_end: int = 0
    measure: str = "none"
    cue: Cue | None = None
    direction: str | None = None
    direction_span: tuple[int, int] | None = None
    imposing: Mention | None = None
    target: str | None = None
    target_span: tuple[int, int] | None = None
    effective_date: str | None = None
    date_span: tuple[int, int] | None = None
    _sentence_starts: list[int] = field(default_factory=list)

    def set_sentences(self, sentences: list[tuple[int, int]]) -> None:
        """Record sentence boundaries (character offsets, in order)."""
        self.sentences = sentences
        self._sentence_starts = [start for start, _ in sentences]

    def sentence_of(self, offset: int) -> int:
        """Index of the sentence holding character ``offset``."""
        return max(0, bisect.bisect_right(self._sentence_starts, offset) - 1)

    def mentions_in(self, start: int, end: int, label: str) -> list[Mention]:
        """Mentions of ``label`` that lie within ``[start, end)``."""
        return [m for m in self.mentions if m.label == label and m.start >= start and m.end <= end]


def analysis_of(doc: Doc) -> Analysis:
    """The analysis attached to ``doc``, created empty on first use."""
    found = doc.user_data.get(USER_DATA_KEY)
    if isinstance(found, Analysis):
        return found
    created = Analysis()
    doc.user_data[USER_DATA_KEY] = created
    return created
