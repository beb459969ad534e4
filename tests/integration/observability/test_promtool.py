"""The alerting rules pass ``promtool check rules`` and their unit tests (``promtool test rules``).

Skipped only when promtool is not installed (``deploy/install-prometheus.sh`` installs it; CI does).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "dashboards" / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.yml"))
RULE_TESTS = sorted((ALERTS / "tests").glob("*.test.yml"))

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)

pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (deploy/install-prometheus.sh installs it)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_there_are_rules_and_rule_tests() -> None:
    assert RULE_FILES, "no rule file in dashboards/alerts"
    assert RULE_TESTS, "no promtool test in dashboards/alerts/tests"


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", *(str(p) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules() -> None:
    result = _promtool("test", "rules", *(str(p) for p in RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_promtool_test_rules_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    # The tests are not vacuous: a test expecting an alert that the rules do not raise fails.
    wrong = tmp_path / "wrong.test.yml"
    rules = ALERTS / "monitor.rules.yml"
    wrong.write_text(
        f"""rule_files:
  - {rules}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="monitor",instance="w1"}}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 10m
        alertname: MonitorWorkerDown
        exp_alerts:
          - exp_labels: {{severity: warning, team: monitor, job: monitor, instance: w1}}
""",
        encoding="utf-8",
    )
    result = _promtool("test", "rules", str(wrong))
    assert result.returncode != 0
