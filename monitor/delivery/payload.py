"""Message bodies for each channel: Standard Webhooks JSON, Slack Block Kit, Teams Adaptive Card,
Alertmanager ``/api/v2/alerts``. Pure: alerts in, bytes out (compact UTF-8 JSON).

A *digest* is one message listing a period's alerts; ``period`` is then ``(start, end)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from monitor.records import Alert

Period = tuple[datetime, datetime]

_SEVERITY_EMOJI = {
    "low": ":large_blue_circle:",
    "medium": ":large_yellow_circle:",
    "high": ":large_orange_circle:",
    "critical": ":red_circle:",
}
_SEVERITY_COLOUR = {"low": "Accent", "medium": "Warning", "high": "Attention", "critical": "Attention"}


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, the encoding of every body."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as plain JSON values (ISO 8601 dates), as the API shows it."""
    data: dict[str, Any] = json.loads(alert.dumps())
    return data


def alert_url(alert_id: str, base_url: str) -> str:
    """The API address of one alert."""
    return f"{base_url.rstrip('/')}/api/v1/alerts/{quote(alert_id, safe='')}"


def alert_links(alert: Alert, base_url: str) -> dict[str, Any]:
    """Links sent with an alert: the API resource and the evidence documents."""
    return {"self": alert_url(alert.id, base_url), "evidence": list(alert.urls)}


def event_type(alert: Alert) -> str:
    """``alert.raised`` (first revision), ``alert.updated``, ``alert.acknowledged`` or ``alert.resolved``."""
    if alert.status == "resolved":
        return "alert.resolved"
    if alert.status == "acknowledged":
        return "alert.acknowledged"
    return "alert.raised" if alert.revision <= 1 else "alert.updated"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --- Standard Webhooks ------------------------------------------------------------------------------


def webhook_body(
    alerts: Sequence[Alert], *, base_url: str, now: datetime, period: Period | None = None
) -> bytes:
    """A Standard Webhooks payload: ``{"type", "timestamp", "data"}``.

    One alert: ``data = {"alert": ..., "links": ...}``; a digest (``period`` given):
    ``data = {"period": {"start", "end"}, "alerts": [{"alert", "links"}, ...]}``.
    """
    if period is None:
        if len(alerts) != 1:
            raise ValueError("an immediate webhook message carries exactly one alert")
        alert = alerts[0]
        return dumps(
            {
                "type": event_type(alert),
                "timestamp": _iso(now),
                "data": {"alert": alert_json(alert), "links": alert_links(alert, base_url)},
            }
        )
    return dumps(
        {
            "type": "alert.digest",
            "timestamp": _iso(now),
            "data": {
                "period": {"start": _iso(period[0]), "end": _iso(period[1])},
                "alerts": [{"alert": alert_json(a), "links": alert_links(a, base_url)} for a in alerts],
            },
        }
    )


# --- Slack Block Kit --------------------------------------------------------------------------------

_SLACK_TEXT_MAX = 3000
_SLACK_HEADER_MAX = 150
_SLACK_MAX_BLOCKS = 50


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _slack_alert_section(alert: Alert, base_url: str) -> dict[str, Any]:
    facts = [
        f"*Severity:* {_SEVERITY_EMOJI.get(alert.severity, '')} {alert.severity}",
        f"*Measure:* {alert.measure}" + (f" ({alert.direction})" if alert.direction else ""),
        f"*Minerals:* {', '.join(alert.minerals) or '-'}",
        f"*Countries:* {', '.join(alert.countries) or '-'}",
        f"*Status:* {alert.status} (revision {alert.revision})",
    ]
    title = f"*<{alert_url(alert.id, base_url)}|{_slack_escape(_cut(alert.title, 200))}>*"
    summary = _slack_escape(_cut(alert.summary, 1500)) if alert.summary else ""
    text = "\n".join([title, *([summary] if summary else []), " · ".join(facts)])
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SLACK_TEXT_MAX)}}


def slack_body(alerts: Sequence[Alert], *, base_url: str, period: Period | None = None) -> bytes:
    """A Slack incoming-webhook message in Block Kit, with a plain ``text`` fallback for notifications."""
    if period is None:
        alert = alerts[0]
        header = f"{alert.severity.upper()}: {alert.title}"
        fallback = f"[{alert.severity}] {alert.title} — {alert_url(alert.id, base_url)}"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(header, _SLACK_HEADER_MAX)}},
            _slack_alert_section(alert, base_url),
        ]
        if alert.urls:
            links = " · ".join(f"<{u}|source {i}>" for i, u in enumerate(alert.urls[:10], start=1))
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(links, 2000)}]})
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open alert"},
                        "url": alert_url(alert.id, base_url),
                    }
                ],
            }
        )
        return dumps({"text": _cut(fallback, _SLACK_TEXT_MAX), "blocks": blocks})
    header = (
        f"Digest: {len(alerts)} alert(s) from {period[0]:%Y-%m-%d %H:%M} to {period[1]:%Y-%m-%d %H:%M} UTC"
    )
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": _cut(header, _SLACK_HEADER_MAX)}}]
    room = _SLACK_MAX_BLOCKS - 2
    for alert in alerts[:room]:
        blocks.append(_slack_alert_section(alert, base_url))
    if len(alerts) > room:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"… and {len(alerts) - room} more"}]}
        )
    return dumps({"text": _cut(header, _SLACK_TEXT_MAX), "blocks": blocks})


