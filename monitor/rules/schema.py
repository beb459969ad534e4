"""The rule file schema: pydantic models validated when a rule file is loaded, never at the first alert.

A rule file is a YAML mapping with a ``rules`` list (see ``rules/README.md``)::

    rules:
      - id: supply-measure
        type: match                       # match | threshold | first_seen | escalation | de_escalation
        when: {measures: [export_ban], critical: true}
        severity: computed                # or low | medium | high | critical
        group_by: [imposing_country, measure, direction, minerals]
        suppress_for: 30d
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.records.vocabulary import Measure, Severity

RuleType = Literal["match", "threshold", "first_seen", "escalation", "de_escalation"]
#: Labels a rule can group by. ``minerals`` is special: events join a group when their minerals overlap.
GroupLabel = Literal[
    "imposing_country",
    "target_country",
    "measure",
    "measure_family",
    "direction",
    "source",
    "cluster",
    "minerals",
]
#: Labels a first-seen combination can use; ``mineral`` gives one combination per mineral of the event.
ComboLabel = Literal[
    "imposing_country", "target_country", "measure", "measure_family", "direction", "source", "mineral"
]
CountryRole = Literal["imposing", "target"]
CriticalList = Literal["usgs_2022", "usgs_2025", "eu_2023_critical", "eu_2023_strategic"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)\s*$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> Any:
    """Turn ``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or a number of seconds into a timedelta.

    Other values are returned unchanged so that pydantic reports them.
    """
    if isinstance(value, bool):
        return value
    try:
        if isinstance(value, int | float):
            return timedelta(seconds=value)
        if isinstance(value, str):
            match = _DURATION.match(value)
            if match:
                return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    except OverflowError as err:  # 1e300, .inf, 10**20: no timedelta holds it
        raise ValueError(f"invalid duration {value!r}: too large (at most 999999999 days)") from err
    if isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: use a number and a unit, e.g. 30d, 12h, 90m, 45s, 2w")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Default strictness points of the exposure policy (rules/README.md).
DEFAULT_STRICTNESS: dict[str, int] = {
    "export_ban": 2,
    "export_quota": 2,
    "export_licence": 1,
    "sanction": 1,
    "export_tax": 1,
    "price_control": 1,
    "import_tariff": 0,
    "technology_ban": 0,
    "investigation": 0,
    "stockpile": 0,
    "partnership": 0,
    "none": 0,
}
#: Whose supply a measure restricts: the imposing country for export-side measures, the target otherwise.
DEFAULT_RESTRICTED: dict[str, CountryRole] = {
    "export_ban": "imposing",
    "export_quota": "imposing",
    "export_licence": "imposing",
    "export_tax": "imposing",
    "technology_ban": "imposing",
    "price_control": "imposing",
    "stockpile": "imposing",
    "partnership": "imposing",
    "none": "imposing",
    "import_tariff": "target",
    "sanction": "target",
    "investigation": "target",
}


class SeverityPolicy(_Model):
    """The exposure-aware severity policy; a rule may override any part of it.

    Points = strictness of the measure + concentration of the restricted country's supply + U.S. import
    reliance; the levels map the sum to a severity. Partial ``strictness`` and ``restricted_country``
    maps are merged over the defaults.
    """

    strictness: dict[Measure, int] = Field(default_factory=lambda: dict(DEFAULT_STRICTNESS))  # type: ignore[arg-type]
    restricted_country: dict[Measure, CountryRole] = Field(
        default_factory=lambda: dict(DEFAULT_RESTRICTED)  # type: ignore[arg-type]
    )
    #: (minimum share in percent, points), checked from the top.
    concentration: list[tuple[float, int]] = Field(default_factory=lambda: [(50.0, 3), (25.0, 2), (10.0, 1)])
    reliance_threshold: float = 50.0
    reliance_points: int = 1
    #: Minimum points for each severity above ``low``.
    levels: dict[Literal["medium", "high", "critical"], int] = Field(
        default_factory=lambda: {"medium": 3, "high": 4, "critical": 5}  # type: ignore[arg-type]
    )
    #: Severity of a loosening measure; None computes it like a tightening.
    loosen: Severity | None = "low"

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("strictness"), dict):
                data["strictness"] = {**DEFAULT_STRICTNESS, **data["strictness"]}
            if isinstance(data.get("restricted_country"), dict):
                data["restricted_country"] = {**DEFAULT_RESTRICTED, **data["restricted_country"]}
            if isinstance(data.get("levels"), dict):
                data["levels"] = {"medium": 3, "high": 4, "critical": 5, **data["levels"]}
        return data

    @field_validator("concentration")
    @classmethod
    def _sorted(cls, value: list[tuple[float, int]]) -> list[tuple[float, int]]:
        return sorted(value, key=lambda item: -item[0])


class TextMatch(_Model):
    """Match on the event's title and text: a regular expression, or any of the keywords (whole words)."""

    regex: str | None = None
    keywords: list[str] = Field(default_factory=list)
    fields: list[Literal["title", "text"]] = Field(default_factory=lambda: ["title", "text"])  # type: ignore[arg-type]
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> TextMatch:
        if not self.regex and not self.keywords:
            raise ValueError("give a regex or keywords")
        try:
            # The combined pattern, as evaluation compiles it: "(?i)x" is valid alone, not in "(?:...)".
            self.pattern()
        except (re.error, OverflowError, RecursionError) as err:  # a{99999999999}: OverflowError
            raise ValueError(f"invalid regex {self.regex!r}: {err}") from err
        return self

    def pattern(self) -> re.Pattern[str]:
        """The compiled pattern (keywords become one alternation of whole words)."""
        flags = 0 if self.case_sensitive else re.IGNORECASE
        parts = []
        if self.regex:
            parts.append(f"(?:{self.regex})")
        if self.keywords:
            parts.append(r"\b(?:" + "|".join(re.escape(k) for k in self.keywords) + r")\b")
        return re.compile("|".join(parts), flags)


