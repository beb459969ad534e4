"""The extractor: text in, :class:`monitor.records.Extraction` out. Pure: no broker, no HTTP.

Build one :class:`Extractor` at start-up (it loads spaCy and the gazetteers, about a second) and
call :meth:`Extractor.extract` or :meth:`Extractor.pipe` per document. Bad input (empty, binary,
non-English, invalid Unicode) gives an empty extraction, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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
    """Split "U.S.-China" into "U.S.", "-", "China" so both countries are seen, and a suspended
    hyphen from its word ("gallium-, germanium- and antimony-related items") so the word is seen."""
    infixes = [*list(nlp.Defaults.infixes or []), r"(?<=[A-Z]\.)-(?=[A-Z])"]
    tokenizer: Any = nlp.tokenizer
    tokenizer.infix_finditer = spacy.util.compile_infix_regex(infixes).finditer
    suffixes = [*list(nlp.Defaults.suffixes or []), r"(?<=[A-Za-z])-"]
    tokenizer.suffix_search = spacy.util.compile_suffix_regex(suffixes).search


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


def _add_span(spans: list[Span], text: str, label: str, value: str, where: tuple[int, int] | None) -> None:
    if where is not None:
        spans.append(_new_span(where[0], where[1], text[where[0] : where[1]], label, value))


class Extractor:
    """Turn a notice or news item into tags (minerals, countries, measure, direction, roles, date)."""

    def __init__(self, max_chars: int = 100_000, spacy_model: str | None = None) -> None:
        if max_chars <= 0:
            raise ConfigError(f"extract: max_chars must be positive, got {max_chars}")
        self.max_chars = max_chars
        self.nlp = build_pipeline(spacy_model)
        self._tokenizer: Callable[[str], Doc] = self.nlp.tokenizer
        # Our components expose ``process(doc, analysis)``: called directly, the analysis is not
        # looked up in ``doc.user_data`` once per component. The pipeline is read here, once.
        processes = [getattr(component, "process", None) for _, component in self.nlp.pipeline]
        self._steps: tuple[Callable[[Doc, Analysis], None], ...] | None = (
            tuple(p for p in processes if p is not None) if all(processes) else None
        )

    def extract(self, text: str, title: str = "") -> Extraction:
        """Extract tags from one document; offsets refer to ``analysed_text(title, text)``."""
        return self._one(title, text)

    def pipe(self, items: Iterable[tuple[str, str]], batch_size: int = 256) -> Iterator[Extraction]:
        """Extract tags from ``(title, text)`` pairs, yielding results in the same order.

        Each document goes through the whole pipeline before the next one is read: the
        components keep no state between documents and gain nothing from batches, and one
        document at a time keeps memory flat. ``batch_size`` is accepted for compatibility.
        """
        one = self._one
        for title, text in items:
            yield one(title, text)

    def _one(self, title: object, text: object) -> Extraction:
        prepared = self._prepare(title, text)
        if isinstance(prepared, Extraction):
            return prepared  # nothing to analyse
        doc, analysis = prepared
        steps = self._steps
        if steps is not None:
            for step in steps:
                step(doc, analysis)
        else:  # a pipeline with components of other kinds: the spaCy protocol, doc in, doc out
            for _, component in self.nlp.pipeline:
                doc = component(doc)
            analysis = analysis_of(doc)
        return self._result(analysis)

    def _prepare(self, title: object, text: object) -> tuple[Doc, Analysis] | Extraction:
        max_chars = self.max_chars
        if type(title) is str and type(text) is str and len(text) <= max_chars and len(title) <= max_chars:
            title_str, text_str, truncated = title, text, False  # the usual case: nothing to coerce or cut
        else:
            title_value = _as_text(title)
            text_value = _as_text(text)
            if title_value is None or text_value is None:
                return _empty()
            text_str, truncated = truncate(text_value, max_chars)
            title_str, title_cut = truncate(title_value, max_chars)
            if title_cut:
                text_str, truncated = "", True
        full = screen(analysed_text(title_str, text_str))
        if full is None:
            return _empty(truncated)
        analysis = Analysis(full, len(title_str) if title_str else 0, truncated, lower_same_length(full))
        # The tokenizer itself: ``nlp.make_doc`` only adds a length check (kept for long texts).
        doc = self._tokenizer(full) if len(full) <= self.nlp.max_length else self.nlp.make_doc(full)
        doc.user_data[USER_DATA_KEY] = analysis
        return doc, analysis

    @staticmethod
    def _result(analysis: Analysis) -> Extraction:
        new_span = _new_span
        minerals: list[str] = []
        countries: list[str] = []
        spans: list[Span] = []
        add = spans.append
        # One pass, the mentions unpacked (cheaper than reading five fields by name).
        for start, end, mention_text, label, value, _kind, _tok_start, _tok_end in analysis.mentions:
            add(new_span(start, end, mention_text, label, value))
            bucket = minerals if label == "mineral" else countries
            if value not in bucket:
                bucket.append(value)
        measure = analysis.measure
        cue = analysis.cue
        if cue is None:  # no measure: nothing more to report (the common case)
            return _new_extraction(
                minerals, countries, None, None, measure, None, None, spans, analysis.truncated
            )
        text = analysis.text or ""
        imposing = analysis.imposing
        target = analysis.target
        if measure != "none":
            spans.append(new_span(cue.start, cue.end, text[cue.start : cue.end], "measure", measure))
        if analysis.direction:
            _add_span(spans, text, "direction", analysis.direction, analysis.direction_span)
        if imposing is not None:
            _add_span(spans, text, "imposing_country", imposing.value, (imposing.start, imposing.end))
        if target:
            _add_span(spans, text, "target_country", target, analysis.target_span)
        if analysis.effective_date:
            _add_span(spans, text, "date", analysis.effective_date, analysis.date_span)
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
            spans,
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
