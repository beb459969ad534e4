"""spaCy pipeline components of the extractor, registered under versioned names.

::

    tokenizer                  spaCy blank English (+ a split of "U.S.-China")
    monitor_gazetteer_v1       PhraseMatcher over minerals and countries, longest match, context filters
    monitor_measure_v1         measure cues -> the document's measure and its key sentence (sentences
                               are split, by regex, only for documents with a cue)
    monitor_direction_v1       tighten / loosen / unchanged in the key sentence
    monitor_roles_v1           imposing and target country of the measure
    monitor_date_v1            effective date

Each component reads and writes the :class:`~monitor.extract.analysis.Analysis` kept in
``doc.user_data``; none of them loops over every token in Python.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from spacy.attrs import LOWER
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from monitor.extract.analysis import Analysis, Cue, Mention, analysis_of
from monitor.extract.cues import CueRules, load_cue_rules
from monitor.extract.dates import find_effective_date
from monitor.extract.gazetteer import BLOCK, MINERAL, Gazetteer, load_gazetteer

__all__ = [
    "DateComponent",
    "DirectionComponent",
    "GazetteerComponent",
    "MeasureComponent",
    "RolesComponent",
]

EXPORT_MEASURES = frozenset({"export_ban", "export_licence", "export_quota", "export_tax", "technology_ban"})
IMPORT_MEASURES = frozenset({"import_tariff", "investigation", "sanction"})
NO_DIRECTION = frozenset({"none", "partnership", "stockpile", "investigation", "price_control"})
_BASED = frozenset({"based", "listed", "headquartered", "registered", "traded"})


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _text_of(doc: Doc, analysis: Analysis) -> str:
    """The analysed text (kept in the analysis: spaCy rebuilds ``doc.text`` on every access)."""
    if analysis.text is None:
        analysis.text = doc.text
    return analysis.text


# --------------------------------------------------------------------------------------------
# Gazetteer
# --------------------------------------------------------------------------------------------


class _Key(NamedTuple):
    """What a PhraseMatcher key stands for; ``surfaces``/``orths`` are set for exact-case terms."""

    label: str
    value: str
    kind: str
    surfaces: frozenset[str] | None
    orths: frozenset[tuple[str, ...]] | None


def _longest_first(match: tuple[int, int, int, int, _Key]) -> tuple[int, int]:
    return match[0] - match[1], match[0]


_by_start_value = operator.attrgetter("start", "value")
_new_tuple = tuple.__new__


class GazetteerComponent:
    """Find minerals and countries with one case-insensitive PhraseMatcher.

    Terms that must match their exact case (countries, acronyms, "Cobalt Robotics") are checked
    against the matched text afterwards. The longest match wins, so blocked phrases ("lead to",
    "China clay", "Cobalt Robotics") swallow the mineral or country inside them. Ambiguous words
    ("lead") need metal context, a mineral word followed by a non-mining company suffix is
    dropped, and a country whose sentence talks about something else (Turkey the bird) is dropped.
    """

    def __init__(self, nlp: Language, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.keys: dict[int, _Key] = {}
        grouped: dict[tuple[str, str, str, bool], list[str]] = {}
        for term in gazetteer.terms:
            grouped.setdefault((term.label, term.value, term.kind, term.case_sensitive), []).append(term.text)
        for (label, value, kind, exact), texts in grouped.items():
            key = f"{label}|{value}|{kind}|{'exact' if exact else 'any'}"
            patterns = [nlp.make_doc(text) for text in texts]
            self.keys[nlp.vocab.strings.add(key)] = _Key(
                label,
                value,
                kind,
                frozenset(texts) if exact else None,
                frozenset(tuple(t.text for t in p) for p in patterns) if exact else None,
            )
            self.matcher.add(key, patterns)
        # The sense-block words as lexeme hashes (what a token's LOWER attribute holds): the window
        # around a country is checked on one array of the document instead of per-token Python.
        self.sense_block_ids: dict[str, frozenset[int]] = {
            value: frozenset(nlp.vocab.strings.add(word) for word in words)
            for value, words in gazetteer.sense_block.items()
        }
        # A token whose LOWER is one of these ASCII words puts the word in the lower-cased text, so a
        # document without any of them as a substring needs no token array at all.
        self.sense_block_words: dict[str, tuple[str, ...] | None] = {
            value: tuple(words) if all(word.isascii() for word in words) else None
            for value, words in gazetteer.sense_block.items()
        }

    def __call__(self, doc: Doc) -> Doc:
        """Attach the mineral and country mentions of ``doc`` to its analysis."""
        self.process(doc, analysis_of(doc))
        return doc

    def process(self, doc: Doc, analysis: Analysis) -> None:
        """As ``__call__``, with the analysis of ``doc`` given."""
        matches = self.matcher(doc)
        if not matches:
            analysis.mentions = []
            return
        text = _text_of(doc, analysis)
        keys = self.keys
        found: list[tuple[int, int, int, int, _Key]] = []
        apart = True  # so far in order of start and not overlapping (the usual case)
        last_end = 0
        for match_id, start, end in matches:
            key = keys[match_id]
            first = doc[start]
            s = first.idx
            if end - start == 1:
                e = s + len(first)
            else:
                last = doc[end - 1]
                e = last.idx + len(last)
            surfaces = key[3]  # by index: cheaper than a named field
            if (
                surfaces is not None
                and text[s:e] not in surfaces
                and (key[4] is None or tuple(t.text for t in doc[start:end]) not in key[4])
            ):
                continue  # an exact-case term matched in another case
            if start < last_end:
                apart = False
            last_end = end
            found.append((start, end, s, e, key))
        # When no two matches overlap, the longest-match rule keeps every one, and the mentions come
        # out in order of start (the order the sort below gives, as no two share a start).
        selected = [item for item in found if item[4][0] != BLOCK] if apart else self._longest(found)
        mentions: list[Mention] = []
        lowers: list[int] = []  # LOWER of every token, read on first need
        mineral_tokens: list[int] | None = None  # read on first need
        gaz = self.gazetteer
        context_required = gaz.context_required
        sense_block = gaz.sense_block
        for start, end, s, e, key in selected:
            key_label, value, kind = key[0], key[1], key[2]
            if key_label == MINERAL:
                checked = text[s].isupper() or (end - start == 1 and text[s:e].lower() in context_required)
                if checked:
                    if mineral_tokens is None:
                        mineral_tokens = [item[0] for item in selected if item[4][0] == MINERAL]
                    if not self._mineral_ok(doc, text, start, end, s, e, mineral_tokens):
                        continue
                label = "mineral"
            else:
                checked = kind == "capital" or value in sense_block
                if checked and not self._country_ok(doc, analysis, value, kind, start, end, lowers):
                    continue
                label = "country"
            # tuple.__new__ is what Mention(...) runs, without its Python-level __new__.
            mentions.append(_new_tuple(Mention, (s, e, text[s:e], label, value, kind, start, end)))
        if not apart:
            mentions.sort(key=_by_start_value)
        analysis.mentions = mentions
        return

    @staticmethod
    def _longest(found: list[tuple[int, int, int, int, _Key]]) -> list[tuple[int, int, int, int, _Key]]:
        """The matches kept by the longest-match rule (blocked phrases dropped), longest first."""
        if len(found) > 1:
            found.sort(key=_longest_first)
        occupied: set[int] = set()
        chosen: set[tuple[int, int]] = set()
        selected: list[tuple[int, int, int, int, _Key]] = []
        for item in found:
            start, end = item[0], item[1]
            if (start, end) not in chosen:
                tokens = range(start, end)
                if not occupied.isdisjoint(tokens):
                    continue
                occupied.update(tokens)
                chosen.add((start, end))
            if item[4].label != BLOCK:
                selected.append(item)
        return selected

    def _mineral_ok(
        self, doc: Doc, text: str, start: int, end: int, s: int, e: int, mineral_tokens: list[int]
    ) -> bool:
        gaz = self.gazetteer
        if text[s : s + 1].isupper() and end < len(doc) and doc[end].text in gaz.company_block_next:
            return False
        rule = gaz.context_required.get(text[s:e].lower()) if end - start == 1 else None
        if rule is None:
            return True
        nxt = doc[end].lower_ if end < len(doc) else ""
        prev = doc[start - 1].lower_ if start > 0 else ""
        if nxt in rule.next_words:
            return True
        if prev in rule.prev_block:
            return False
        if prev in rule.prev_words:
            return True
        return any(0 < abs(t - start) <= rule.near for t in mineral_tokens if t != start)

    def _country_ok(
        self, doc: Doc, analysis: Analysis, value: str, kind: str, start: int, end: int, lowers: list[int]
    ) -> bool:
        """False for a capital in a company name ("Beijing-based") or a country in a sentence about
        something else (``sense_block``). ``lowers`` caches the token LOWER ids of ``doc``."""
        if (
            kind == "capital"
            and end + 1 < len(doc)
            and doc[end].text == "-"
            and doc[end + 1].lower_ in _BASED
        ):
            return False
        blocked = self.sense_block_ids.get(value)
        if blocked:
            words = self.sense_block_words.get(value)
            if words is not None:
                lower = analysis.lower
                if not any(word in lower for word in words):
                    return True
            if not lowers:
                lowers.extend(doc.to_array(LOWER).tolist())
            if not blocked.isdisjoint(lowers[max(0, start - 15) : end + 15]):
                return False
        return True


@Language.factory("monitor_gazetteer_v1", default_config={"data_dir": None})
def make_gazetteer(nlp: Language, name: str, data_dir: str | None) -> GazetteerComponent:
    """Build the gazetteer component from the package data (or ``data_dir``)."""
    return GazetteerComponent(nlp, load_gazetteer(_path(data_dir)))


# --------------------------------------------------------------------------------------------
# Measure
# --------------------------------------------------------------------------------------------

# Matched on the lower-cased text. One ``\b(?:...)`` group rather than one ``\b...\b`` per word:
# the same matches (no two alternatives match at one position), tried at each position once, not
# seven times (three times faster).
_CLAUSE_BREAK = re.compile(r"[;:]|\b(?:but|while|whereas|although|however|after)\b")


def _clause_before(rules: CueRules, text: str, sent_start: int, pos: int) -> str:
    window = text[max(sent_start, pos - rules.negation_window) : pos]
    cuts = list(_CLAUSE_BREAK.finditer(window))
    return window[cuts[-1].end() :] if cuts else window


class _SentenceFacts(NamedTuple):
    """What the cues of one sentence are checked against (offsets in the analysed text)."""

    s0: int
    blocked: list[tuple[int, int]]  # phrases in which a cue is not a measure
    breaks: list[tuple[int, int]]  # clause breaks ("but", ";")
    negations: list[tuple[int, int]]
    hypotheticals: list[int]  # where each hypothetical marker ends
    modal: bool
    bonuses: tuple[float, ...]


class MeasureComponent:
    """Pick the document's measure: score every cue, drop negated and hypothetical ones.

    A cue scores more in the title, in a sentence that names a mineral or a country, in the
    first sentence, and less in background sentences ("last year", "since 2023"). Specific
    measures (technology ban, quota, tax, ban) outrank generic export controls in a tie.
    """

    def __init__(self, rules: CueRules) -> None:
        self.rules = rules

    def __call__(self, doc: Doc) -> Doc:
        """Set ``measure`` and the key ``cue`` of the analysis (``none`` when no cue survives)."""
        self.process(doc, analysis_of(doc))
        return doc

    def process(self, doc: Doc, analysis: Analysis) -> None:
        """As ``__call__``, with the analysis of ``doc`` given."""
        text = analysis.lower
        rules = self.rules
        # A measure needs a cue and the trigger keywords (which say which documents may carry a
        # measure at all). Most documents have no cue: looking for cues first, the trigger is
        # searched in the few with one (the scan for cues is cheaper than a failed trigger search).
        hits = rules.cue_bank.matches(text, 0, len(text), analysis)
        if not hits or rules.trigger.search(text) is None:
            return
        sentences = analysis.sentences
        sentence_of = analysis.sentence_of
        mineral_sents: set[int] = set()
        country_sents: set[int] = set()
        for mention in analysis.mentions:
            (mineral_sents if mention.label == "mineral" else country_sents).add(sentence_of(mention.start))
        has_title = analysis.title_end > 0
        first_body = 1 if has_title else 0
        facts_by_sentence: dict[int, _SentenceFacts] = {}
        best: dict[str, list[Cue]] = {}
        for index, start, end in hits:
            sent = sentence_of(start)
            facts = facts_by_sentence.get(sent)
            if facts is None:
                s0, s1 = sentences[sent]
                facts = self._facts(text, sent, s0, s1, has_title, first_body, mineral_sents, country_sents)
                facts_by_sentence[sent] = facts
            if facts.blocked and any(b0 < end and start < b1 for b0, b1 in facts.blocked):
                continue
            if facts.modal and self._modal(facts, start):
                continue
            cues, bonus, context = rules.cue_of[index]
            if context is not None and not self._in_context(context, text, sentences, sent, has_title):
                continue  # "licences" in a sentence that is not about exports
            if rules.hypothetical_after.match(text, end, sentences[sent][1]):
                continue  # "a ban on ore exports could be revisited"
            score = cues.weight + bonus - 0.01 * sent
            for extra in facts.bonuses:  # added one by one, as always: ties between scores are exact
                score += extra
            best.setdefault(cues.measure, []).append(Cue(cues.measure, start, end, sent, score))
        if not best:
            return
        best = {m.measure: best[m.measure] for m in rules.measures if m.measure in best}  # rule order
        self._demote_replaced(text, sentences, best)
        ranked = []
        for found in best.values():
            top = max(found, key=lambda c: (c.score, -c.start))
            count = len({c.sentence for c in found})
            ranked.append((top.score + 0.1 * min(3, count - 1), top))
        _, cue = max(ranked, key=lambda item: (item[0], -item[1].start))
        analysis.measure = cue.measure
        analysis.cue = cue
        return

    @staticmethod
    def _in_context(
        context: re.Pattern[str], text: str, sentences: list[tuple[int, int]], sent: int, has_title: bool
    ) -> bool:
        """The context a pattern needs occurs in the cue's sentence or in the title."""
        s0, s1 = sentences[sent]
        if context.search(text, s0, s1) is not None:
            return True
        return has_title and sent != 0 and context.search(text, *sentences[0]) is not None

    def _facts(
        self,
        text: str,
        sent: int,
        s0: int,
        s1: int,
        has_title: bool,
        first_body: int,
        mineral_sents: set[int],
        country_sents: set[int],
    ) -> _SentenceFacts:
        """Everything about a sentence that its cues need, found with one scan per kind.

        What a cue's sentence adds to its score: title, first sentence, names a mineral or a
        country; background sentences ("last year", "since 2023") weigh less.
        """
        rules = self.rules
        bonuses: list[float] = []
        if has_title and sent == 0:
            bonuses.append(1.0)
        if sent == first_body:
            bonuses.append(0.3)
        if sent in mineral_sents:
            bonuses.append(0.6)
        if sent in country_sents:
            bonuses.append(0.3)
        if rules.background_words.search(text, s0, s1):
            bonuses.append(-0.7)
        negations = rules.negation_words.spans(text, s0, s1)
        hypotheticals = [end for _, end in rules.hypothetical_words.spans(text, s0, s1)]
        return _SentenceFacts(
            s0=s0,
            blocked=[(b0, b1) for _, b0, b1 in rules.not_measure_bank.matches(text, s0, s1)],
            breaks=[m.span() for m in _CLAUSE_BREAK.finditer(text, s0, s1)] if negations else [],
            negations=negations,
            hypotheticals=hypotheticals,
            modal=bool(negations or hypotheticals),
            bonuses=tuple(bonuses),
        )

    def _modal(self, facts: _SentenceFacts, start: int) -> bool:
        """A cue negated in its clause ("is not considering a ban") or hypothetical ("could ban")."""
        if any(end <= start for end in facts.hypotheticals):
            return True
        window = max(facts.s0, start - self.rules.negation_window)
        clause = window
        for b0, b1 in facts.breaks:
            if b0 >= window and b1 <= start:
                clause = b1
        return any(a >= clause and b <= start for a, b in facts.negations)

    def _demote_replaced(
        self, text: str, sentences: list[tuple[int, int]], best: dict[str, list[Cue]]
    ) -> None:
        """A measure being lifted in a sentence that introduces another one ("end the ban, move to
        quotas") is not the news: demote it below the new measure."""
        if len(best) < 2:
            return
        by_sentence: dict[int, list[Cue]] = {}
        for found in best.values():
            for cue in found:
                by_sentence.setdefault(cue.sentence, []).append(cue)
        for sentence, cues in by_sentence.items():
            if len({c.measure for c in cues}) < 2:
                continue
            s0, s1 = sentences[sentence]
            spans = [(a, b) for _, a, b in self.rules.loosen_bank.matches(text, s0, s1)]
            lifted = {id(c) for c in cues if any(a <= c.start and c.end <= b for a, b in spans)}
            kept = {c.measure for c in cues if id(c) not in lifted}
            if not lifted or not kept:
                continue
            for measure, found in best.items():
                best[measure] = [
                    Cue(c.measure, c.start, c.end, c.sentence, c.score - 0.6)
                    if id(c) in lifted and kept - {c.measure}
                    else c
                    for c in found
                ]


