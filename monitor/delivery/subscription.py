"""What a subscription asks for: filters, a channel and a delivery mode; validated when it is created.

These models are the API's request bodies and the store's JSON column; every field is untrusted,
so validation errors name the field (``channel.url``, ``delivery.timezone`` ...).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.records import DIRECTIONS, MEASURES, SEVERITIES

_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/]{22,}={0,2}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number in 0..65535)
    except ValueError as err:
        raise ValueError(f"invalid port: {err}") from err
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubscriptionFilters(_Strict):
    """Which alerts a subscription wants. Empty lists match everything; lists are any-of."""

    minerals: list[str] = Field(default_factory=list, max_length=200)
    countries: list[str] = Field(default_factory=list, max_length=300)
    measures: list[str] = Field(default_factory=list, max_length=len(MEASURES))
    min_severity: str = "low"
    directions: list[str] = Field(default_factory=list, max_length=len(DIRECTIONS))

    @field_validator("minerals")
    @classmethod
    def _minerals(cls, value: list[str]) -> list[str]:
        return [m.strip().lower() for m in value if m.strip()]

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        out = [c.strip().upper() for c in value]
        bad = [c for c in out if not _COUNTRY_RE.match(c)]
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 codes: {bad}")
        return out

    @field_validator("measures")
    @classmethod
    def _measures(cls, value: list[str]) -> list[str]:
        bad = [m for m in value if m not in MEASURES]
        if bad:
            raise ValueError(f"unknown measures {bad}; expected any of {list(MEASURES)}")
        return value

    @field_validator("min_severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        if value not in SEVERITIES:
            raise ValueError(f"unknown severity {value!r}; expected one of {list(SEVERITIES)}")
        return value

    @field_validator("directions")
    @classmethod
    def _directions(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if d not in DIRECTIONS]
        if bad:
            raise ValueError(f"unknown directions {bad}; expected any of {list(DIRECTIONS)}")
        return value


class _UrlChannel(_Strict):
    url: str = Field(max_length=2048)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value)


class WebhookChannel(_UrlChannel):
    """A Standard Webhooks receiver; ``secret`` (``whsec_`` + base64) is generated when omitted."""

    type: Literal["webhook"] = "webhook"
    secret: str | None = None

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_RE.match(value):
            raise ValueError("must be 'whsec_' followed by base64 of at least 16 bytes")
        return value


class SlackChannel(_UrlChannel):
    """A Slack incoming webhook; messages use Block Kit."""

    type: Literal["slack"] = "slack"


class TeamsChannel(_UrlChannel):
    """A Microsoft Teams Workflows webhook; messages are Adaptive Cards within Teams' size limit."""

    type: Literal["teams"] = "teams"


class AlertmanagerChannel(_UrlChannel):
    """A Prometheus Alertmanager: alerts are posted to ``<url>/api/v2/alerts``."""

    type: Literal["alertmanager"] = "alertmanager"


Channel = Annotated[
    WebhookChannel | SlackChannel | TeamsChannel | AlertmanagerChannel, Field(discriminator="type")
]
ChannelType = Literal["webhook", "slack", "teams", "alertmanager"]
CHANNEL_TYPES: tuple[str, ...] = ("webhook", "slack", "teams", "alertmanager")


class ImmediateDelivery(_Strict):
    """Each matching alert revision is sent as soon as it is handled."""

    mode: Literal["immediate"] = "immediate"


class DigestDelivery(_Strict):
    """One message per period listing the period's matching alerts, at a local time of an IANA zone."""

    mode: Literal["digest"] = "digest"
    frequency: Literal["daily", "weekly"] = "daily"
    at: time = time(8, 0)
    timezone: str = "UTC"
    weekday: int = Field(0, ge=0, le=6, description="0 = Monday; used when weekly.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as err:  # "America" is a directory
            raise ValueError(f"unknown IANA time zone {value!r}") from err
        return value

    @field_validator("at")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("must be a local time without offset (the zone is given by 'timezone')")
        return value


Delivery = Annotated[ImmediateDelivery | DigestDelivery, Field(discriminator="mode")]


class SubscriptionSpec(_Strict):
    """A subscription as a user writes it (POST body; PATCH bodies are merged into it)."""

    name: str = Field(min_length=1, max_length=200)
    filters: SubscriptionFilters = Field(default_factory=SubscriptionFilters)
    channel: Channel
    delivery: Delivery = Field(default_factory=ImmediateDelivery)
    enabled: bool = True
