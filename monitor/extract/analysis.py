"""The working record the pipeline components fill in, kept in ``doc.user_data``.

Each component reads what the previous ones left and adds its part; the extractor turns the
finished :class:`Analysis` into a :class:`monitor.records.Extraction`. Built once per document,
so it is a plain slotted class, and the mentions and cues are named tuples (a frozen dataclass
costs several times more to create).
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from spacy.tokens import Doc

from monitor.extract.cues import lower_same_length
from monitor.extract.text import sentence_bounds

__all__ = ["USER_DATA_KEY", "Analysis", "Cue", "Mention", "analysis_of", "sentences_of"]

USER_DATA_KEY = "monitor.analysis"


class Mention(NamedTuple):
    """A mineral or country found in the text (character offsets, token offsets, canonical value)."""

    start: int
    end: int
    text: str
    label: str  # "mineral" or "country"
    value: str
    kind: str  # for countries: name, demonym, capital, agency
    tok_start: int
    tok_end: int


class Cue(NamedTuple):
    """A phrase that signals a measure, with the sentence it is in and its score."""

    measure: str
    start: int
    end: int
    sentence: int
    score: float


def sentences_of(text: str, title_end: int) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets of an analysed text; the title (if any) is sentence 0."""
    if not title_end:
        return sentence_bounds(text)
    body_start = title_end + 2
    body = sentence_bounds(text, body_start)
    return [(0, title_end), *body] if text[:title_end].strip() else body


class Analysis:
    """What the components found so far in one document.

    ``lower`` (the lower-cased text, same offsets) and ``sentences`` are computed on first use:
    a document in which no measure can be read never needs its sentences.
    """

    __slots__ = (
        "_lower",
        "_sentence_starts",
        "_sentences",
        "blocked",
        "cue",
        "cue_sentences",
        "date_span",
        "direction",
        "direction_span",
        "effective_date",
        "imposing",
        "measure",
        "mentions",
        "target",
        "target_span",
        "text",
        "title_end",
        "truncated",
    )

    def __init__(
        self, text: str | None = None, title_end: int = 0, truncated: bool = False, lower: str | None = None
    ) -> None:
        self.text = text
        self.title_end = title_end
        self.truncated = truncated
        self.mentions: list[Mention] = []
        self.measure = "none"
        self.cue: Cue | None = None
        #: Other sentences that cue the chosen measure, not background (the operative article of a notice).
        self.cue_sentences: list[int] = []
        #: Not-a-measure spans by sentence, for the sentences the measure component scanned.
        self.blocked: dict[int, list[tuple[int, int]]] = {}
        self.direction: str | None = None
        self.direction_span: tuple[int, int] | None = None
        self.imposing: Mention | None = None
        self.target: str | None = None
        self.target_span: tuple[int, int] | None = None
        self.effective_date: str | None = None
        self.date_span: tuple[int, int] | None = None
        self._lower = lower
        self._sentences: list[tuple[int, int]] | None = None
        self._sentence_starts: list[int] = []

    @property
    def lower(self) -> str:
        """The lower-cased text, every character at its offset."""
        if self._lower is None:
            self._lower = lower_same_length(self.text or "")
        return self._lower

    @property
    def sentences(self) -> list[tuple[int, int]]:
        """Sentence boundaries (character offsets, in order), split on first use."""
        if self._sentences is None:
            self.set_sentences(sentences_of(self.text or "", self.title_end))
        return self._sentences or []

    def set_sentences(self, sentences: list[tuple[int, int]]) -> None:
        """Record sentence boundaries (character offsets, in order)."""
        self._sentences = sentences
        self._sentence_starts = [start for start, _ in sentences]

    def sentence_of(self, offset: int) -> int:
        """Index of the sentence holding character ``offset``."""
        if self._sentences is None:
            self.sentences  # noqa: B018  (splits on first use)
        return max(0, bisect.bisect_right(self._sentence_starts, offset) - 1)

    def mentions_in(self, start: int, end: int, label: str) -> list[Mention]:
        """Mentions of ``label`` that lie within ``[start, end)``."""
        return [m for m in self.mentions if m.label == label and m.start >= start and m.end <= end]


def analysis_of(doc: Doc) -> Analysis:
    """The analysis attached to ``doc``, created empty on first use."""
    found = doc.user_data.get(USER_DATA_KEY)
    if isinstance(found, Analysis):
        return found
    created = Analysis(text=doc.text)
    doc.user_data[USER_DATA_KEY] = created
    return created