@Language.factory("monitor_measure_v1", default_config={"rules_path": None})
def make_measure(nlp: Language, name: str, rules_path: str | None) -> MeasureComponent:
    """Build the measure component from ``measures.yaml``."""
    return MeasureComponent(load_cue_rules(_path(rules_path)))


# --------------------------------------------------------------------------------------------
# Direction
# --------------------------------------------------------------------------------------------

_RESTRICTIVE_GAP = re.compile(
    r"\b(?:ban|bans|banned|prohibit\w*|restrict\w*|curbs?|requir\w*|rules?|notice|tariffs?|quotas?|controls?)\b",
    re.IGNORECASE,
)
# The restriction a loosening verb acts on, by its noun: "lift the ban" cannot loosen a quota.
_NOUN_FAMILY: dict[str, frozenset[str]] = {
    "ban": frozenset({"export_ban", "sanction", "technology_ban"}),
    "embargo": frozenset({"export_ban", "sanction"}),
    "prohibition": frozenset({"export_ban", "sanction", "technology_ban"}),
    "moratorium": frozenset({"export_ban"}),
    "suspension": frozenset({"export_ban"}),
    "quota": frozenset({"export_quota"}),
    "tariff": frozenset({"import_tariff", "export_tax"}),
    "duty": frozenset({"import_tariff", "export_tax"}),
    "duties": frozenset({"import_tariff", "export_tax"}),
    "tax": frozenset({"export_tax", "import_tariff"}),
    "taxes": frozenset({"export_tax", "import_tariff"}),
    "levy": frozenset({"export_tax", "import_tariff"}),
    "levies": frozenset({"export_tax", "import_tariff"}),
    "sanction": frozenset({"sanction"}),
}


