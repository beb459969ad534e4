"""Exposure-aware severity: how hard a measure hits supply the United States relies on.

For each mineral of the event, points are summed from three inputs (policy in ``rules/README.md``):

1. strictness of the measure (export ban and quota 2; licence, sanction, export tax, price control 1; else 0);
2. concentration: the larger of the mining and refining shares of world supply held by the country whose
   supply the measure restricts (imposing country for export measures, target country for import
   tariffs and sanctions): >= 50 % 3 points, >= 25 % 2, >= 10 % 1;
3. U.S. net import reliance on the mineral >= 50 %: 1 point.

Sum >= 5 critical, 4 high, 3 medium, else low; the event takes the highest over its minerals; a
loosening is low. The reason string names the three inputs and their points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.records import Extraction, TaggedEvent
from monitor.records.vocabulary import SEVERITIES, UNDIRECTED_MEASURES
from monitor.rules.exposure import Exposure, load_exposure, normalise_country
from monitor.rules.schema import SeverityPolicy

_DEFAULT_POLICY = SeverityPolicy()


@dataclass(frozen=True)
class MineralScore:
    """The points of one mineral and the explanation of each input."""

    mineral: str
    points: int
    severity: str
    strictness: str
    concentration: str
    reliance: str

    def reason(self) -> str:
        """``<mineral>: <strictness>; <concentration>; <reliance>; total N -> severity``."""
        return (
            f"{self.mineral}: {self.strictness}; {self.concentration}; {self.reliance}; "
            f"total {self.points} -> {self.severity}"
        )


def effective_direction(direction: str | None) -> str:
    """The direction rules read: an extraction without one counts as a tightening."""
    return direction if direction in ("tighten", "loosen") else "tighten"


def alert_direction(measure: str, direction: str | None) -> str | None:
    """The direction an alert reports: none for a measure that has none (an investigation, a price
    control, ...), else the direction rules read (a restriction reported unchanged is still in force)."""
    return None if measure in UNDIRECTED_MEASURES else effective_direction(direction)


def level(points: int, policy: SeverityPolicy) -> str:
    """Map a sum of points to a severity with the policy's levels."""
    for name in ("critical", "high", "medium"):
        if points >= policy.levels[name]:
            return name
    return "low"


def score_mineral(
    mineral: str,
    measure: str,
    restricted_country: str | None,
    *,
    policy: SeverityPolicy,
    exposure: Exposure,
) -> MineralScore:
    """Score one mineral of a measure restricting ``restricted_country``'s supply."""
    name = exposure.canonical_mineral(mineral)
    strict = policy.strictness.get(measure, 0)  # type: ignore[call-overload]
    strictness = f"strictness of {measure} {strict}"

    share, share_source = exposure.share(name, restricted_country)
    conc = 0
    if restricted_country is None:
        concentration = "concentration: no restricted country named 0"
    elif share is None:
        via = f" (using {share_source} figures)" if share_source and share_source != name else ""
        concentration = f"concentration: no {restricted_country} share of {name} supply known{via} 0"
    else:
        for minimum, points in policy.concentration:
            if share.pct >= minimum:
                conc = points
                break
        via = f" (no {name} figures)" if share_source != name else ""
        estimate = " (estimate)" if not share.verified else ""
        concentration = (
            f"concentration: {restricted_country} {share.pct:g}% of world {share_source} {share.stage}"
            f"{via}{estimate} {conc}"
        )

    reliance, reliance_source = exposure.import_reliance(name)
    rel = 0
    if reliance is None or reliance.pct is None:
        reliance_text = f"US import reliance on {name} unknown 0"
    else:
        rel = policy.reliance_points if reliance.at_least(policy.reliance_threshold) else 0
        via = f" (no {name} figures)" if reliance_source != name else ""
        estimate = " (estimate)" if not reliance.verified else ""
        reliance_text = f"US import reliance on {reliance_source} {reliance.describe()}{via}{estimate} {rel}"

    total = strict + conc + rel
    return MineralScore(
        mineral=name,
        points=total,
        severity=level(total, policy),
        strictness=strictness,
        concentration=concentration,
        reliance=reliance_text,
    )


def severity_for(
    event: TaggedEvent | Extraction,
    policy: SeverityPolicy | None = None,
    exposure: Exposure | None = None,
    minerals: Sequence[str] | None = None,
) -> tuple[str, str]:
    """Return ``(severity, reason)`` for an event (or a bare extraction) under the exposure policy.

    ``minerals`` restricts the minerals scored (default: all the event's minerals). The severity is
    the highest over the minerals; a loosening gets ``policy.loosen`` (low) when it is set.
    """
    policy = policy or _DEFAULT_POLICY
    exposure = exposure or load_exposure()
    extraction = event.extraction if isinstance(event, TaggedEvent) else event
    measure = extraction.measure
    direction = effective_direction(extraction.direction)
    if direction == "loosen" and policy.loosen is not None:
        return policy.loosen, f"{measure} loosened: a loosening is {policy.loosen}"
    role = policy.restricted_country.get(measure, "imposing")  # type: ignore[call-overload]
    restricted = normalise_country(
        extraction.imposing_country if role == "imposing" else extraction.target_country
    )
    names: list[str] = []
    for mineral in minerals if minerals is not None else extraction.minerals:
        canonical = exposure.canonical_mineral(mineral)
        if canonical and canonical not in names:
            names.append(canonical)
    if not names:
        strict = policy.strictness.get(measure, 0)  # type: ignore[call-overload]
        severity = level(strict, policy)
        return severity, f"strictness of {measure} {strict}; no mineral named; total {strict} -> {severity}"
    scores = [score_mineral(n, measure, restricted, policy=policy, exposure=exposure) for n in names]
    best = max(scores, key=lambda s: (SEVERITIES.index(s.severity), s.points))
    reason = best.reason()
    if len(scores) > 1:
        reason += f" (highest of {len(scores)} minerals)"
    return best.severity, reason
