"""Anchor words: try a cue pattern only where a word it can start with occurs.

Every cue pattern starts with a word from a short list ("ban", "prohibit", "export", ...).
:func:`anchor_words` reads that list out of the parsed regex. A :class:`PatternBank` holds several
patterns; one regex scan of the text (a trie of all their anchor words, at word starts) finds the
few positions where any of them can match, and at each position one regex tries every pattern
that starts with the word found there (each inside a lookahead, so all of them are reported).

This replaces one search per pattern and sentence: Python's regex engine scans quickly for a
single literal, but a pattern that starts with an alternation ("ban|bans|banned|prohibit...") or
a union of several patterns is tried at almost every character. The scan never loses a match:
every match of a pattern starts with one of its anchors at a word start, and the results are
those of ``finditer`` run on each pattern and sentence (no overlapping matches of one pattern).
"""

from __future__ import annotations

import re
import re._constants as _sre  # parsed-regex opcodes (Python >= 3.11)
import re._parser as _sre_parse
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["Anchored", "PatternBank", "Sentences", "anchor_words"]

_OPEN, _PREFIX, _WHOLE = 0, 1, 2  # head still growing / ended, word may go on / ended at a word end
_MAX_HEADS = 96
_Heads = list[tuple[str, int]]
_MatchAt = Callable[..., "re.Match[str] | None"]
_NON_WORD_CATEGORIES = frozenset({_sre.CATEGORY_SPACE, _sre.CATEGORY_NOT_WORD})


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _non_word_class(items: Any) -> bool:
    for op, av in items:
        if op is _sre.CATEGORY and av in _NON_WORD_CATEGORIES:
            continue
        if op is _sre.LITERAL and not _is_word_char(chr(av)):
            continue
        return False
    return True


def _op_heads(op: Any, av: Any) -> _Heads | None:
    """How one regex item can begin: (letters, state) options; None when it cannot be analysed."""
    if op is _sre.LITERAL:
        char = chr(av)
        if "a" <= char <= "z":
            return [(char, _OPEN)]
        return [("", _PREFIX if _is_word_char(char) else _WHOLE)]
    if op is _sre.AT:
        return [("", _WHOLE if av is _sre.AT_BOUNDARY else _PREFIX if av is _sre.AT_NON_BOUNDARY else _OPEN)]
    if op in (_sre.ASSERT, _sre.ASSERT_NOT):
        return [("", _OPEN)]  # consumes nothing
    if op is _sre.SUBPATTERN:
        _group, add_flags, _del_flags, items = av
        if add_flags & (_sre.SRE_FLAG_IGNORECASE | _sre.SRE_FLAG_VERBOSE):
            return None
        return _heads(items)
    if op is _sre.BRANCH:
        out: _Heads = []
        for branch in av[1]:
            heads = _heads(branch)
            if heads is None:
                return None
            out.extend(heads)
        return out
    if op is _sre.IN:
        if len(av) <= 4 and all(o is _sre.LITERAL and "a" <= chr(v) <= "z" for o, v in av):
            return [(chr(v), _OPEN) for _, v in av]
        return [("", _WHOLE if _non_word_class(av) else _PREFIX)]
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
        low, high, item = av
        heads = _heads(item)
        if heads is None:
            return None
        if high != 1:  # not unrolled: what follows the first repetition is not followed
            heads = [(head, _PREFIX if state == _OPEN else state) for head, state in heads]
        return [*heads, ("", _OPEN)] if low == 0 else heads
    return [("", _PREFIX)]


def _heads(items: Any) -> _Heads | None:
    heads: _Heads = [("", _OPEN)]
    for op, av in items:
        if all(state != _OPEN for _, state in heads):
            break
        options = _op_heads(op, av)
        if options is None:
            return None
        grown: dict[tuple[str, int], None] = {}
        for head, state in heads:
            if state != _OPEN:
                grown[(head, state)] = None
                continue
            for ext, ext_state in options:
                if not head and not ext and ext_state == _WHOLE and op is _sre.AT:
                    ext_state = _OPEN  # a leading \b: nothing to end yet
                grown[(head + ext, ext_state)] = None
        heads = list(grown)
        if len(heads) > _MAX_HEADS:
            return None
    return heads


def anchor_words(pattern: str) -> tuple[tuple[str, bool], ...] | None:
    """The words one of which starts every match of ``pattern`` (matched at a word start).

    Each is ``(letters, whole)``: with ``whole`` the word must end there ("no" in "no longer"),
    otherwise it may go on ("prohibit" for "prohibited"). None when a match may start without a
    letter literal (a character class, a flag group, a backreference).
    """
    try:
        parsed = _sre_parse.parse(pattern)
    except re.error:
        return None
    heads = _heads(list(parsed))
    if heads is None:
        return None
    words: dict[str, bool] = {}
    for head, state in heads:
        if not head:
            return None
        words[head] = words.get(head, True) and state == _WHOLE
    prefixes = sorted((w for w, whole in words.items() if not whole), key=len)
    kept = {
        w: whole
        for w, whole in words.items()
        if not any(p != w and w.startswith(p) for p in prefixes)  # "ban" covers "banned"
    }
    return tuple(sorted(kept.items()))


