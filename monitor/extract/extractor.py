"""The extractor: text in, :class:`monitor.records.Extraction` out. Pure: no broker, no HTTP.

Build one :class:`Extractor` at start-up (it loads spaCy and the gazetteers, about a second) and
call :meth:`Extractor.extract` or :meth:`Extractor.pipe` per document. Bad input (empty, binary,
non-English, invalid Unicode) gives an empty extraction, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from monitor.errors import ConfigError
from monitor.extract import components as _components  # noqa: F401  (registers the factories)
from monitor.extract.analysis import USER_DATA_KEY, Analysis, analysis_of
from monitor.extract.text import analysed_text, clean, is_junk, is_non_english, truncate
from monitor.records import Extraction, Span

__all__ = ["PIPELINE", "Extractor", "analysed_text", "build_pipeline"]

PIPELINE = (
    "monitor_gazetteer_v1",
    "monitor_sentences_v1",
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
        """Extract tags from ``(title, text)`` pairs, yielding results in the same order."""
        iterator = iter(items)
        while True:
            batch = list(islice(iterator, max(1, batch_size)))
            if not batch:
                return
            prepared = [self._prepare(title, text) for title, text in batch]
            docs = [p for p in prepared if isinstance(p, Doc)]
            processed = iter(self.nlp.pipe(docs, batch_size=max(1, batch_size))) if docs else iter(())
            for item in prepared:
                if isinstance(item, Doc):
                    yield self._result(next(processed))
                else:
                    yield item

    def _prepare(self, title: object, text: object) -> Doc | Extraction:
        title_str = _as_text(title)
        text_str = _as_text(text)
        if title_str is None or text_str is None:
            return _empty()
        text_str, truncated = truncate(text_str, self.max_chars)
        title_str, title_cut = truncate(title_str, self.max_chars)
        if title_cut:
            text_str, truncated = "", True
        full = clean(analysed_text(title_str, text_str))
        if not full.strip() or is_junk(full) or is_non_english(full):
            return _empty(truncated)
        doc = self.nlp.make_doc(full)
        doc.user_data[USER_DATA_KEY] = Analysis(text=full, title_end=len(title_str) if title_str else 0)
        doc.user_data["monitor.truncated"] = truncated
        return doc

    @staticmethod
    def _result(doc: Doc) -> Extraction:
        analysis = analysis_of(doc)
        text = analysis.text if analysis.text is not None else doc.text
        spans: list[Span] = []
        minerals: list[str] = []
        countries: list[str] = []
        for mention in analysis.mentions:
            spans.append(
                Span(
                    start=mention.start,
                    end=mention.end,
                    text=mention.text,
                    label=mention.label,
                    value=mention.value,
                )
            )
            bucket = minerals if mention.label == "mineral" else countries
            if mention.value not in bucket:
                bucket.append(mention.value)

        def add(label: str, value: str, where: tuple[int, int] | None) -> None:
            if where is not None:
                spans.append(
                    Span(
                        start=where[0], end=where[1], text=text[where[0] : where[1]], label=label, value=value
                    )
                )

        imposing = analysis.imposing.value if analysis.imposing else None
        target = analysis.target
        if analysis.cue is not None and analysis.measure != "none":
            add("measure", analysis.measure, (analysis.cue.start, analysis.cue.end))
        if analysis.direction:
            add("direction", analysis.direction, analysis.direction_span)
        if analysis.imposing is not None:
            add("imposing_country", analysis.imposing.value, (analysis.imposing.start, analysis.imposing.end))
        if target:
            add("target_country", target, analysis.target_span)
        if analysis.effective_date:
            add("date", analysis.effective_date, analysis.date_span)
        for code in (imposing, target):
            if code and code != "ALL" and code not in countries:
                countries.append(code)
        return Extraction(
            minerals=minerals,
            countries=countries,
            imposing_country=imposing,
            target_country=target,
            measure=analysis.measure,
            direction=analysis.direction,
            effective_date=analysis.effective_date,
            spans=spans,
            truncated=bool(doc.user_data.get("monitor.truncated", False)),
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