def _family(word: str) -> frozenset[str] | None:
    word = word.lower().strip(".,;:")
    return _NOUN_FAMILY.get(word) or _NOUN_FAMILY.get(word[:-1] if word.endswith("s") else word)


class DirectionComponent:
    """Tighten, loosen or unchanged, read from the key sentence (and the title)."""

    def __init__(self, rules: CueRules) -> None:
        self.rules = rules

    def __call__(self, doc: Doc) -> Doc:
        """Set ``direction`` (``tighten``/``loosen``/None) for a restrictive measure."""
        self.process(doc, analysis_of(doc))
        return doc

    def process(self, doc: Doc, analysis: Analysis) -> None:
        """As ``__call__``, with the analysis of ``doc`` given."""
        cue = analysis.cue
        if cue is None or analysis.measure in NO_DIRECTION:
            return
        text = analysis.lower
        sentences = [analysis.sentences[cue.sentence]]
        if analysis.title_end and cue.sentence != 0:
            sentences.append(analysis.sentences[0])
        first_body = 1 if analysis.title_end else 0
        if first_body != cue.sentence and first_body < len(analysis.sentences):
            sentences.append(analysis.sentences[first_body])
        for s0, s1 in sentences:
            span = self._loosen(text, s0, s1, analysis.measure)
            if span is not None:
                analysis.direction = "loosen"
                analysis.direction_span = span
                return
        for s0, s1 in sentences[:2]:
            if self.rules.unchanged_bank.matches(text, s0, s1):
                analysis.direction = None
                return
        analysis.direction = "tighten"
        analysis.direction_span = (cue.start, cue.end)
        return

    def _loosen(self, text: str, s0: int, s1: int, measure: str) -> tuple[int, int] | None:
        """The first loosening phrase (in pattern order) that acts on a restriction of ``measure``."""
        rules = self.rules
        for _, start, end in sorted(rules.loosen_bank.matches(text, s0, s1)):
            inner = text[start:end].split()
            if len(inner) > 2 and _RESTRICTIVE_GAP.search(" ".join(inner[1:-1])):
                continue
            family = _family(inner[-1]) or _family(inner[0])
            if family is not None and measure not in family:
                continue
            if rules.negation.search(_clause_before(rules, text, s0, start)):
                continue  # "did not lift the ban", "will not allow exports"
            return start, end
        return None


