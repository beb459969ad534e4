"""Input hygiene and sentence boundaries: cheap checks that run before spaCy.

Everything here keeps character offsets: a replaced character is replaced by exactly one
character, so spans still index :func:`monitor.extract.analysed_text`.
"""

from __future__ import annotations

import re
from itertools import repeat

__all__ = ["analysed_text", "clean", "is_junk", "is_non_english", "screen", "sentence_bounds", "truncate"]

_SURROGATES = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\ud800-\udfff]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


_ASCII_NON_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())
_ENGLISH = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "for",
        "on",
        "with",
        "that",
        "by",
        "as",
        "from",
        "at",
        "its",
        "it",
        "was",
        "will",
        "has",
        "have",
        "are",
        "be",
        "said",
        "an",
        "this",
        "which",
        "or",
        "were",
        "been",
        "their",
        "after",
        "over",
        "also",
        "would",
        "new",
        "but",
        "not",
    ]
)
_FOREIGN = _words(
    "le la les des du et est une dans pour sur avec qui el los las del y que por para con una der die das "
    "und ist nicht von mit den dem für auf zu sich een het van niet och är il di che della per non"
)
_PUNCT = ".,;:!?\"'()[]{}\u201c\u201d\u2018\u2019"
_ABBREVIATIONS = frozenset(
    [
        "u.s",
        "u.k",
        "e.u",
        "no",
        "nos",
        "dec",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "inc",
        "corp",
        "co",
        "ltd",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "approx",
        "gov",
        "sen",
        "rep",
        "p.m",
        "a.m",
        "d.r",
        "u.a.e",
        "u.s.a",
        "jr",
        "sr",
        "art",
        "para",
        "sec",
        "fig",
    ]
)
_MAX_ABBREVIATION = max(map(len, _ABBREVIATIONS))
_CONTROL_CODES = frozenset([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if b not in _CONTROL_CODES)
_PUNCT_BYTES = _PUNCT.encode("ascii", errors="ignore")
# English words count 1, foreign ones _FOREIGN_WEIGHT: one sum gives both counts.
_FOREIGN_WEIGHT = 1 << 20
_LANGUAGE_WEIGHT = {
    **{w.encode("utf-8"): _FOREIGN_WEIGHT for w in _FOREIGN},
    **{w.encode("ascii"): 1 for w in _ENGLISH},
}
# A sentence end is "[.!?], closing quotes or brackets, spaces, then a capital or digit" or "a line break
# and the spaces after it". Written with the end character first, then one branch per kind (each checks
# which one it was): the same matches as the plain alternation, but a pattern that starts with a
# character class lets the regex engine skip in C to the few candidates instead of trying every position.
_SENTENCE_END = re.compile(
    "[.!?\\n](?:(?<=[.!?])[\"'\u201d\u2019)\\]]*\\s+(?=[\"'\u201c\u2018(\\[]?[A-Z0-9])|(?<=\\n)\\s*)"
)


def analysed_text(title: str, text: str) -> str:
    """The string the extractor analyses: ``title + "\\n\\n" + text``, or ``text`` without a title.

    Every :class:`monitor.records.Span` offset refers to this string.
    """
    return f"{title}\n\n{text}" if title else text


def clean(value: str) -> str:
    """Replace lone surrogates by U+FFFD and control characters by spaces (same length)."""
    if not value.isascii() and _SURROGATES.search(value):
        value = _SURROGATES.sub("\ufffd", value)
    if _CONTROL.search(value):
        value = _CONTROL.sub(" ", value)
    return value


def is_junk(value: str, sample: int = 4000) -> bool:
    """True when the text is mostly binary junk: control, replacement or surrogate characters."""
    head = value[:sample]
    if not head.strip():
        return True
    compact = head.replace(" ", "")
    if head.isascii() and _CONTROL.search(head) is None:
        letters = len(compact.encode("ascii").translate(None, _ASCII_NON_LETTERS))
        return letters < 0.3 * len(compact)
    bad = len(_BAD.findall(head))
    letters = len(_LETTER.findall(head))
    return bad > 0.1 * len(head) or letters < 0.3 * len(compact)


def is_non_english(value: str, sample: int = 4000, lower: str | None = None) -> bool:
    """True when the text is not English: mostly non-Latin letters, or no English function words.

    ``lower`` is ``value`` lower-cased, when the caller has it already.
    """
    head = value[:sample]
    if not head.isascii():
        letters = len(_LETTER.findall(head))
        if letters == 0 or len(_ASCII_LETTER.findall(head)) < 0.6 * letters:
            return True
    raw = (head.lower() if lower is None else lower[:sample]).split()
    if len(raw) < 12:
        return False
    words = list(map(str.strip, raw, repeat(_PUNCT, len(raw))))  # counted in C: no Python loop
    english = sum(map(_ENGLISH.__contains__, words))
    foreign = sum(map(_FOREIGN.__contains__, words))
    return english < 0.05 * len(words) or foreign > english


def screen(value: str, sample: int = 4000) -> str | None:
    """The text to analyse, or None when it is empty, junk or not English.

    Lone surrogates and control characters are replaced (same length). The same checks as
    :func:`clean`, :func:`is_junk` and :func:`is_non_english`, with a fast path for plain ASCII
    text (most of the stream) that works on bytes: one encode, a few C-level translates.
    """
    if not value.isascii():
        value = clean(value)
        if not value.strip() or is_junk(value, sample) or is_non_english(value, sample):
            return None
        return value
    raw = value.encode("ascii")
    if raw.translate(None, _NOT_CONTROL_BYTES):  # keeps only the control characters
        value = _CONTROL.sub(" ", value)
        raw = value.encode("ascii")
    head = raw[:sample]
    if not head.strip():
        return None
    compact = len(head) - head.count(b" ")
    if len(head.translate(None, _ASCII_NON_LETTERS)) < 0.3 * compact:
        return None
    words = head.lower().translate(None, _PUNCT_BYTES).split()
    if len(words) >= 12:
        both = sum(map(_LANGUAGE_WEIGHT.get, words, repeat(0, len(words))))  # one pass, in C
        english, foreign = both % _FOREIGN_WEIGHT, both // _FOREIGN_WEIGHT
        if english < 0.05 * len(words) or foreign > english:
            return None
    return value


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """The head of ``text`` (at most ``limit`` characters, cut at a space when one is near)."""
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    space = head.rfind(" ", max(0, limit - 200))
    return (head[:space] if space > 0 else head), True


def sentence_bounds(text: str, pos: int = 0) -> list[tuple[int, int]]:
    """Sentence (start, end) character offsets: split at . ! ? before a capital, and at line breaks.

    Abbreviations ("U.S.", "Dec.", "No.") do not end a sentence. With ``pos``, the sentences of
    ``text[pos:]``, in offsets of ``text`` (no copy of the text). A sentence ends at the end of the
    text or before a space, line break, quote or bracket (see :class:`~monitor.extract.anchors.Sentences`).
    """
    bounds: list[tuple[int, int]] = []
    start = pos
    rfind = text.rfind
    for match in _SENTENCE_END.finditer(text, pos):
        at = match.start()
        char = text[at]
        end = at + 1
        if char == ".":
            space = rfind(" ", start, at)
            word_start = space + 1 if space >= 0 else pos
            # A longer word is no abbreviation, unless quotes or brackets before it are stripped
            # (lower-casing never shortens a word).
            if at - word_start <= _MAX_ABBREVIATION or text[word_start] in "(\"'":
                word = text[word_start:at].lower().lstrip("(\"'")
                if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                    continue
        elif char == "\n":
            end = at
        if end > start and not text[start:end].isspace():
            bounds.append((start, end))
        start = match.end()
    if start < len(text) and text[start:].strip():
        bounds.append((start, len(text)))
    return bounds or [(pos, len(text))]
