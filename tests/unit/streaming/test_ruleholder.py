"""Hot reload: changed rule files take effect; an invalid set is rejected and the old rules kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.observability.metrics import Metrics
from monitor.streaming.ruleholder import RuleHolder

RULE = """rules:
  - id: {id}
    description: test rule
    type: match
    severity: {severity}
    group_by: [imposing_country, measure, direction, minerals]
    when:
      measures: [export_ban]
"""


def _sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_a_changed_file_is_reloaded_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(id="bans", severity="high"), encoding="utf-8")
    metrics = Metrics()
    holder = RuleHolder([tmp_path], metrics)
    assert [r.id for r in holder.current.rules] == ["bans"]
    assert holder.reload() == (False, "rules unchanged")
    rules.write_text(RULE.format(id="bans-v2", severity="low"), encoding="utf-8")
    changed, _ = holder.reload()
    assert changed
    assert [r.id for r in holder.current.rules] == ["bans-v2"]
    assert _sample(metrics, "monitor_rules_reloads_total", {"outcome": "ok"}) == 1
    assert _sample(metrics, "monitor_rules_loaded") == 1


def test_an_invalid_file_is_rejected_and_the_previous_rules_stay(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(id="bans", severity="high"), encoding="utf-8")
    metrics = Metrics()
    holder = RuleHolder([tmp_path], metrics)
    rules.write_text(RULE.format(id="bans", severity="apocalyptic"), encoding="utf-8")
    changed, message = holder.reload()
    assert not changed
    assert "rules.yaml" in message and "severity" in message
    assert [r.id for r in holder.current.rules] == ["bans"]
    assert _sample(metrics, "monitor_rules_reloads_total", {"outcome": "rejected"}) == 1
    assert _sample(metrics, "monitor_input_rejected_total", {"kind": "rule_file", "reason": "invalid"}) == 1
    # The broken file is not re-read every few seconds; a fix is picked up.
    assert holder.reload()[0] is False
    rules.write_text(RULE.format(id="bans-fixed", severity="low"), encoding="utf-8")
    assert holder.reload()[0] is True


def test_invalid_rules_at_start_up_stop_the_service(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("rules: [{id: x, type: nonsense}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rules\.yaml"):
        RuleHolder([tmp_path], Metrics())
