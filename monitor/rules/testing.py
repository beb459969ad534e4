"""Rule tests, like ``promtool test rules``, and static checks of rule packs. Pure functions.

A test file (YAML) names the rule files it tests and lists cases of input events and expected alerts::

    rule_files: [../default.yaml]       # relative to the test file; default: the directory above it
    enable: [new-export-control]         # rules to enable for these tests (optional)
    tests:
      - name: two reports of one licence make one alert
        events:
          - {id: a, at: 2025-10-09T08:00:00Z, source: mofcom, minerals: [gallium],
             imposing_country: CN, measure: export_licence, direction: tighten}
          - {id: b, at: 2025-10-09T09:00:00Z, title: "China curbs gallium exports", text: "..."}
        expect:
          - {rule: supply-measure, severity: critical, minerals: [gallium], document_ids: [a, b]}

An event given as ``title``/``text`` without extraction fields is run through the extractor passed
in (``Callable[[title, text], Extraction]``); without one, the case is skipped. ``expect: []``
expects no alert. Each expected alert is a subset of alert fields; list fields compare as sets, and
``*_contains`` fields (``title_contains``, ``summary_contains``, ``severity_reason_contains``) as
substrings. Expected and raised alerts (final revisions) must pair up exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import ConfigError
from monitor.records import Alert, Extraction, TaggedEvent
from monitor.rules.conditions import aware
from monitor.rules.evaluate import evaluate
from monitor.rules.ruleset import RuleSet, rule_files
from monitor.rules.state import RuleState

Extractor = Callable[[str, str], Extraction]

_BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
_EXTRACTION_FIELDS = (
    "minerals",
    "countries",
    "imposing_country",
    "target_country",
    "measure",
    "direction",
    "effective_date",
)
_LIST_FIELDS = ("minerals", "countries", "document_ids", "sources", "urls")
_SCALAR_FIELDS = (
    "id",
    "rule",
    "severity",
    "measure",
    "direction",
    "imposing_country",
    "target_country",
    "effective_date",
    "status",
    "revision",
    "title",
    "summary",
    "severity_reason",
)
_CONTAINS_FIELDS = ("title_contains", "summary_contains", "severity_reason_contains")


def tagged_event(
    document_id: str = "doc-1",
    *,
    at: datetime,
    minerals: Sequence[str] = (),
    measure: str = "none",
    direction: str | None = None,
    imposing_country: str | None = None,
    target_country: str | None = None,
    countries: Sequence[str] | None = None,
    effective_date: str | None = None,
    source: str = "test",
    title: str = "",
    text: str = "",
    url: str | None = None,
    cluster_id: str | None = None,
    tags: dict[str, str] | None = None,
    fetched: datetime | None = None,
    extraction: Extraction | None = None,
) -> TaggedEvent:
    """Build a tagged event directly from its fields, for tests (``at`` is the published time).

    ``countries`` defaults to the imposing and target countries; ``extraction``, when given, replaces
    the extraction fields.
    """
    if extraction is None:
        named = [c for c in (imposing_country, target_country) if c] if countries is None else list(countries)
        extraction = Extraction(
            minerals=list(minerals),
            countries=named,
            imposing_country=imposing_country,
            target_country=target_country,
            measure=measure,
            direction=direction,
            effective_date=effective_date,
        )
    published = aware(at)
    return TaggedEvent(
        document_id=document_id,
        title=title,
        text=text,
        source=source,
        fetched=aware(fetched) if fetched else published,
        published=published,
        url=url,
        cluster_id=cluster_id,
        tags=dict(tags or {}),
        extraction=extraction,
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleTestEvent(_Model):
    """One input event of a case: tagged-event fields, or ``title``/``text`` for the extractor."""

    id: str | None = None
    at: datetime | None = None
    fetched: datetime | None = None
    now: datetime | None = None
    source: str = "test"
    url: str | None = None
    cluster_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    title: str = ""
    text: str = ""
    extract: bool | None = None
    minerals: list[str] | None = None
    countries: list[str] | None = None
    imposing_country: str | None = None
    target_country: str | None = None
    measure: str | None = None
    direction: str | None = None
    effective_date: str | None = None

    def needs_extractor(self) -> bool:
        """True when the extraction must come from the extractor."""
        if self.extract is not None:
            return self.extract
        given = any(name in self.model_fields_set for name in _EXTRACTION_FIELDS)
        return not given and bool(self.title or self.text)

    def to_event(self, index: int, extractor: Extractor | None) -> TaggedEvent:
        """Build the tagged event (``index`` numbers default ids and times)."""
        published = aware(self.at) if self.at else _BASE_TIME + timedelta(minutes=index)
        extraction: Extraction | None = None
        if self.needs_extractor():
            if extractor is None:
                raise LookupError("needs an extractor")
            extraction = extractor(self.title, self.text)
        return tagged_event(
            self.id or f"doc-{index + 1}",
            at=published,
            extraction=extraction,
            minerals=self.minerals or [],
            countries=self.countries,
            imposing_country=self.imposing_country,
            target_country=self.target_country,
            measure=self.measure or "none",
            direction=self.direction,
            effective_date=self.effective_date,
            source=self.source,
            title=self.title,
            text=self.text,
            url=self.url,
            cluster_id=self.cluster_id,
            tags=self.tags,
            fetched=self.fetched,
        )


class RuleTestCase(_Model):
    """A named case: events in order and the alerts expected at the end (``[]``: none)."""

    name: str
    events: list[RuleTestEvent]
    expect: list[dict[str, Any]] = Field(default_factory=list)


class RuleTestFile(_Model):
    """The top level of a rule test file."""

    rule_files: list[str] | None = None
    enable: list[str] = Field(default_factory=list)
    tests: list[RuleTestCase]


@dataclass
class CaseResult:
    """The outcome of one case; ``diff`` explains a failure, ``reason`` a skip or error."""

    file: str
    name: str
    status: Literal["passed", "failed", "skipped", "error"]
    diff: str = ""
    alerts: list[Alert] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when the case passed."""
        return self.status == "passed"