@Language.factory("monitor_direction_v1", default_config={"rules_path": None})
def make_direction(nlp: Language, name: str, rules_path: str | None) -> DirectionComponent:
    """Build the direction component from ``measures.yaml``."""
    return DirectionComponent(load_cue_rules(_path(rules_path)))


# --------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------

# Matched on the lower-cased text.
_PREP_TAIL = re.compile(
    r"\b(?P<prep>to|into|towards?|on|against|from|targeting|targets|targeted|at|of|by|with|for|between|and)\s+"
    r"(?:the\s+|its\s+|their\s+|a\s+|(?:imports?|exports?|shipments?|goods|products|sales)\s+(?P<inner>of|from|to)\s+(?:the\s+)?)?$",
)
_POSSESSIVE = re.compile("^\\s*['\u2019]s?\\b")
_DEST = frozenset({"to", "into", "toward", "towards"})
_COORDINATION = re.compile("^(?:['\u2019]s)?\\s*(?:,|and|&|-|/)\\s*(?:the\\s+)?$")
_CLAUSE_AFTER = re.compile(
    r"\b(?:who|which|that|where|while|as|after|because|since|amid|said|says)\b|;|,\s+and\s+(?:the\s+)?(?=[A-Z])"
)
_TARGET = frozenset({"on", "against", "targeting", "targets", "targeted", "at"})


