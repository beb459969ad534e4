"""Exposure-aware severity: the policy of rules/README.md on the figures of monitor/data."""

from __future__ import annotations

import pytest

from monitor.records import Extraction
from monitor.rules import SeverityPolicy, load_exposure, severity_for


def _extraction(minerals, measure="export_licence", imposing="CN", target=None, direction="tighten"):
    return Extraction(
        minerals=minerals,
        measure=measure,
        imposing_country=imposing,
        target_country=target,
        direction=direction,
    )


@pytest.mark.parametrize(
    ("minerals", "measure", "imposing", "target", "expected"),
    [
        (["gallium"], "export_licence", "CN", None, "critical"),  # 1 + 3 + 1
        (["antimony"], "export_licence", "CN", None, "high"),  # 1 + 2 (33.6 %) + 1
        (["antimony"], "export_ban", "CN", None, "critical"),  # 2 + 2 + 1
        (["lithium"], "export_ban", "ZW", None, "medium"),  # 2 + 0 (9 %) + 1 (>50)
        (["nickel"], "export_ban", "ID", None, "critical"),  # 2 + 3 + 0 (43 %)
        (["graphite"], "import_tariff", "US", "CN", "high"),  # 0 + 3 (target CN) + 1
        (["palladium"], "sanction", "US", "RU", "medium"),  # 1 + 2 + 0
        (["copper"], "export_tax", "CL", None, "low"),  # 1 + 0 (no CL refinery share above 10) + 0 (45 %)
        (["silicon"], "export_ban", "CN", None, "critical"),  # 2 + 3 + 0 ("<50" never counts)
        (["beryllium"], "export_ban", "US", None, "critical"),  # 2 + 3 + 0 (net exporter)
        (["tungsten"], "technology_ban", "CN", None, "high"),  # 0 + 3 + 1 (">50" counts)
        (
            ["gallium"],
            "investigation",
            "US",
            "CN",
            "high",
        ),  # policy on its own; the default pack fixes it low
    ],
)
def test_default_policy_points(minerals, measure, imposing, target, expected):
    severity, reason = severity_for(_extraction(minerals, measure, imposing, target))
    assert severity == expected, reason


def test_reason_names_the_three_inputs_and_their_points():
    _, reason = severity_for(_extraction(["gallium"]))
    assert "strictness of export_licence 1" in reason
    assert "CN 98.9% of world gallium refining 3" in reason
    assert "US import reliance on gallium 100% 1" in reason
    assert reason.endswith("total 5 -> critical")


def test_rare_earth_element_without_figures_uses_rare_earths():
    severity, reason = severity_for(_extraction(["holmium"]))
    assert severity == "critical"
    assert "world rare earths" in reason and "(no holmium figures)" in reason


def test_rare_earth_element_with_own_figures_uses_them():
    _, reason = severity_for(_extraction(["dysprosium"]))
    assert "of world dysprosium refining (estimate)" in reason


def test_unverified_figures_are_used_and_marked_estimates():
    severity, reason = severity_for(_extraction(["cobalt"], "export_licence", "CN"))
    assert severity == "critical"  # CN 78 % cobalt refining (verified=no) still counts
    assert "(estimate)" in reason


def test_highest_over_minerals():
    severity, reason = severity_for(_extraction(["zinc", "gallium"]))
    assert severity == "critical"
    assert reason.startswith("gallium:") and "highest of 2 minerals" in reason


def test_loosening_is_low():
    assert severity_for(_extraction(["gallium"], "export_ban", direction="loosen"))[0] == "low"


def test_missing_direction_counts_as_tightening():
    assert severity_for(_extraction(["gallium"], "export_ban", direction=None))[0] == "critical"


def test_unknown_country_and_mineral_score_zero():
    severity, reason = severity_for(_extraction(["unobtainium"], "export_ban", None))
    assert severity == "low"
    assert "no restricted country named 0" in reason and "unknown 0" in reason


def test_target_all_is_no_country():
    severity, _ = severity_for(_extraction(["graphite"], "import_tariff", "US", "ALL"))
    assert severity == "low"  # 0 + 0 + 1


def test_policy_overrides_merge_over_defaults():
    policy = SeverityPolicy.model_validate({"strictness": {"import_tariff": 2}, "loosen": None})
    assert policy.strictness["export_ban"] == 2
    assert severity_for(_extraction(["graphite"], "import_tariff", "US", "CN"), policy)[0] == "critical"
    assert severity_for(_extraction(["gallium"], "export_ban", direction="loosen"), policy)[0] == "critical"


def test_aliases_resolve_to_canonical_names():
    exposure = load_exposure()
    assert exposure.canonical_mineral("Aluminium") == "aluminum"
    assert exposure.canonical_mineral("bauxite") == "aluminum"
    assert exposure.is_critical("gallium")
    assert not exposure.is_critical("molybdenum")
    assert not exposure.is_critical("gold")


def test_reliance_bounds():
    exposure = load_exposure()
    lithium, _ = exposure.import_reliance("lithium")
    silicon, _ = exposure.import_reliance("silicon")
    boron, _ = exposure.import_reliance("boron")
    assert lithium is not None and lithium.at_least(50) and lithium.describe() == ">50%"
    assert silicon is not None and not silicon.at_least(50)
    assert boron is not None and not boron.at_least(0.0) and boron.describe() == "net exporter"