@dataclass
class RuleTestReport:
    """All case results of a run."""

    results: list[CaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no case failed or errored (skipped cases do not fail a run)."""
        return all(r.status in ("passed", "skipped") for r in self.results)

    def counts(self) -> dict[str, int]:
        """Cases per status."""
        out = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
        for result in self.results:
            out[result.status] += 1
        return out

    def format(self) -> str:
        """One line per case, the diff under each failure, and a total."""
        lines = []
        for result in self.results:
            mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "error": "ERROR"}[result.status]
            lines.append(f"{mark}  {result.file}: {result.name}")
            if result.diff:
                lines.extend(f"      {line}" for line in result.diff.splitlines())
        counts = self.counts()
        lines.append(", ".join(f"{n} {status}" for status, n in counts.items() if n or status == "passed"))
        return "\n".join(lines)


def load_test_file(path: Path) -> RuleTestFile:
    """Read and validate a rule test file; ConfigError names the file and the field."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read test file: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    try:
        return RuleTestFile.model_validate(raw)
    except ValidationError as err:
        detail = "; ".join(
            f"field {'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in err.errors()
        )
        raise ConfigError(f"{path}: {detail}") from err


def ruleset_for(path: Path, spec: RuleTestFile) -> RuleSet:
    """The rule set a test file tests: its ``rule_files`` (relative to it), else the directory above."""
    base = Path(path).parent
    paths = [base / name for name in spec.rule_files] if spec.rule_files is not None else [base.parent]
    ruleset = RuleSet.load(paths)
    return ruleset.with_enabled(spec.enable) if spec.enable else ruleset


def run_case(
    ruleset: RuleSet, case: RuleTestCase, extractor: Extractor | None = None, file: str = ""
) -> CaseResult:
    """Run one case from empty state and compare the final alerts with the expected ones."""
    try:
        events = [item.to_event(index, extractor) for index, item in enumerate(case.events)]
    except LookupError:
        return CaseResult(file, case.name, "skipped", "an event is given as text and no extractor was passed")
    states: dict[str, RuleState] = {}
    latest: dict[str, Alert] = {}
    for item, event in zip(case.events, events, strict=True):
        now = aware(item.now) if item.now else (event.published or event.fetched)
        for key in ruleset.routing_keys(event):
            state, alerts = evaluate(ruleset, states.get(key, RuleState()), event, key, now)
            states[key] = state
            for alert in alerts:
                latest[alert.id] = alert
    got = list(latest.values())
    problems = compare(case.expect, got)
    if problems:
        return CaseResult(file, case.name, "failed", problems, got)
    return CaseResult(file, case.name, "passed", "", got)


def run_test_file(path: Path, extractor: Extractor | None = None) -> list[CaseResult]:
    """Run every case of a test file; a file that cannot be loaded gives one ``error`` result."""
    try:
        spec = load_test_file(path)
        ruleset = ruleset_for(path, spec)
    except ConfigError as err:
        return [CaseResult(str(path), "(file)", "error", str(err))]
    return [run_case(ruleset, case, extractor, str(path)) for case in spec.tests]


def run_tests(paths: Sequence[Path], extractor: Extractor | None = None) -> RuleTestReport:
    """Run test files (directories: their ``*.yaml``/``*.yml``)."""
    report = RuleTestReport()
    try:
        files = rule_files(paths)
    except ConfigError as err:
        report.results.append(CaseResult(str(err).split(":")[0], "(file)", "error", str(err)))
        return report
    for path in files:
        report.results.extend(run_test_file(path, extractor))
    return report


# --- comparing alerts ---------------------------------------------------------------------------------


def _field_problems(expected: dict[str, Any], alert: Alert) -> list[str]:
    problems = []
    for name, want in expected.items():
        if name in _LIST_FIELDS:
            have = getattr(alert, name)
            want_list = [want] if isinstance(want, str) else list(want or [])
            if set(map(str, want_list)) != set(map(str, have)):
                problems.append(
                    f"{name}: expected {sorted(map(str, want_list))}, got {sorted(map(str, have))}"
                )
        elif name in _CONTAINS_FIELDS:
            attribute = name.removesuffix("_contains")
            have_text = str(getattr(alert, attribute))
            if str(want) not in have_text:
                problems.append(f"{attribute}: expected to contain {want!r}, got {have_text!r}")
        elif name == "labels":
            for key, value in dict(want or {}).items():
                if alert.labels.get(key) != str(value):
                    problems.append(f"labels.{key}: expected {value!r}, got {alert.labels.get(key)!r}")
        elif name in _SCALAR_FIELDS:
            have_value = getattr(alert, name)
            differs = have_value is not None if want is None else str(have_value) != str(want)
            if differs:
                problems.append(f"{name}: expected {want!r}, got {have_value!r}")
        else:
            problems.append(f"{name}: not an alert field that tests can check")
    return problems


def _brief(alert: Alert) -> str:
    return (
        f"rule={alert.rule} severity={alert.severity} measure={alert.measure} direction={alert.direction} "
        f"imposing={alert.imposing_country} minerals={alert.minerals} documents={alert.document_ids}"
    )


def compare(expected: Sequence[dict[str, Any]], got: Sequence[Alert]) -> str:
    """Pair expected alerts with raised ones; return a readable diff, empty when they match."""
    remaining = list(got)
    missing: list[tuple[dict[str, Any], list[str]]] = []
    for want in expected:
        match = next((alert for alert in remaining if not _field_problems(want, alert)), None)
        if match is not None:
            remaining.remove(match)
            continue
        closest = min(remaining, key=lambda a: len(_field_problems(want, a)), default=None)
        missing.append((want, _field_problems(want, closest) if closest is not None else []))
    if not missing and not remaining:
        return ""
    lines = []
    for want, problems in missing:
        lines.append(f"expected alert not raised: {want}")
        if problems:
            lines.append("  closest raised alert differs in:")
            lines.extend(f"    {problem}" for problem in problems)
    for alert in remaining:
        lines.append(f"unexpected alert: {_brief(alert)}")
    if not got and expected:
        lines.append("no alert was raised")
    return "\n".join(lines)


# --- static checks ------------------------------------------------------------------------------------


def check(paths: Sequence[Path]) -> list[str]:
    """Problems with the rule packs under ``paths``; empty when they load and look sound.

    Load errors come first (and alone). Then: unknown minerals or country codes in conditions,
    conditions that can never hold, policy overrides on fixed-severity rules, no enabled rules.
    """
    try:
        ruleset = RuleSet.load(paths)
    except ConfigError as err:
        return [str(err)]
    problems: list[str] = []
    exposure = ruleset.exposure
    for rule in ruleset.rules:
        where = f"{rule.source or '<rules>'}: rule {rule.id!r}"
        when = rule.when
        for mineral in when.minerals or []:
            if not exposure.known(mineral):
                problems.append(f"{where}: field when.minerals: unknown mineral {mineral!r}")
        for name in ("countries", "imposing_countries", "target_countries"):
            for code in getattr(when, name) or []:
                if not _known_country(code):
                    problems.append(f"{where}: field when.{name}: unknown ISO 3166-1 alpha-2 code {code!r}")
        if when.measures is not None and not set(when.measures) - set(when.exclude_measures):
            problems.append(
                f"{where}: field when.exclude_measures: excludes every measure listed, never matches"
            )
        if rule.severity != "computed" and "severity_policy" in rule.model_fields_set:
            problems.append(f"{where}: field severity_policy: ignored, severity is fixed ({rule.severity})")
        if "minerals" not in rule.group_by and rule.type == "match":
            problems.append(
                f"{where}: field group_by: without 'minerals', reports on different minerals "
                "merge into one alert"
            )
    if not ruleset.enabled:
        problems.append("no enabled rules: nothing will alert")
    return problems


def _known_country(code: str) -> bool:
    if code in {"EU", "ALL"}:
        return True
    try:
        import pycountry
    except ImportError:  # pragma: no cover - pycountry is a dependency
        return len(code) == 2
    return pycountry.countries.get(alpha_2=code) is not None