class RolesComponent:
    """Who imposes the measure on whom, from the key sentence, then the title, then the whole text.

    A country after "by" acts; after "to"/"into" it is the destination; after "on"/"against"
    the target; after "from" (or a demonym before a mineral: "Chinese graphite") the origin of
    the goods. An export measure is imposed by the origin on the destination (``ALL`` when no
    destination is named); an import tariff, investigation or sanction by the subject on the origin.
    """

    def __init__(self, rules: CueRules) -> None:
        self.rules = rules

    def __call__(self, doc: Doc) -> Doc:
        """Set ``imposing`` and ``target`` of the analysis."""
        self.process(doc, analysis_of(doc))
        return doc

    def process(self, doc: Doc, analysis: Analysis) -> None:
        """As ``__call__``, with the analysis of ``doc`` given."""
        cue = analysis.cue
        if cue is None or analysis.measure == "none":
            return
        text = _text_of(doc, analysis)
        measure = analysis.measure
        sentences = [cue.sentence]
        if analysis.title_end and cue.sentence != 0:
            sentences.append(0)
        first_body = 1 if analysis.title_end else 0
        if first_body not in sentences and first_body < len(analysis.sentences):
            sentences.append(first_body)
        imposing: Mention | None = None
        target: Mention | None = None
        for index, sent in enumerate(sentences):
            s0, s1 = analysis.sentences[sent]
            pivot = cue.start if index == 0 else s0
            cue_span = (cue.start, cue.end) if index == 0 else None
            roles = [
                (m, self._role(text, analysis, m, s0, cue_span, measure))
                for m in analysis.mentions_in(s0, s1, "country")
            ]
            if not roles:
                continue
            if measure == "partnership":
                parties: list[Mention] = []
                for mention, _ in roles:
                    if all(mention.value != p.value for p in parties):
                        parties.append(mention)
                imposing = imposing or parties[0]
                if target is None and len(parties) > 1:
                    target = next((p for p in parties if p.value != imposing.value), None)
                continue
            if imposing is None:
                imposing = self._imposing(text, measure, roles, pivot, cue.start if index == 0 else None)
            if target is None:
                target = self._target(text, measure, roles, imposing, cue.end if index == 0 else s0)
            if imposing is not None and target is not None:
                break
        if imposing is None and measure != "partnership":
            imposing = self._most_frequent(analysis, target)
        analysis.imposing = imposing
        if target is not None and (imposing is None or target.value != imposing.value):
            analysis.target = target.value
            analysis.target_span = (target.start, target.end)
        elif measure in EXPORT_MEASURES or measure in ("import_tariff", "investigation"):
            s0, s1 = analysis.sentences[cue.sentence]
            found = self.rules.all_targets.search(analysis.lower, s0, s1)
            analysis.target = "ALL"
            analysis.target_span = found.span() if found else None
        return

    def _role(
        self,
        text: str,
        analysis: Analysis,
        mention: Mention,
        s0: int,
        cue: tuple[int, int] | None,
        measure: str,
    ) -> str:
        if cue is not None and 0 <= cue[0] - mention.end <= 1:
            # "US eases Venezuela sanctions": a country right before the cue, after another country;
            # but in "The US and UK sanction ..." both countries act.
            earlier = [m for m in analysis.mentions if m.label == "country" and s0 <= m.start < mention.start]
            coordinated = (
                bool(earlier) and _COORDINATION.match(text[earlier[-1].end : mention.start]) is not None
            )
            return "target" if measure in IMPORT_MEASURES and earlier and not coordinated else "subject"
        lower = analysis.lower
        tail = _PREP_TAIL.search(lower, max(s0, mention.start - 40), mention.start)
        after = text[mention.end : mention.end + 3]
        if tail:
            prep = (tail.group("inner") or tail.group("prep")).lower()
            if prep == "by":
                return "actor"
            if prep in _DEST:
                return "dest"
            if prep in _TARGET:
                return "target"
            if prep == "from":
                return "origin"
            if prep == "of" and mention.kind == "demonym":
                return "origin"
            if prep == "with":
                return "partner"
        if mention.kind == "demonym" and measure in IMPORT_MEASURES and not _POSSESSIVE.match(after):
            return "origin"  # "sanctions Russian firms", "tariffs on Chinese goods"
        if mention.kind == "demonym":
            following = [
                m for m in analysis.mentions if m.label == "mineral" and 0 <= m.start - mention.end <= 25
            ]
            if following:
                return "origin"
        if _POSSESSIVE.match(after):
            return "owner"
        return "subject"

    @staticmethod
    def _imposing(
        text: str, measure: str, roles: list[tuple[Mention, str]], pivot: int, cue_start: int | None
    ) -> Mention | None:
        for mention, role in roles:
            if role == "actor":
                return mention
        before = [(m, r) for m, r in roles if m.start < pivot and r in ("subject", "owner")]
        if before:
            owners = [
                m for m, r in before if r == "owner" and cue_start is not None and cue_start - m.end <= 40
            ]
            if owners:
                return owners[-1]
            # The nearest subject, or the first of a coordination ("China, US agree ...").
            index = len(before) - 1
            while index > 0 and _COORDINATION.match(text[before[index - 1][0].end : before[index][0].start]):
                index -= 1
            return before[index][0]
        if measure in EXPORT_MEASURES:
            for mention, role in roles:
                if role == "origin":
                    return mention
        for mention, role in roles:
            if role in ("subject", "owner"):
                return mention
        return None

    @staticmethod
    def _target(
        text: str, measure: str, roles: list[tuple[Mention, str]], imposing: Mention | None, pivot: int
    ) -> Mention | None:
        wanted = ("dest", "target") if measure in EXPORT_MEASURES else ("origin", "target", "dest")
        if measure in ("stockpile", "price_control"):
            return None
        for role_name in wanted:
            for mention, role in roles:
                if role != role_name or (imposing is not None and mention.value == imposing.value):
                    continue
                if mention.start > pivot and _CLAUSE_AFTER.search(text[pivot : mention.start]):
                    continue  # in another clause: "... a relief to miners who ship to China"
                return mention
        return None

    @staticmethod
    def _most_frequent(analysis: Analysis, target: Mention | None) -> Mention | None:
        counts = Counter(
            m.value
            for m in analysis.mentions
            if m.label == "country" and (target is None or m.value != target.value)
        )
        if not counts:
            return None
        value, _ = counts.most_common(1)[0]
        return next(m for m in analysis.mentions if m.label == "country" and m.value == value)


@Language.factory("monitor_roles_v1", default_config={"rules_path": None})
def make_roles(nlp: Language, name: str, rules_path: str | None) -> RolesComponent:
    """Build the roles component from ``measures.yaml``."""
    return RolesComponent(load_cue_rules(_path(rules_path)))


# --------------------------------------------------------------------------------------------
# Date
# --------------------------------------------------------------------------------------------


class DateComponent:
    """The effective date of the measure, when the text states one."""

    def __call__(self, doc: Doc) -> Doc:
        """Set ``effective_date`` (ISO) when a measure was found and a start date is stated."""
        self.process(doc, analysis_of(doc))
        return doc

    def process(self, doc: Doc, analysis: Analysis) -> None:
        """As ``__call__``, with the analysis of ``doc`` given."""
        if analysis.measure == "none":
            return
        found = find_effective_date(_text_of(doc, analysis), analysis.lower)
        if found is not None:
            analysis.effective_date = found.iso
            analysis.date_span = (found.start, found.end)
        return


@Language.factory("monitor_date_v1")
def make_date(nlp: Language, name: str) -> DateComponent:
    """Build the effective-date component."""
    return DateComponent()
