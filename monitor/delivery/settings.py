"""Settings of the delivery stage: ``Settings.delivery`` (env ``MONITOR_DELIVERY__<FIELD>``)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

from pydantic import BaseModel, Field


class DeliverySettings(BaseModel):
    """Retries, isolation, the SSRF guard and the live stream.

    ``allow_private_networks`` lists the CIDRs that receivers may resolve to although they are
    loopback, link-local, private or metadata addresses (e.g. ``["10.0.0.0/8"]``); empty by default,
    so such URLs are refused when a subscription is created and again at each send.
    """

    retry_period_s: float = Field(24 * 3600.0, gt=0, description="Give up (dead-letter) after this long.")
    initial_backoff_s: float = Field(1.0, gt=0, description="Delay before the first retry.")
    max_backoff_s: float = Field(600.0, gt=0, description="Longest delay between two attempts.")
    backoff_multiplier: float = Field(2.0, ge=1.0)
    jitter: float = Field(0.2, ge=0.0, le=1.0, description="Each delay is spread by +/- this fraction.")
    max_retry_after_s: float = Field(3600.0, gt=0, description="A receiver's Retry-After is capped at this.")
    request_timeout_s: float = Field(10.0, gt=0, description="Timeout of one HTTP attempt.")
    per_subscription_concurrency: int = Field(4, ge=1, le=64, description="Parallel sends per subscription.")
    open_alerts_refresh_s: float = Field(
        1.0, gt=0, description="The open-alerts gauge is recounted at most this often while alerts arrive."
    )
    poll_interval_s: float = Field(
        1.0, gt=0, description="How often due retries are looked for in the store."
    )
    lease_s: float = Field(300.0, gt=0, description="How long a worker owns a delivery it has claimed.")
    digest_check_interval_s: float = Field(30.0, gt=0, description="How often due digests are looked for.")
    drain_timeout_s: float = Field(10.0, gt=0, description="How long stop() waits for in-flight sends.")
    allow_private_networks: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    public_base_url: str = Field("http://127.0.0.1:8080", description="Base of the links put in messages.")
    teams_max_bytes: int = Field(28_000, ge=1_000, description="Teams rejects larger messages (~28 KB).")
    digest_max_alerts: int = Field(50, ge=1, le=1000, description="Alerts listed in full in one digest.")
    sse_heartbeat_s: float = Field(15.0, gt=0, description="A comment line is sent after this much silence.")
    sse_poll_interval_s: float = Field(2.0, gt=0, description="Store polls for alerts of other workers.")
    sse_retry_ms: int = Field(2000, ge=0, description="The reconnection delay suggested to SSE clients.")