class Conditions(_Model):
    """What a tagged event must look like for a rule to consider it. Every given condition must hold.

    List conditions hold when the event has any of the listed values. ``directions`` may list
    ``none`` for events whose extraction gave no direction (they otherwise count as tightenings).
    """

    measures: list[Measure] | None = None
    exclude_measures: list[Measure] = Field(default_factory=list)
    directions: list[Literal["tighten", "loosen", "none"]] | None = None
    minerals: list[str] | None = None
    #: At least one named mineral is critical (on one of ``critical_lists``, all lists by default).
    critical: bool = False
    critical_lists: list[CriticalList] | None = None
    countries: list[str] | None = None
    imposing_countries: list[str] | None = None
    target_countries: list[str] | None = None
    sources: list[str] | None = None
    tags: dict[str, list[str]] = Field(default_factory=dict)
    text: TextMatch | None = None
    exclude_text: TextMatch | None = None

    @field_validator("countries", "imposing_countries", "target_countries")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [v.strip().upper() for v in value]

    @field_validator("minerals")
    @classmethod
    def _lower(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [v.strip().lower() for v in value]

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value


class ThresholdSpec(_Model):
    """At least ``count`` events (or distinct sources / clusters) per group within a sliding ``window``."""

    count: int = Field(2, ge=1)
    distinct: Literal["documents", "sources", "clusters"] = "documents"
    window: timedelta = timedelta(days=7)

    _duration = field_validator("window", mode="before")(parse_duration)


class FirstSeenSpec(_Model):
    """A combination of labels not seen within ``lookback``; ``mineral`` gives one per mineral."""

    combination: list[ComboLabel] = Field(
        default_factory=lambda: ["imposing_country", "mineral", "measure"]  # type: ignore[arg-type]
    )
    lookback: timedelta = timedelta(days=365)

    _duration = field_validator("lookback", mode="before")(parse_duration)


#: Default strictness ladder of escalation rules: a move up the ladder is an escalation.
DEFAULT_LADDER: dict[str, int] = {"export_tax": 1, "export_licence": 2, "export_quota": 3, "export_ban": 4}


class EscalationSpec(_Model):
    """Escalation and de-escalation: measures on the same imposing country and mineral over ``lookback``.

    Only measures on the ``ladder`` take part. ``escalation`` fires when a tightening is higher on the
    ladder than the strictest active tightening; ``de_escalation`` fires on a loosening while a
    tightening is active.
    """

    ladder: dict[Measure, int] = Field(default_factory=lambda: dict(DEFAULT_LADDER))  # type: ignore[arg-type]
    lookback: timedelta = timedelta(days=365)

    _duration = field_validator("lookback", mode="before")(parse_duration)


class Rule(_Model):
    """One alerting rule, validated at load. ``source`` is the file it came from (set by the loader)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
    description: str = ""
    enabled: bool = True
    type: RuleType = "match"
    when: Conditions = Field(default_factory=Conditions)
    severity: Literal["computed", "low", "medium", "high", "critical"] = "computed"
    severity_policy: SeverityPolicy = Field(default_factory=SeverityPolicy)
    labels: dict[str, str] = Field(default_factory=dict)
    group_by: list[GroupLabel] = Field(
        default_factory=lambda: ["imposing_country", "measure", "direction", "minerals"]  # type: ignore[arg-type]
    )
    #: The labels of the partition key; default: the scalar labels of ``group_by``. Must be a subset.
    route_by: list[GroupLabel] | None = None
    suppress_for: timedelta = timedelta(days=30)
    threshold: ThresholdSpec | None = None
    first_seen: FirstSeenSpec | None = None
    escalation: EscalationSpec | None = None
    #: Evidence kept per alert; further reports still extend nothing once it is full.
    max_evidence: int = Field(500, ge=1, le=100_000)
    source: str = Field("", exclude=True)

    _duration = field_validator("suppress_for", mode="before")(parse_duration)

    @field_validator("labels", mode="before")
    @classmethod
    def _label_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("group_by: a label is listed twice")
        if self.route_by is not None:
            extra = [label for label in self.route_by if label not in self.group_by or label == "minerals"]
            if extra:
                raise ValueError(
                    f"route_by: {extra} must be scalar labels of group_by "
                    "(events of one group must share a key)"
                )
        if self.type == "threshold" and self.threshold is None:
            object.__setattr__(self, "threshold", ThresholdSpec.model_validate({}))
        if self.type == "first_seen" and self.first_seen is None:
            object.__setattr__(self, "first_seen", FirstSeenSpec.model_validate({}))
        if self.type in ("escalation", "de_escalation") and self.escalation is None:
            object.__setattr__(self, "escalation", EscalationSpec.model_validate({}))
        for name, wanted in (("threshold", "threshold"), ("first_seen", "first_seen")):
            if getattr(self, name) is not None and self.type != wanted:
                raise ValueError(f"{name}: only for rules of type {wanted}, this rule is {self.type}")
        if self.escalation is not None and self.type not in ("escalation", "de_escalation"):
            raise ValueError(
                f"escalation: only for escalation and de_escalation rules, this rule is {self.type}"
            )
        if self.suppress_for <= timedelta(0):
            raise ValueError("suppress_for: must be positive")
        return self

    @property
    def routing_labels(self) -> tuple[str, ...]:
        """The labels of this rule's partition key."""
        if self.route_by is not None:
            return tuple(self.route_by)
        return tuple(label for label in self.group_by if label != "minerals")

    @property
    def scalar_group_labels(self) -> tuple[str, ...]:
        """The grouping labels that take one value per event (all but ``minerals``)."""
        return tuple(label for label in self.group_by if label != "minerals")

    @property
    def horizon(self) -> timedelta:
        """How long this rule needs state: its suppression and its window or lookback."""
        spans = [self.suppress_for]
        if self.threshold is not None:
            spans.append(self.threshold.window)
        if self.first_seen is not None:
            spans.append(self.first_seen.lookback)
        if self.escalation is not None:
            spans.append(self.escalation.lookback)
        return max(spans)


class RuleFile(_Model):
    """The top level of a rule file."""

    rules: list[dict[str, Any]] = Field(default_factory=list)