# --- Microsoft Teams (Workflows) Adaptive Card -------------------------------------------------------


def _teams_alert_items(alert: Alert, base_url: str, summary_limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"[{_cut(alert.title, 300)}]({alert_url(alert.id, base_url)})",
            "weight": "Bolder",
            "wrap": True,
            "color": _SEVERITY_COLOUR.get(alert.severity, "Default"),
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": "Severity", "value": alert.severity},
                {
                    "title": "Measure",
                    "value": alert.measure + (f" ({alert.direction})" if alert.direction else ""),
                },
                {"title": "Minerals", "value": ", ".join(alert.minerals) or "-"},
                {"title": "Countries", "value": ", ".join(alert.countries) or "-"},
                {"title": "Status", "value": f"{alert.status} (revision {alert.revision})"},
                {"title": "Updated", "value": _iso(alert.updated_at)},
            ],
        },
    ]
    if alert.summary and summary_limit > 0:
        items.append({"type": "TextBlock", "text": _cut(alert.summary, summary_limit), "wrap": True})
    return items


def _teams_card(
    alerts: Sequence[Alert], shown: int, summary_limit: int, base_url: str, period: Period | None
) -> dict[str, Any]:
    body: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    if period is not None:
        body.append(
            {
                "type": "TextBlock",
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
                "text": f"Digest: {len(alerts)} alert(s) from {period[0]:%Y-%m-%d %H:%M} "
                f"to {period[1]:%Y-%m-%d %H:%M} UTC",
            }
        )
    for alert in alerts[:shown]:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": _teams_alert_items(alert, base_url, summary_limit),
            }
        )
    if shown < len(alerts):
        body.append({"type": "TextBlock", "text": f"… and {len(alerts) - shown} more", "isSubtle": True})
    if period is None and alerts:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open alert", "url": alert_url(alerts[0].id, base_url)}
        )
        for i, url in enumerate(alerts[0].urls[:4], start=1):
            actions.append({"type": "Action.OpenUrl", "title": f"Source {i}", "url": url})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
        ],
    }


def teams_body(
    alerts: Sequence[Alert], *, base_url: str, max_bytes: int = 28_000, period: Period | None = None
) -> bytes:
    """A Teams Workflows message holding one Adaptive Card, shrunk to fit ``max_bytes``.

    Summaries are shortened first, then alerts are dropped from the end (``… and N more``).
    """
    shown = len(alerts)
    while shown >= 1:
        for summary_limit in (2000, 500, 0):
            body = dumps(_teams_card(alerts, shown, summary_limit, base_url, period))
            if len(body) <= max_bytes:
                return body
        shown = shown // 2 if shown > 8 else shown - 1
    # Even one alert is too large (huge fields): send the header alone.
    header_period = period or (alerts[0].raised_at, alerts[0].updated_at)
    return dumps(_teams_card(alerts, 0, 0, base_url, header_period))


# --- Prometheus Alertmanager -------------------------------------------------------------------------


def alertmanager_url(url: str) -> str:
    """``<url>/api/v2/alerts`` unless ``url`` already ends with it."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/api/v2/alerts"):
        path += "/api/v2/alerts"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _label_value(values: Sequence[str]) -> str:
    return ",".join(sorted(values))


def alertmanager_body(alerts: Sequence[Alert], *, base_url: str) -> bytes:
    """A ``POST /api/v2/alerts`` body: one postable alert per alert, ``endsAt`` set when resolved."""
    out: list[dict[str, Any]] = []
    for alert in alerts:
        labels = {
            "alertname": alert.rule,
            "alert_id": alert.id,
            "fingerprint": alert.fingerprint,
            "severity": alert.severity,
            "measure": alert.measure,
        }
        if alert.direction:
            labels["direction"] = alert.direction
        if alert.minerals:
            labels["minerals"] = _label_value(alert.minerals)
        if alert.countries:
            labels["countries"] = _label_value(alert.countries)
        for key, value in alert.labels.items():
            labels.setdefault(key, value)
        item: dict[str, Any] = {
            "labels": labels,
            "annotations": {
                "summary": alert.title,
                "description": alert.summary or alert.severity_reason,
                "severity_reason": alert.severity_reason,
                "evidence": " ".join(alert.urls[:10]),
            },
            "startsAt": _iso(alert.raised_at),
            "generatorURL": alert_url(alert.id, base_url),
        }
        if alert.status == "resolved":
            item["endsAt"] = _iso(alert.updated_at)
        out.append(item)
    return dumps(out)


def build_body(
    channel_type: str,
    alerts: Sequence[Alert],
    *,
    base_url: str,
    now: datetime,
    period: Period | None = None,
    teams_max_bytes: int = 28_000,
) -> bytes:
    """The body for ``channel_type`` (``webhook``, ``slack``, ``teams``, ``alertmanager``)."""
    if not alerts:
        raise ValueError("a message needs at least one alert")
    if channel_type == "webhook":
        return webhook_body(alerts, base_url=base_url, now=now, period=period)
    if channel_type == "slack":
        return slack_body(alerts, base_url=base_url, period=period)
    if channel_type == "teams":
        return teams_body(alerts, base_url=base_url, max_bytes=teams_max_bytes, period=period)
    if channel_type == "alertmanager":
        return alertmanager_body(alerts, base_url=base_url)
    raise ValueError(f"unknown channel type {channel_type!r}")
