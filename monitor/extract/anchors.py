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

Two cheaper equivalents of the obvious scan:

- The scan regex is ``\\W(trie)``, not ``\\b(trie)``: a pattern that starts with a character class
  lets the engine skip ahead in C to the next non-word character, where ``\\b`` is tried at every
  position (about 20% faster). A word at the very start of the range is matched on its own.
- Most anchor hits match no pattern, and most texts with hits have no match at all, so the
  sentences are split only for the first hit that matches in the whole text (see
  :func:`end_monotone`): when a pattern does not match up to the end of the text, it cannot
  match up to the end of the sentence either.
"""

from __future__ import annotations

import re
import re._constants as _sre  # parsed-regex opcodes (Python >= 3.11)
import re._parser as _sre_parse
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any, Protocol

__all__ = ["Anchored", "PatternBank", "Sentences", "anchor_words"]

_OPEN, _PREFIX, _WHOLE = 0, 1, 2  # head still growing / ended, word may go on / ended at a word end
_MAX_HEADS = 96
_MAX_REQUIRED = 16  # required strings checked before a pattern is tried
_MAX_SUBSETS = 256  # dispatch regexes compiled for the patterns a text can match
_Heads = list[tuple[str, int]]
_MatchAt = Callable[..., "re.Match[str] | None"]
# How a hit on an anchor word is matched: the regex, the (group, pattern index) of each pattern,
# and whether a miss up to the end of the text means a miss in the sentence (see matches()).
_Entry = tuple[_MatchAt, tuple[tuple[int, int], ...], bool]
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
    """Sentence boundaries of a text: ``sentences[sentence_of(offset)]`` holds ``offset``.

    Every sentence ends at the end of the text or before a non-word character (a space, a line
    break, a quote or bracket): :meth:`PatternBank.matches` relies on it to split only when needed.
    """

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


# Word-boundary assertions look at the character at ``endpos`` only to see whether it is a word
# character; at a sentence end (see :class:`Sentences`) it is not, with or without the text after.
_BOUNDARY_AT_CODES = frozenset(
    {
        _sre.AT_BOUNDARY,
        _sre.AT_NON_BOUNDARY,
        _sre.AT_UNI_BOUNDARY,
        _sre.AT_UNI_NON_BOUNDARY,
        _sre.AT_BEGINNING,
        _sre.AT_BEGINNING_LINE,
        _sre.AT_BEGINNING_STRING,
    }
)
_CHAR_OPS = frozenset({_sre.LITERAL, _sre.NOT_LITERAL, _sre.IN, _sre.ANY, _sre.GROUPREF})


def _monotone(items: Any, negated: bool = False) -> bool:
    """True when every way ``items`` can match with ``endpos`` at a sentence end is also a way it
    matches with a later ``endpos``. ``negated``: inside a negative lookbehind, where the test must
    give the same answer either way (so no lookahead)."""
    for op, av in items:
        if op in _CHAR_OPS:
            continue  # a character past endpos fails; the others read the same
        if op is _sre.AT:
            if av in _BOUNDARY_AT_CODES:
                continue
            return False  # $ or \Z: true at a sentence end, maybe not with the text after it
        if op is _sre.SUBPATTERN:
            if not _monotone(av[3], negated):
                return False
        elif op is _sre.BRANCH:
            if not all(_monotone(branch, negated) for branch in av[1]):
                return False
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            if not _monotone(av[2], negated):
                return False
        elif op is _sre.ASSERT:
            direction, inner = av
            if (direction > 0 and negated) or not _monotone(inner, negated):
                return False
        elif op is _sre.ASSERT_NOT:
            direction, inner = av
            if direction > 0 or not _monotone(inner, True):  # a negative lookahead may flip
                return False
        elif op is _sre.GROUPREF_EXISTS:
            _group, yes, no = av
            if not _monotone(yes, negated) or (no is not None and not _monotone(no, negated)):
                return False
        else:  # atomic groups and possessive repeats commit to a first match; anything unknown
            return False
    return True


def end_monotone(pattern: str) -> bool:
    """True when a match of ``pattern`` that ends by a sentence end (``endpos`` there) implies a
    match with ``endpos`` at the end of the text: no end anchor (``$``, ``\\Z``), no negative
    lookahead, no atomic group or possessive repeat. Then a pattern that does not match in the whole
    text does not match in the sentence either, and the sentences need not be split to know it."""
    try:
        return _monotone(list(_sre_parse.parse(pattern)))
    except re.error:
        return False


def _necessary(items: Any) -> list[frozenset[str]]:
    """Sets of strings, each such that every match of the parsed ``items`` contains one of them."""
    found: list[frozenset[str]] = []
    run = ""  # consecutive literal characters
    for op, av in items:
        if op is _sre.LITERAL:
            run += chr(av)
            continue
        if run:
            found.append(frozenset([run]))
            run = ""
        if op is _sre.SUBPATTERN:
            if not av[1]:  # no inline flags (a case-insensitive group is not literal)
                found.extend(_necessary(av[3]))
        elif op is _sre.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                best = _rarest(_necessary(branch))
                if best is None:
                    break  # a branch without a required string: the alternation has none
                union |= best
            else:
                found.append(frozenset(union))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and av[0] >= 1:
            found.extend(_necessary(av[2]))
        # anything else (classes, assertions, optional parts) requires no particular string
    if run:
        found.append(frozenset([run]))
    return found


def _rarest(sets: list[frozenset[str]], skip: Sequence[str] = ()) -> frozenset[str] | None:
    """The set of ``sets`` least likely to occur (longest shortest string), ignoring sets with a
    string found in one of the ``skip`` words."""
    kept = [s for s in sets if not any(text in word for text in s for word in skip)]
    return max(kept, key=lambda s: (min(map(len, s)), -len(s))) if kept else None


def _has_gap(items: Any) -> bool:
    """True when a parsed regex repeats a group ("up to 8 words": ``(?:\\S+\\s+){0,8}?``), which the
    engine tries at every step before what follows."""
    for op, av in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            if av[1] > 1 and any(o in (_sre.SUBPATTERN, _sre.MAX_REPEAT, _sre.MIN_REPEAT) for o, _ in av[2]):
                return True
            if _has_gap(av[2]):
                return True
        elif op is _sre.SUBPATTERN:
            if _has_gap(av[3]):
                return True
        elif op is _sre.BRANCH and any(_has_gap(branch) for branch in av[1]):
            return True
    return False


def required_words(pattern: str, anchors: Sequence[tuple[str, bool]] = ()) -> tuple[str, ...] | None:
    """Strings one of which every match of ``pattern`` contains, when worth checking first: the
    pattern has a word gap (costly to try), and the strings are not in its ``anchors`` (always
    there at a hit; as :func:`anchor_words` gives them) and at least 3 characters long. None
    otherwise."""
    try:
        parsed = _sre_parse.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & (re.IGNORECASE | re.LOCALE) or not _has_gap(parsed):
        return None
    best = _rarest(_necessary(list(parsed)), [word for word, _ in anchors])
    if best is None or min(map(len, best)) < 3 or len(best) > _MAX_REQUIRED:
        return None
    # A string that contains another one adds nothing: when the shorter is absent, so is the longer.
    return tuple(sorted(w for w in best if not any(o != w and o in w for o in best)))


class PatternBank:
    """Patterns matched together at the word starts where their anchors occur.

    :meth:`matches` returns, for a text range, ``(pattern index, start, end)`` for every match
    of every pattern, ordered by start (and by pattern index at one start), exactly what
    ``finditer`` on each pattern and sentence would find.
    """

    __slots__ = (
        "_always",
        "_dispatch",
        "_head",
        "_monotone",
        "_needs",
        "_scan",
        "_scan_ascii",
        "_subsets",
        "patterns",
    )

    def __init__(self, patterns: Sequence[Anchored]) -> None:
        self.patterns = tuple(patterns)
        self._always = tuple(i for i, p in enumerate(self.patterns) if p.anchors is None)
        words: dict[str, bool] = {}
        for pattern in self.patterns:
            for word, whole in pattern.anchors or ():
                words[word] = words.get(word, True) and whole
        trie = _trie_regex(words)
        # The anchor word is group 1 of both: after a non-word character, or at the start of the text.
        # An ASCII text is scanned with ASCII classes, which give the same matches on it and are
        # looked up in a table instead of asking Unicode about every character (30% faster).
        self._scan = re.compile(r"\W(" + trie + ")").finditer
        self._scan_ascii = re.compile(r"\W(" + trie + ")", re.ASCII).finditer
        self._head = re.compile("(" + trie + ")").match
        self._monotone = tuple(end_monotone(p.rx.pattern) for p in self.patterns)
        required = [
            None
            if p.rx.flags & (re.IGNORECASE | re.LOCALE)
            else required_words(p.rx.pattern, p.anchors or ())
            for p in self.patterns
        ]
        # Per anchor word: its entry with every pattern that starts with it, and whether the text
        # must be checked for the required words of some of them (then see _live).
        self._dispatch: dict[str, tuple[_MatchAt, tuple[tuple[int, int], ...], bool, bool]] = {}
        self._needs: dict[str, tuple[tuple[int, ...], tuple[tuple[int, tuple[str, ...]], ...]]] = {}
        self._subsets: dict[tuple[int, ...], _Entry] = {}
        for word in words:
            members = tuple(
                i
                for i, p in enumerate(self.patterns)
                if any(word.startswith(anchor) for anchor, _ in p.anchors or ())
            )
            needs = tuple((i, strings) for i in members if (strings := required[i]) is not None)
            match_at, groups, probe = self._entry(members, len(members) == 1)
            self._dispatch[word] = (match_at, groups, probe, bool(needs))
            if needs:
                self._needs[word] = (members, needs)

    def _entry(self, members: Sequence[int], own: bool) -> _Entry:
        """The entry matching the patterns ``members`` at a position: one pattern's own regex
        (``own``), or one regex trying each in a lookahead (each reports its match in a group)."""
        probe = all(self._monotone[i] for i in members)  # see matches()
        if len(members) == 1:
            rx = self.patterns[members[0]].rx
            return (rx.match if own else re.compile(rx.pattern).match), ((0, members[0]),), probe
        parts, groups, group = [], [], 1
        for i in members:
            rx = self.patterns[i].rx
            parts.append(f"(?:(?=({rx.pattern}))|)")
            groups.append((group, i))
            group += 1 + rx.groups
        return re.compile("".join(parts)).match, tuple(groups), probe

    def _live(self, word: str, text: str, present: dict[int, bool]) -> _Entry | None:
        """The entry for a hit on ``word`` in ``text``, without the patterns whose required words
        (:func:`required_words`) are not in ``text``: they cannot match, and their word gaps are
        the costly part. None when no pattern is left. ``present`` caches, per pattern, whether
        its words are in ``text``."""
        members, needs = self._needs[word]
        dead = set()
        for i, required in needs:
            found = present.get(i)
            if found is None:
                found = False
                for string in required:  # a loop, not any(): cheaper for a few strings
                    if string in text:
                        found = True
                        break
                present[i] = found
            if not found:
                dead.add(i)
        if not dead:
            return self._dispatch[word][:3]
        live = tuple(i for i in members if i not in dead)
        if not live:
            return None
        entry = self._subsets.get(live)
        if entry is None:
            if len(self._subsets) >= _MAX_SUBSETS:
                return self._dispatch[word][:3]  # the same matches, only slower
            entry = self._subsets[live] = self._entry(live, False)
        return entry

    def matches(
        self, text: str, pos: int, endpos: int, split: Sentences | None = None
    ) -> list[tuple[int, int, int]]:
        """``(pattern, start, end)`` of the matches in ``text[pos:endpos]``.

        With ``split`` (the sentences of ``text``, split only when a pattern matches in the
        whole text), no match runs past the end of its sentence.
        """
        found: list[tuple[int, int, int]] = []
        last: dict[int, int] = {}
        dispatch = self._dispatch
        starts: list[int] | None = None  # sentence starts, read at the first match
        ends: list[int] = []
        scan = self._scan_ascii if text.isascii() else self._scan
        if pos:  # the non-word character before a word at ``pos`` is at ``pos - 1``
            hits: Iterable[re.Match[str]] = scan(text, pos - 1, endpos)
        else:
            hits = scan(text, 0, endpos)
            head = self._head(text, 0, endpos)
            if head is not None:
                hits = chain((head,), hits)
        live: dict[str, _Entry | None] = {}  # per anchor word with required words, for this text
        present: dict[int, bool] = {}
        for hit in hits:
            start = hit.start(1)
            word = hit[1]
            match_at, members, probe, checked = dispatch[word]
            if checked:
                if word in live:
                    entry = live[word]
                else:
                    entry = live[word] = self._live(word, text, present)
                if entry is None:
                    continue  # no pattern can match in this text
                match_at, members, probe = entry
            if split is None:
                end = endpos
            else:
                if starts is None:
                    if probe:
                        # Most hits match nothing: when a pattern does not match up to the end of
                        # the text, it does not up to the end of the sentence (end_monotone).
                        whole = match_at(text, start)
                        if whole is None or (len(members) > 1 and not whole.lastindex):
                            continue
                    sentences = split.sentences
                    starts = [s0 for s0, _ in sentences]
                    ends = [s1 for _, s1 in sentences]
                end = ends[max(0, bisect_right(starts, start) - 1)]  # as split.sentence_of(start)
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
