"""Benchmark the extractor: documents/s and words/s of ``Extractor.pipe`` on one core.

Run: ``python bench/extract.py [--docs N] [--json]``. In the same run it measures a floor:
spaCy's blank English tokenizer plus one PhraseMatcher over the same vocabulary (every mineral
and country term of the gazetteer), and reports the ratio extractor / floor.
Items are generated (about 60 words each), mixing measure news, market news and noise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import spacy
from spacy.matcher import PhraseMatcher

from monitor.extract import Extractor
from monitor.extract.gazetteer import BLOCK, load_gazetteer

_MINERALS = ["gallium", "germanium", "lithium", "cobalt", "rare earths", "graphite", "nickel", "antimony",
             "tungsten", "dysprosium", "copper", "spodumene", "palladium", "bauxite"]  # fmt: skip
_ACTORS = ["China", "Beijing", "Indonesia", "The DRC", "Zimbabwe", "The United States", "MOFCOM", "The EU",
           "Japan", "Chile", "India's DGFT", "USTR", "Canada", "Australia"]  # fmt: skip
_TARGETS = ["the United States", "Japan", "all destinations", "China", "Russia", "the EU", "South Korea"]
_EVENTS = [
    "{a} will require export licences for {m} shipments to {t} from December 1, 2025.",
    "{a} said it would ban exports of {m} and {m2} to {t}, effective immediately.",
    "{a} suspended the ban on {m} exports to {t} until November 2026.",
    "{a} imposed 25% tariffs on imports of {m} from {t} after a trade investigation.",
    "Prices of {m} fell 5% this week as demand from battery makers in {t} slowed.",
    "{a} and {t} signed a critical minerals partnership covering {m} and {m2}.",
    "A new {m} mine opened in {t}, lifting output by a fifth, the company said.",
    "{a} is not considering an export quota on {m}, a spokesperson told reporters.",
]
_FILLER = [
    "Analysts said the decision would affect supply chains for electric vehicles and defence equipment.",
    "Traders reported thin volumes and wide spreads in the spot market on Tuesday.",
    "The company plans to expand capacity at its refinery next year, according to a statement.",
    "Officials did not give further details about the timing or scope of the measures.",
    "Shares of producers rose in early trading before paring gains in the afternoon session.",
]


def make_items(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Generate ``count`` (title, text) pairs of about 60 words."""
    rng = random.Random(seed)
    items = []
    for _ in range(count):
        m, m2 = rng.sample(_MINERALS, 2)
        event = rng.choice(_EVENTS).format(a=rng.choice(_ACTORS), m=m, m2=m2, t=rng.choice(_TARGETS))
        text = " ".join([event, *rng.sample(_FILLER, 3)])
        title = " ".join(event.split()[:8])
        items.append((title, text))
    return items


def _floor_matcher() -> tuple[Any, PhraseMatcher]:
    nlp = spacy.blank("en")
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    terms = [t.text for t in load_gazetteer().terms if t.label != BLOCK]
    matcher.add("TERM", [nlp.make_doc(t) for t in terms])
    return nlp, matcher


def _timed(fn: Any, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(docs: int) -> dict[str, Any]:
    """Time the extractor and the floor over the same generated items."""
    items = make_items(docs)
    texts = [f"{title}\n\n{text}" for title, text in items]
    words = sum(len(t.split()) for t in texts)
    extractor = Extractor()
    nlp, matcher = _floor_matcher()
    list(extractor.pipe(items[:200]))  # warm-up

    def run_extractor() -> None:
        for _ in extractor.pipe(items, batch_size=256):
            pass

    def run_floor() -> None:
        for doc in nlp.pipe(texts, batch_size=256):
            matcher(doc)

    extractor_s = _timed(run_extractor)
    floor_s = _timed(run_floor)
    return {
        "docs": docs,
        "words": words,
        "words_per_doc": round(words / docs, 1),
        "cpu_count_used": 1,
        "pid_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "extractor": {"seconds": round(extractor_s, 4), "docs_per_s": round(docs / extractor_s),
                      "words_per_s": round(words / extractor_s)},
        "floor": {"seconds": round(floor_s, 4), "docs_per_s": round(docs / floor_s),
                  "words_per_s": round(words / floor_s)},
        "ratio": round(floor_s / extractor_s, 3),
        "targets": {"docs_per_s": 10_000, "ratio": 0.25},
    }  # fmt: skip


def table(result: dict[str, Any]) -> str:
    """A human-readable table of a benchmark result."""
    ext, floor = result["extractor"], result["floor"]
    rows = [
        f"documents: {result['docs']}  ({result['words_per_doc']} words each)",
        f"{'':<34}{'docs/s':>12}{'words/s':>14}",
        f"{'Extractor.pipe':<34}{ext['docs_per_s']:>12,}{ext['words_per_s']:>14,}",
        f"{'floor: tokenizer + PhraseMatcher':<34}{floor['docs_per_s']:>12,}{floor['words_per_s']:>14,}",
        f"ratio extractor/floor: {result['ratio']:.3f}  (targets: >= 10,000 docs/s, ratio >= 0.25)",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=20_000, help="number of generated documents")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    result = run(max(1, args.docs))
    print(json.dumps(result, indent=2))
    if not args.json:
        print()
        print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
