"""The supply-risk score per mineral, from the open tightening alerts and the exposure data.

Formula (also in ``docs/metrics.md``; the gauge is ``monitor_rules_supply_risk_score{mineral}``)::

    risk(m) = max over a in A(m) of p(a, m)          (0 when A(m) is empty)

- ``A(m)``, the *active tightenings* of mineral ``m``: the latest revision of every alert id that names
  ``m``, whose status is not ``resolved``, whose direction is a tightening (``tighten``, or unset, which
  the rules read as a tightening) and that no loosening has lifted for ``m`` (below).
- ``p(a, m)``, the *exposure points* of ``m`` under alert ``a``: exactly the points the severity policy
  sums for one mineral (:func:`monitor.rules.severity.score_mineral`): strictness of the measure (0-2)
  + concentration of the restricted country's share of world mining or refining (0-3) + U.S. net import
  reliance of at least 50 % (0-1). The score therefore runs from 0 to 6 and reads on the severity scale
  of the default policy: >= 5 critical, 4 high, 3 medium.
- *Lifting*: a loosening alert (direction ``loosen``, not resolved) that names ``m`` and imposing country
  ``c`` lifts every tightening on ``m`` imposed by ``c`` whose ``updated_at`` is not later than the
  loosening's, whatever the measure; this mirrors the rules' de-escalation ladder, which forgets the
  active measure of (country, mineral) on a loosening. A tightening updated after the loosening counts
  again. A loosening without an imposing country lifts nothing (we cannot tell whose measure it ends).

Why the maximum and not a sum: one real-world measure often yields several alerts (several rules,
several sources), and a sum would count it several times; the maximum is the exposure of the worst
measure in force, on the same scale as the alert severities. It is also decomposable: each worker only
sees the alerts of its partitions, and ``max by (mineral) (monitor_rules_supply_risk_score)`` over the
workers equals the score computed over all alerts (as long as a loosening and the tightening it lifts
meet in one worker; seed the tracker from the store, see :meth:`RiskTracker.reset`, for exact lifting).

:func:`supply_risk` is pure (no metrics, no I/O); :class:`RiskTracker` keeps the latest revision of each
alert seen by the notify stage and sets the gauges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.records import SEVERITIES, Alert
from monitor.rules.exposure import Exposure, load_exposure, normalise_country
from monitor.rules.schema import SeverityPolicy
from monitor.rules.severity import effective_direction, score_mineral

if TYPE_CHECKING:  # the pure function needs no prometheus_client
    from monitor.observability.metrics import Metrics

#: The highest score the default policy can give (strictness 2 + concentration 3 + reliance 1).
MAX_SCORE = 6.0

_DEFAULT_POLICY = SeverityPolicy()


@dataclass(frozen=True)
class MineralRisk:
    """The score of one mineral and the alert that sets it (for explanations and tests)."""

    mineral: str
    score: float
    alert_id: str | None
    active: int


def latest_revisions(alerts: Iterable[Alert]) -> dict[str, Alert]:
    """The highest revision of each alert id (the later one wins a tie: it may carry a new status)."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        current = latest.get(alert.id)
        if current is None or alert.revision >= current.revision:
            latest[alert.id] = alert
    return latest


def is_open(alert: Alert) -> bool:
    """True unless the alert is resolved (``firing`` and ``acknowledged`` are open)."""
    return alert.status != "resolved"


def is_tightening(alert: Alert) -> bool:
    """True for a tightening; an alert without a direction counts as one (as the rules read it)."""
    return effective_direction(alert.direction) == "tighten"


def _restricted_country(alert: Alert, policy: SeverityPolicy) -> str | None:
    roles: Mapping[Any, str] = policy.restricted_country  # keys are Measure literals
    role = roles.get(alert.measure, "imposing")
    return normalise_country(alert.imposing_country if role == "imposing" else alert.target_country)


def _lifts(loosenings: list[Alert], mineral: str, alert: Alert, exposure: Exposure) -> bool:
    country = normalise_country(alert.imposing_country)
    if country is None:
        return False
    for loosening in loosenings:
        if normalise_country(loosening.imposing_country) != country:
            continue
        if loosening.updated_at < alert.updated_at:
            continue
        if mineral in {exposure.canonical_mineral(m) for m in loosening.minerals}:
            return True
    return False


