"""Query-string parsing shared by the listing and streaming routes; errors are 400s naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from multidict import MultiMapping

from monitor.api.errors import api_error
from monitor.delivery.matching import AlertQuery
from monitor.records import ALERT_STATUSES, MEASURES, SEVERITIES


def multi(query: MultiMapping[str], name: str) -> tuple[str, ...]:
    """Values of a repeatable parameter, also accepting comma-separated lists."""
    out: list[str] = []
    for raw in query.getall(name, []):
        out.extend(v.strip() for v in raw.split(",") if v.strip())
    return tuple(out)


def timestamp(query: MultiMapping[str], name: str) -> datetime | None:
    """An ISO 8601 parameter (naive values are taken as UTC)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as err:
        raise api_error(400, "invalid", f"{name}: not an ISO 8601 date-time: {raw!r}", field=name) from err
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def limit(query: MultiMapping[str], *, default: int = 50, maximum: int = 500) -> int:
    """The page size."""
    raw = query.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise api_error(400, "invalid", f"limit: not an integer: {raw!r}", field="limit") from err
    if not 1 <= value <= maximum:
        raise api_error(400, "invalid", f"limit: must be between 1 and {maximum}", field="limit")
    return value


def _closed(values: tuple[str, ...], allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise api_error(400, "invalid", f"{name}: unknown {bad}; expected any of {list(allowed)}", field=name)
    return values


def alert_query(request: web.Request) -> AlertQuery:
    """The alert filters: ``mineral``, ``country``, ``measure``, ``severity`` (at least), ``since``,
    ``until`` and ``status``."""
    q = request.query
    severity = q.get("severity") or None
    if severity is not None and severity not in SEVERITIES:
        raise api_error(400, "invalid", f"severity: expected one of {list(SEVERITIES)}", field="severity")
    return AlertQuery(
        minerals=tuple(v.lower() for v in multi(q, "mineral")),
        countries=tuple(v.upper() for v in multi(q, "country")),
        measures=_closed(multi(q, "measure"), MEASURES, "measure"),
        min_severity=severity,
        since=timestamp(q, "since"),
        until=timestamp(q, "until"),
        statuses=_closed(multi(q, "status"), ALERT_STATUSES, "status"),
    )
