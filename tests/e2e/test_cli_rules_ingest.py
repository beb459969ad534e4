"""`monitor rules`, `monitor ingest --once`, `monitor eval` and `monitor keys` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _monitor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith("MONITOR_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        cwd=REPO,
    )


def test_the_default_rule_pack_checks_clean() -> None:
    done = _monitor("rules", "check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok:")


def test_the_default_rule_pack_passes_its_own_tests_with_the_real_extractor() -> None:
    done = _monitor("rules", "test", *sorted(str(p) for p in (REPO / "rules" / "tests").glob("*.yaml")))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout and "ERROR" not in done.stdout
    assert "SKIP" not in done.stdout  # text cases run through the real extractor


def test_rules_check_names_file_rule_and_field_of_a_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: broken\n    type: match\n    severity: catastrophic\n", encoding="utf-8")
    done = _monitor("rules", "check", str(bad))
    assert done.returncode == 1
    assert str(bad) in done.stderr and "broken" in done.stderr and "severity" in done.stderr


def test_rules_test_reports_a_failing_case_with_a_diff(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text((REPO / "rules" / "default.yaml").read_text(encoding="utf-8"))
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "wrong.yaml").write_text(
        "tests:\n"
        "  - name: a price report is wrongly expected to alert\n"
        "    events:\n"
        "      - title: Lithium prices rise\n"
        "        text: Lithium carbonate prices rose 3% this week in China.\n"
        "    expect:\n"
        "      - rule: supply-measure\n",
        encoding="utf-8",
    )
    done = _monitor("rules", "test", str(tests / "wrong.yaml"))
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "no alert was raised" in done.stdout


def test_backtest_prints_alerts_and_counts_per_rule() -> None:
    done = _monitor("rules", "backtest", "monitor/data/demo/corpus.jsonl")
    assert done.returncode == 0, done.stderr
    assert "alerts per rule:" in done.stdout
    assert "supply-measure" in done.stdout


def test_ingest_once_prints_normalised_documents_from_the_offline_sources() -> None:
    done = _monitor("ingest", "--once", "--sources", "pipelines/offline.yaml", "--jsonl")
    assert done.returncode == 0, done.stderr
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(documents) >= 5
    for document in documents:
        assert {"id", "title", "text", "url", "published", "source", "cluster_id"} <= set(document)
        assert "<" not in document["text"]  # HTML stripped
    assert len({d["id"] for d in documents}) == len(documents)


def test_ingest_once_reports_a_failing_source_and_runs_the_others(tmp_path: Path) -> None:
    good = REPO / "monitor" / "data" / "feeds" / "mofcom-announcements.xml"
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        f"  - id: good\n    kind: feed\n    url: file://{good}\n    interval: 1h\n"
        f"  - id: missing\n    kind: feed\n    url: file://{tmp_path / 'absent.xml'}\n    interval: 1h\n",
        encoding="utf-8",
    )
    done = _monitor("ingest", "--once", "--sources", str(sources), "--jsonl")
    assert done.returncode == 1
    assert "missing" in done.stderr
    assert len(done.stdout.splitlines()) >= 3


def test_ingest_names_file_source_and_field_of_a_bad_source_file(tmp_path: Path) -> None:
    sources = tmp_path / "bad.yaml"
    sources.write_text(
        "sources:\n  - id: x\n    kind: gopher\n    url: https://example.org\n", encoding="utf-8"
    )
    done = _monitor("ingest", "--once", "--sources", str(sources))
    assert done.returncode != 0
    assert str(sources) in done.stderr and "x" in done.stderr and "kind" in done.stderr


def test_eval_scores_the_development_set_as_a_table_and_as_json() -> None:
    table = _monitor("eval", "tests/data/extract_dev.jsonl")
    assert table.returncode == 0, table.stderr
    assert "minerals" in table.stdout and "measure" in table.stdout
    as_json = _monitor("eval", "tests/data/extract_dev.jsonl", "--json")
    report = json.loads(as_json.stdout)
    assert report


def test_eval_errors_lists_each_mismatch_with_gold_and_predicted(tmp_path: Path) -> None:
    item = {
        "id": "x1",
        "title": "",
        "text": "China banned gallium exports to the United States on Tuesday.",
        "minerals": ["gallium"],
        "countries": ["CN", "US"],
        "imposing_country": "CN",
        "target_country": "US",
        "measure": "export_quota",  # wrong on purpose: the extractor reads a ban
        "direction": "tighten",
        "effective_date": None,
    }
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps(item) + "\n", encoding="utf-8")
    done = _monitor("eval", str(gold), "--errors")
    assert done.returncode == 0, done.stderr
    assert "mismatches: 1" in done.stdout
    assert 'x1\tmeasure\tgold="export_quota"\tpredicted="export_ban"' in done.stdout


@pytest.mark.parametrize("scope", ["read", "ingest", "admin"])
def test_keys_are_shown_once_listed_and_revoked(tmp_path: Path, scope: str) -> None:
    env = {"MONITOR_STORE__URL": f"sqlite+aiosqlite:///{tmp_path / 'keys.sqlite'}"}
    created = _monitor("keys", "create", "team", "--scope", scope, env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("cmm_")
    listed = _monitor("keys", "list", env=env)
    assert "team" in listed.stdout and scope in listed.stdout and key not in listed.stdout
    assert _monitor("keys", "revoke", "team", env=env).returncode == 0
    assert _monitor("keys", "revoke", "team", env=env).returncode == 1