class Anchored(Protocol):
    """What a bank needs of a pattern: its regex without the leading ``\\b``, and its anchors."""

    @property
    def rx(self) -> re.Pattern[str]: ...

    @property
    def anchors(self) -> tuple[tuple[str, bool], ...] | None: ...


class Sentences(Protocol):
    """Sentence boundaries of a text: ``sentences[sentence_of(offset)]`` holds ``offset``."""

    @property
    def sentences(self) -> list[tuple[int, int]]: ...

    def sentence_of(self, offset: int) -> int: ...


def _trie_regex(words: dict[str, bool]) -> str:
    """A regex matching the longest of ``words`` at a position (``\\b`` after a whole word)."""
    root: dict[str, Any] = {}
    for word, whole in words.items():
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = whole if "" not in node else node[""] and whole

    def emit(node: dict[str, Any]) -> str:
        children = [re.escape(c) + emit(child) for c, child in sorted(node.items()) if c]
        if "" not in node:
            return children[0] if len(children) == 1 else "(?:" + "|".join(children) + ")"
        if node[""]:  # a whole word ends here
            return "(?:" + "|".join([*children, r"\b"]) + ")"
        if not children:
            return ""
        return "(?:" + "|".join(children) + ")?"

    return emit(root) if root else "(?!)"


class PatternBank:
    """Patterns matched together at the word starts where their anchors occur.

    :meth:`matches` returns, for a text range, ``(pattern index, start, end)`` for every match
    of every pattern, ordered by start (and by pattern index at one start), exactly what
    ``finditer`` on each pattern and sentence would find.
    """

    __slots__ = ("_always", "_dispatch", "_scan", "patterns")

    def __init__(self, patterns: Sequence[Anchored]) -> None:
        self.patterns = tuple(patterns)
        self._always = tuple(i for i, p in enumerate(self.patterns) if p.anchors is None)
        words: dict[str, bool] = {}
        for pattern in self.patterns:
            for word, whole in pattern.anchors or ():
                words[word] = words.get(word, True) and whole
        self._scan = re.compile(r"\b" + _trie_regex(words))
        self._dispatch: dict[str, tuple[_MatchAt, tuple[tuple[int, int], ...]]] = {}
        for word in words:
            members = [
                i
                for i, p in enumerate(self.patterns)
                if any(word.startswith(anchor) for anchor, _ in p.anchors or ())
            ]
            if len(members) == 1:
                self._dispatch[word] = (self.patterns[members[0]].rx.match, ((0, members[0]),))
                continue
            parts, groups, group = [], [], 1
            for i in members:
                rx = self.patterns[i].rx
                parts.append(f"(?:(?=({rx.pattern}))|)")
                groups.append((group, i))
                group += 1 + rx.groups
            self._dispatch[word] = (re.compile("".join(parts)).match, tuple(groups))

    def matches(
        self, text: str, pos: int, endpos: int, split: Sentences | None = None
    ) -> list[tuple[int, int, int]]:
        """``(pattern, start, end)`` of the matches in ``text[pos:endpos]``.

        With ``split`` (the sentences of ``text``, split only when an anchor is found), no match
        runs past the end of its sentence.
        """
        found: list[tuple[int, int, int]] = []
        last: dict[int, int] = {}
        dispatch = self._dispatch
        starts: list[int] | None = None  # sentence starts, read at the first hit
        ends: list[int] = []
        for hit in self._scan.finditer(text, pos, endpos):
            start = hit.start()
            if split is None:
                end = endpos
            else:
                if starts is None:
                    sentences = split.sentences
                    starts = [s0 for s0, _ in sentences]
                    ends = [s1 for _, s1 in sentences]
                end = ends[max(0, bisect_right(starts, start) - 1)]  # as split.sentence_of(start)
            match_at, members = dispatch[hit[0]]
            match = match_at(text, start, end)
            if match is None:
                continue  # no pattern matches here
            if len(members) == 1:  # one pattern starts with this word: its match is group 0
                index = members[0][1]
                if start >= last.get(index, -1):
                    stop = match.end()
                    found.append((index, start, stop))
                    last[index] = stop if stop > start else start + 1
                continue
            if match.lastindex is None:
                continue  # no pattern matches here
            for group, index in members:
                stop = match.end(group)
                if stop < 0 or start < last.get(index, -1):
                    continue
                found.append((index, start, stop))
                last[index] = stop if stop > start else start + 1
        if self._always:
            found.extend(self._unanchored(text, pos, endpos, split))
            found.sort(key=lambda m: (m[1], m[0]))
        return found

    def _unanchored(
        self, text: str, pos: int, endpos: int, split: Sentences | None
    ) -> list[tuple[int, int, int]]:
        ranges = [(pos, endpos)]
        if split is not None:
            ranges = [
                (max(pos, s0), min(endpos, s1)) for s0, s1 in split.sentences if s1 > pos and s0 < endpos
            ]
        found = []
        for index in self._always:
            search = self.patterns[index].rx.search
            for r0, r1 in ranges:
                at = r0
                while at <= r1:
                    match = search(text, at, r1)
                    if match is None:
                        break
                    start = match.start()
                    if start > 0 and _is_word_char(text[start - 1]):
                        at = start + 1
                        continue
                    found.append((index, start, match.end()))
                    at = match.end() if match.end() > start else start + 1
        return found