def explain_supply_risk(
    alerts: Iterable[Alert],
    *,
    policy: SeverityPolicy | None = None,
    exposure: Exposure | None = None,
) -> dict[str, MineralRisk]:
    """Score every mineral named by an active tightening, with the alert that sets its score.

    ``alerts`` may hold several revisions of one alert and resolved or loosening alerts: only the
    latest revision of each id is read, and the formula of the module docstring applies.
    """
    policy = policy or _DEFAULT_POLICY
    exposure = exposure or load_exposure()
    latest = [a for a in latest_revisions(alerts).values() if is_open(a)]
    loosenings = [a for a in latest if not is_tightening(a)]
    result: dict[str, MineralRisk] = {}
    # Sorted by id so that the alert named on a tie does not depend on arrival order.
    for alert in sorted((a for a in latest if is_tightening(a)), key=lambda a: a.id):
        restricted = _restricted_country(alert, policy)
        for name in dict.fromkeys(exposure.canonical_mineral(m) for m in alert.minerals):
            if not name or _lifts(loosenings, name, alert, exposure):
                continue
            points = float(
                score_mineral(name, alert.measure, restricted, policy=policy, exposure=exposure).points
            )
            best = result.get(name)
            if best is None:
                result[name] = MineralRisk(name, points, alert.id, 1)
            elif points > best.score:
                result[name] = MineralRisk(name, points, alert.id, best.active + 1)
            else:
                result[name] = MineralRisk(name, best.score, best.alert_id, best.active + 1)
    return result


def supply_risk(
    open_alerts: Iterable[Alert],
    *,
    policy: SeverityPolicy | None = None,
    exposure: Exposure | None = None,
) -> dict[str, float]:
    """The supply-risk score of every mineral named by an active tightening (0.0 to 6.0).

    Minerals without an active tightening are absent (their score is 0). See the module docstring.
    """
    scored = explain_supply_risk(open_alerts, policy=policy, exposure=exposure)
    return {mineral: risk.score for mineral, risk in sorted(scored.items())}


def open_alert_counts(alerts: Iterable[Alert]) -> dict[str, int]:
    """Alerts not resolved (latest revision of each id), per severity; every severity is present."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for alert in latest_revisions(alerts).values():
        if is_open(alert) and alert.severity in counts:
            counts[alert.severity] += 1
    return counts


class RiskTracker:
    """Keeps the latest revision of each alert the notify stage sees and sets the risk gauges.

    Call :meth:`observe` for every alert (or use the tracker itself as an alert sink: ``await
    tracker(alert)``). It sets ``monitor_rules_supply_risk_score{mineral}`` for every mineral it has
    scored (a mineral whose last tightening was resolved or lifted goes back to 0, its series stays)
    and, when ``count_open_alerts`` is true, ``monitor_rules_open_alerts{severity}`` from the alerts it
    has seen. Pass ``count_open_alerts=False`` when the delivery dispatcher is wired: it sets that gauge
    from the store, which also sees resolutions made through the API, and two writers would fight.

    Memory is bounded by ``max_alerts``: beyond it, resolved alerts are forgotten first, then the
    least recently updated ones.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        policy: SeverityPolicy | None = None,
        exposure: Exposure | None = None,
        count_open_alerts: bool = True,
        max_alerts: int = 50_000,
    ) -> None:
        self.metrics = metrics
        self.policy = policy or _DEFAULT_POLICY
        self.exposure = exposure or load_exposure()
        self.count_open_alerts = count_open_alerts
        self.max_alerts = max_alerts
        self._alerts: dict[str, Alert] = {}
        self._reported: set[str] = set()

    def __len__(self) -> int:
        return len(self._alerts)

    async def __call__(self, alert: Alert) -> None:
        """Alert-sink form of :meth:`observe`, for ``RunOptions.sinks``."""
        self.observe(alert)

    def observe(self, alert: Alert, *, publish: bool = True) -> None:
        """Record one alert revision (an older revision than the one kept is ignored) and update the
        gauges, now or (``publish=False``) at the next :meth:`publish`."""
        current = self._alerts.get(alert.id)
        if current is not None and alert.revision < current.revision:
            return
        self._alerts[alert.id] = alert
        self._bound()
        if publish:
            self.publish()

    def forget(self, alert_id: str) -> None:
        """Drop an alert (e.g. deleted from the store) and update the gauges."""
        if self._alerts.pop(alert_id, None) is not None:
            self.publish()

    def reset(self, alerts: Iterable[Alert]) -> None:
        """Replace everything with ``alerts`` (e.g. the store's open alerts at start-up) and publish."""
        self._alerts = latest_revisions(alerts)
        self._bound()
        self.publish()

    def scores(self) -> dict[str, float]:
        """The current score per mineral named by an active tightening."""
        return supply_risk(self._alerts.values(), policy=self.policy, exposure=self.exposure)

    def open_counts(self) -> dict[str, int]:
        """Open alerts per severity among those seen."""
        return open_alert_counts(self._alerts.values())

    def publish(self) -> None:
        """Set the gauges from the current state."""
        scores = self.scores()
        for mineral in sorted(self._reported | set(scores)):
            self.metrics.supply_risk.labels(mineral=mineral).set(scores.get(mineral, 0.0))
        self._reported |= set(scores)
        if self.count_open_alerts:
            for severity, count in self.open_counts().items():
                self.metrics.open_alerts.labels(severity=severity).set(count)

    def _bound(self) -> None:
        excess = len(self._alerts) - self.max_alerts
        if excess <= 0:
            return
        order = sorted(self._alerts.values(), key=lambda a: (is_open(a), a.updated_at))
        for alert in order[:excess]:
            del self._alerts[alert.id]
