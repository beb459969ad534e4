"""RuleSet.load: all or nothing, errors naming file, rule and field; digest; check()."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.rules import RuleSet, ruleset_digest
from monitor.rules.testing import check

GOOD = """
rules:
  - id: bans
    description: bans on critical minerals
    when: {measures: [export_ban], critical: true}
    severity: computed
    suppress_for: 7d
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_pack_loads(default_pack):
    assert [r.id for r in default_pack.enabled] == ["supply-measure", "investigation"]
    assert all(r.source.endswith("default.yaml") for r in default_pack.rules)
    assert len(default_pack.digest) == 64


def test_default_pack_checks_clean():
    root = Path(__file__).resolve().parents[3]
    assert check([root / "rules"]) == []


def test_directory_loads_yaml_files_not_tests(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    (tmp_path / "tests").mkdir()
    write(tmp_path / "tests", "t.yaml", "tests: []")
    write(tmp_path, "notes.txt", "not a rule")
    ruleset = RuleSet.load([tmp_path])
    assert [r.id for r in ruleset.rules] == ["bans"]
    assert ruleset.rules[0].suppress_for.days == 7


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("rules:\n  - id: x\n    type: sometimes\n", ["rule 'x'", "field type"]),
        ("rules:\n  - id: x\n    when: {measures: [export_bann]}\n", ["rule 'x'", "field when.measures.0"]),
        ("rules:\n  - id: x\n    severity: severe\n", ["rule 'x'", "field severity"]),
        (
            "rules:\n  - id: x\n    suppress_for: soon\n",
            ["rule 'x'", "field suppress_for", "invalid duration"],
        ),
        (
            "rules:\n  - id: x\n    when: {text: {regex: '('}}\n",
            ["rule 'x'", "field when.text", "invalid regex"],
        ),
        ("rules:\n  - id: x\n    wen: {}\n", ["rule 'x'", "field wen", "Extra inputs"]),
        ("rules:\n  - id: x\n    route_by: [source]\n", ["rule 'x'", "route_by"]),
        (
            "rules:\n  - id: x\n    threshold: {count: 2}\n",
            ["rule 'x'", "threshold: only for rules of type threshold"],
        ),
        ("rules:\n  - description: no id\n", ["rule #1", "field id"]),
        ("rules: {id: x}\n", ["field rules"]),
        ("rulez: []\n", ["unknown top-level"]),
        ("rules:\n  - id: x\n  - id: x\n", ["rule 'x'", "field id: duplicate"]),
        ("rules: [\n", ["invalid YAML"]),
    ],
)
def test_errors_name_file_rule_and_field(tmp_path, text, needles):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        RuleSet.load([path])
    message = str(info.value)
    assert message.startswith(str(path))
    for needle in needles:
        assert needle in message


def test_one_bad_file_fails_the_whole_set(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "rules:\n  - id: other\n    severity: nope\n")
    with pytest.raises(ConfigError, match=r"b\.yaml"):
        RuleSet.load([tmp_path])


def test_duplicate_ids_across_files_name_both(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)
    with pytest.raises(ConfigError) as info:
        RuleSet.load([tmp_path])
    assert "b.yaml" in str(info.value) and "a.yaml" in str(info.value)


def test_missing_path(tmp_path):
    with pytest.raises(ConfigError, match="no such rule file"):
        RuleSet.load([tmp_path / "nope.yaml"])


def test_digest_changes_with_content(tmp_path):
    path = write(tmp_path, "a.yaml", GOOD)
    first = ruleset_digest([tmp_path])
    assert ruleset_digest([tmp_path]) == first
    path.write_text(GOOD.replace("7d", "8d"), encoding="utf-8")
    assert ruleset_digest([tmp_path]) != first
    assert ruleset_digest([tmp_path / "missing"]) != first  # never raises


def test_check_reports_soft_problems(tmp_path):
    write(
        tmp_path,
        "a.yaml",
        """
rules:
  - id: odd
    enabled: false
    when:
      minerals: [unobtainium]
      imposing_countries: [XX]
      measures: [export_ban]
      exclude_measures: [export_ban]
    severity: low
    severity_policy: {reliance_points: 2}
    group_by: [imposing_country]
""",
    )
    problems = check([tmp_path])
    text = "\n".join(problems)
    assert "unknown mineral 'unobtainium'" in text
    assert "unknown ISO 3166-1 alpha-2 code 'XX'" in text
    assert "never matches" in text
    assert "field severity_policy: ignored" in text
    assert "field group_by" in text
    assert "no enabled rules" in text
    assert all(p.startswith(str(tmp_path)) for p in problems[:-1])


def test_check_returns_load_error(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: x\n    type: nope\n")
    [problem] = check([tmp_path])
    assert "field type" in problem
