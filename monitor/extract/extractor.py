"""The extractor: text in, :class:`monitor.records.Extraction` out. Pure: no broker, no HTTP.

Build one :class:`Extractor` at start-up (it loads spaCy and the gazetteers, about a second) and
call :meth:`Extractor.extract` or :meth:`Extractor.pipe` per document. Bad input (empty, binary,
non-English, invalid Unicode) gives an empty extraction, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from monitor.errors import ConfigError
from monitor.extract import components as _components  # noqa: F401  (registers the factories)
from monitor.extract.analysis import USER_DATA_KEY, Analysis, analysis_of
from monitor.extract.cues import lower_same_length
from monitor.extract.result import new_extraction as _new_extraction
from monitor.extract.result import new_span as _new_span
from monitor.extract.text import analysed_text, screen, truncate
from monitor.records import Extraction, Span

__all__ = ["PIPELINE", "Extractor", "analysed_text", "build_pipeline"]

PIPELINE = (
    "monitor_gazetteer_v1",
    "monitor_measure_v1",
    "monitor_direction_v1",
    "monitor_roles_v1",
    "monitor_date_v1",
)


def _split_us_hyphen(nlp: Language) -> None:
    """Split "U.S.-China" into "U.S.", "-", "China" so both countries are seen."""
    infixes = [*list(nlp.Defaults.infixes or []), r"(?<=[A-Z]\.)-(?=[A-Z])"]
    tokenizer: Any = nlp.tokenizer
    tokenizer.infix_finditer = spacy.util.compile_infix_regex(infixes).finditer


def build_pipeline(spacy_model: str | None = None) -> Language:
    """Build the spaCy pipeline: blank English (or ``spacy_model``, if installed) + our components."""
    if spacy_model:
        try:
            nlp = spacy.load(spacy_model, exclude=["ner", "lemmatizer", "textcat", "entity_ruler"])
        except OSError as err:
            raise ConfigError(f"extract: spaCy model {spacy_model!r} is not installed: {err}") from err
        for name in list(nlp.pipe_names):
            nlp.disable_pipe(name)
    else:
        nlp = spacy.blank("en")
    _split_us_hyphen(nlp)
    for name in PIPELINE:
        nlp.add_pipe(name)
    return nlp


def _empty(truncated: bool = False) -> Extraction:
    return Extraction(truncated=truncated)


def _span_at(text: str, label: str, value: str, where: tuple[int, int] | None) -> Span | None:
    if where is None:
        return None
    return _new_span(where[0], where[1], text[where[0] : where[1]], label, value)


class Extractor:
    """Turn a notice or news item into tags (minerals, countries, measure, direction, roles, date)."""

    def __init__(self, max_chars: int = 100_000, spacy_model: str | None = None) -> None:
        if max_chars <= 0:
            raise ConfigError(f"extract: max_chars must be positive, got {max_chars}")
        self.max_chars = max_chars
        self.nlp = build_pipeline(spacy_model)

    def extract(self, text: str, title: str = "") -> Extraction:
        """Extract tags from one document; offsets refer to ``analysed_text(title, text)``."""
        return next(self.pipe([(title, text)]))

    def pipe(self, items: Iterable[tuple[str, str]], batch_size: int = 256) -> Iterator[Extraction]:
        """Extract tags from ``(title, text)`` pairs, yielding results in the same order.

        Each document goes through the whole pipeline before the next one is read: the
        components keep no state between documents and gain nothing from batches, and one
        document at a time keeps memory flat. ``batch_size`` is accepted for compatibility.
        """
        components = [component for _, component in self.nlp.pipeline]
        prepare = self._prepare
        result = self._result
        for title, text in items:
            prepared = prepare(title, text)
            if isinstance(prepared, Doc):
                for component in components:
                    prepared = component(prepared)
                yield result(prepared)
            else:
                yield prepared

    def _prepare(self, title: object, text: object) -> Doc | Extraction:
        title_str = _as_text(title)
        text_str = _as_text(text)
        if title_str is None or text_str is None:
            return _empty()
        text_str, truncated = truncate(text_str, self.max_chars)
        title_str, title_cut = truncate(title_str, self.max_chars)
        if title_cut:
            text_str, truncated = "", True
        full = screen(analysed_text(title_str, text_str))
        if full is None:
            return _empty(truncated)
        lower = lower_same_length(full)
        doc = self.nlp.make_doc(full)
        doc.user_data[USER_DATA_KEY] = Analysis(full, len(title_str) if title_str else 0, truncated, lower)
        return doc

    @staticmethod
    def _result(doc: Doc) -> Extraction:
        analysis = analysis_of(doc)
        text = analysis.text if analysis.text is not None else doc.text
        spans: list[Span | None] = []
        minerals: list[str] = []
        countries: list[str] = []
        for mention in analysis.mentions:
            value = mention.value
            spans.append(_new_span(mention.start, mention.end, mention.text, mention.label, value))
            bucket = minerals if mention.label == "mineral" else countries
            if value not in bucket:
                bucket.append(value)
        measure = analysis.measure
        imposing = analysis.imposing
        target = analysis.target
        if analysis.cue is not None and measure != "none":
            spans.append(_span_at(text, "measure", measure, (analysis.cue.start, analysis.cue.end)))
        if analysis.direction:
            spans.append(_span_at(text, "direction", analysis.direction, analysis.direction_span))
        if imposing is not None:
            spans.append(_span_at(text, "imposing_country", imposing.value, (imposing.start, imposing.end)))
        if target:
            spans.append(_span_at(text, "target_country", target, analysis.target_span))
        if analysis.effective_date:
            spans.append(_span_at(text, "date", analysis.effective_date, analysis.date_span))
        kept = [span for span in spans if span is not None]
        imposing_value = imposing.value if imposing is not None else None
        for code in (imposing_value, target):
            if code and code != "ALL" and code not in countries:
                countries.append(code)
        return _new_extraction(
            minerals,
            countries,
            imposing_value,
            target,
            measure,
            analysis.direction,
            analysis.effective_date,
            kept,
            analysis.truncated,
        )


def _as_text(value: object) -> str | None:
    """Coerce an input field to ``str``: bytes are decoded (invalid UTF-8 replaced), None is empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return None
