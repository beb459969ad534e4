"""Subscription filters and alert queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from monitor.delivery.matching import AlertQuery, subscription_matches
from monitor.delivery.subscription import SubscriptionFilters, SubscriptionSpec
from monitor.delivery.testing import make_alert


def test_empty_filters_match_everything() -> None:
    assert subscription_matches(SubscriptionFilters(), make_alert(severity="low"))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"minerals": ["Gallium"]}, True),
        ({"minerals": ["lithium"]}, False),
        ({"countries": ["cn"]}, True),
        ({"countries": ["US"]}, False),
        ({"measures": ["export_ban", "export_quota"]}, True),
        ({"measures": ["sanction"]}, False),
        ({"min_severity": "high"}, True),
        ({"min_severity": "critical"}, False),
        ({"directions": ["tighten"]}, True),
        ({"directions": ["loosen"]}, False),
    ],
)
def test_each_filter(filters: dict[str, object], expected: bool) -> None:
    alert = make_alert(severity="high", countries=[], imposing_country="CN")  # country from imposing_country
    assert subscription_matches(SubscriptionFilters.model_validate(filters), alert) is expected


def test_query_bounds_and_status() -> None:
    t = datetime(2025, 1, 2, tzinfo=UTC)
    alert = make_alert(updated_at=t)
    assert AlertQuery(since=t, until=t).matches(alert)
    assert not AlertQuery(since=datetime(2025, 1, 3, tzinfo=UTC)).matches(alert)
    assert AlertQuery(statuses=("acknowledged",)).matches(alert, status="acknowledged")
    assert not AlertQuery(statuses=("resolved",)).matches(alert)


def test_spec_validation_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        SubscriptionSpec.model_validate(
            {"name": "x", "channel": {"type": "webhook", "url": "https://x", "secret": "s"}}
        )
    assert err.value.errors()[0]["loc"][-1] == "secret"
    with pytest.raises(ValidationError):
        SubscriptionSpec.model_validate({"name": "x", "channel": {"type": "pager", "url": "https://x"}})
    with pytest.raises(ValidationError):
        SubscriptionFilters.model_validate({"countries": ["China"]})
