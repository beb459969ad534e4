"""The labelled development set meets the quality targets."""

from __future__ import annotations

from pathlib import Path

from monitor.extract import Extractor
from monitor.extract.evaluation import format_table, load_gold, score

DEV = Path(__file__).resolve().parents[2] / "data" / "extract_dev.jsonl"


def test_dev_set_meets_targets() -> None:
    gold = load_gold(DEV)
    assert len(gold) >= 160
    predicted = list(Extractor().pipe((item.title, item.text) for item in gold))
    report = score(gold, predicted)
    table = format_table(report)
    assert report.sets["minerals"].f1 >= 0.98, table
    assert report.sets["countries"].f1 >= 0.95, table
    assert report.accuracy["measure"] >= 0.92, table
    assert report.accuracy["direction"] >= 0.95, table
    assert report.accuracy["imposing_country"] >= 0.90, table
