"""Rule tests (promtool-like) and backtests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import DecodeError
from monitor.records import Extraction
from monitor.rules.backtest import backtest, read_events
from monitor.rules.testing import run_test_file, run_tests, tagged_event

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)


def stub_extractor(title: str, text: str) -> Extraction:
    """A tiny stand-in for the real extractor: enough for rules/tests/text.yaml."""
    found = (title + " " + text).lower()
    minerals = [m for m in ("gallium", "germanium", "lithium") if m in found]
    measure = "export_licence" if "licen" in found else "none"
    china = "china" in found or "beijing" in found
    return Extraction(
        minerals=minerals,
        imposing_country="CN" if china else None,
        measure=measure,
        direction="tighten" if measure != "none" else None,
    )


def test_default_pack_tests_pass():
    report = run_tests([ROOT / "rules" / "tests"])
    assert report.ok, report.format()
    counts = report.counts()
    assert counts["failed"] == counts["error"] == 0
    assert counts["skipped"] == 3  # the text cases need an extractor


def test_text_cases_run_through_an_injected_extractor():
    report = run_tests([ROOT / "rules" / "tests" / "text.yaml"], extractor=stub_extractor)
    assert report.ok and report.counts()["passed"] == 3, report.format()


def test_failure_gives_a_readable_diff(tmp_path):
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: r\n    when: {critical: true}\n", encoding="utf-8")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "t.yaml").write_text(
        """
tests:
  - name: wrong severity
    events:
      - {id: a, at: 2025-10-09T08:00:00Z, minerals: [gallium], imposing_country: CN,
         measure: export_licence, direction: tighten}
    expect:
      - {rule: r, severity: low, minerals: [gallium]}
  - name: nothing expected
    events:
      - {id: a, minerals: [gallium], imposing_country: CN, measure: export_ban}
    expect: []
  - name: something expected
    events:
      - {id: a, minerals: [gold], imposing_country: CN, measure: export_ban}
    expect:
      - {rule: r}
""",
        encoding="utf-8",
    )
    results = run_test_file(tests / "t.yaml")
    assert [r.status for r in results] == ["failed", "failed", "failed"]
    assert "closest raised alert differs in:\n    severity: expected 'low', got 'critical'" in results[0].diff
    assert results[1].diff.startswith("unexpected alert: rule=r severity=critical")
    assert "no alert was raised" in results[2].diff


def test_bad_test_file_is_an_error(tmp_path):
    (tmp_path / "t.yaml").write_text("tests:\n  - name: x\n    evnts: []\n", encoding="utf-8")
    [result] = run_test_file(tmp_path / "t.yaml")
    assert result.status == "error" and "field tests.0.events" in result.diff


def test_backtest_orders_by_event_time_and_counts(default_pack):
    events = [
        tagged_event(
            "late",
            at=T0 + timedelta(days=2),
            minerals=["graphite"],
            measure="export_licence",
            direction="tighten",
            imposing_country="CN",
        ),
        tagged_event(
            "early",
            at=T0,
            minerals=["gallium"],
            measure="export_licence",
            direction="tighten",
            imposing_country="CN",
        ),
        tagged_event(
            "early-2",
            at=T0 + timedelta(hours=1),
            minerals=["gallium"],
            measure="export_licence",
            direction="tighten",
            imposing_country="CN",
            source="other",
        ),
        tagged_event("noise", at=T0, minerals=["lithium"], measure="none"),
    ]
    report = backtest(default_pack, events)
    assert [f.document_id for f in report.firings] == ["early", "early-2", "late"]
    assert [f.at for f in report.firings] == [T0, T0 + timedelta(hours=1), T0 + timedelta(days=2)]
    assert [a.document_ids for a in report.alerts] == [["early", "early-2"], ["late"]]
    assert report.counts == {
        "supply-measure": 2,
        "investigation": 0,
        "export-control-escalation": 0,
        "export-control-de-escalation": 0,
        "new-export-control": 0,
        "corroborated-measure": 0,
    }
    assert report.events == 4 and report.events_alerted == 3
    text = report.format()
    assert "2025-10-09 08:00  critical supply-measure" in text and "[2 docs, 2 sources]" in text
    assert "revision 2" not in text and "revision 2" in report.format(verbose=True)


def test_read_events_jsonl(tmp_path):
    event = tagged_event("a", at=T0, minerals=["gallium"], measure="export_ban", imposing_country="CN")
    path = tmp_path / "events.jsonl"
    path.write_text(event.dumps().decode() + "\n\n" + json.dumps({"nope": 1}) + "\n", encoding="utf-8")
    reader = read_events(path)
    first = next(reader)
    assert first.document_id == "a" and first.extraction.minerals == ["gallium"] and first.published == T0
    with pytest.raises(DecodeError, match=r"events\.jsonl:3"):
        next(reader)
